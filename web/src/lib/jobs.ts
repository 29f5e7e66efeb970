import type { JobStatus } from '../api/types';

export const ACTIVE_STATUSES: ReadonlySet<JobStatus> = new Set<JobStatus>(['PENDING', 'RUNNING']);

export function isActive(status: JobStatus): boolean {
  return ACTIVE_STATUSES.has(status);
}

export function jobPath(jobId: string): string {
  return `/training/jobs/${encodeURIComponent(jobId)}`;
}
