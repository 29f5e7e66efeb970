import { Link } from 'react-router-dom';
import type { Job } from '../api/types';
import { formatTime, jobDuration } from '../lib/format';
import { jobPath } from '../lib/jobs';
import { StatusBadge } from './Badges';
import { DataTable } from './DataTable';

const KIND_LABEL: Record<string, string> = {
  train: 'train',
  benchmark: 'benchmark',
  batch_predict: 'batch predict',
  other: 'other',
};

/**
 * Recent Ray jobs; each row opens the live job view. `compact` drops the Kind and Started columns
 * (kind goes under the name) for narrow cards. Long names and ids are cut by the `.jobs-table`
 * styles (full text in the title) so the Open column always stays in view.
 */
export function JobsTable({ jobs, caption, compact = false }: { jobs: Job[]; caption: string; compact?: boolean }) {
  const columns = ['Job', compact ? null : 'Kind', 'Status', compact ? null : 'Started', 'Duration', <span className="sr-only">Actions</span>];
  return (
    <DataTable caption={caption} className="jobs-table" columns={columns}>
      {jobs.map((job) => (
        <tr key={job.job_id}>
          <td className="cell-job">
            <div className="cell-main" title={job.entrypoint ? `${job.name || job.job_id}\n${job.entrypoint}` : job.name || job.job_id}>
              {job.name || job.job_id}
            </div>
            <div className="cell-sub" title={job.job_id}>
              {compact ? `${KIND_LABEL[job.kind] ?? job.kind} · ` : null}
              <span className="mono">{job.job_id}</span>
            </div>
          </td>
          {compact ? null : <td>{KIND_LABEL[job.kind] ?? job.kind}</td>}
          <td>
            <StatusBadge status={job.status} />
          </td>
          {compact ? null : <td className="nowrap">{formatTime(job.start_time)}</td>}
          <td className="nowrap">{jobDuration(job.start_time, job.end_time)}</td>
          <td className="actions">
            <Link to={jobPath(job.job_id)} className="btn btn-small">
              Open
            </Link>
          </td>
        </tr>
      ))}
    </DataTable>
  );
}
