/**
 * Coloured status pills for jobs, Serve objects, nodes, schedule runs, registry aliases,
 * monitoring verdicts and audit log outcomes.
 */
import type { ScheduleRun } from '../api/types';

const STATUS_TONE: Record<string, string> = {
  SUCCEEDED: 'ok',
  RUNNING: 'info',
  PENDING: 'wait',
  FAILED: 'bad',
  STOPPED: 'muted',
  HEALTHY: 'ok',
  READY: 'ok',
  ALIVE: 'ok',
  DEAD: 'bad',
  UPDATING: 'info',
  DEPLOYING: 'info',
  UPSCALING: 'info',
  DOWNSCALING: 'info',
  NOT_STARTED: 'wait',
  LOADING: 'wait',
  UNHEALTHY: 'bad',
  DEPLOY_FAILED: 'bad',
  DELETING: 'muted',
  FAILED_REGISTRATION: 'bad',
  PENDING_REGISTRATION: 'wait',
  // schedule runs: outcomes
  PROMOTED: 'ok',
  TRAINED: 'info',
  TIMEOUT: 'bad',
  SKIPPED: 'muted',
  // monitoring: drift verdicts and the live quality alarm
  DRIFT: 'bad',
  NO_DRIFT: 'ok',
  INSUFFICIENT_DATA: 'wait',
  NO_REFERENCE: 'muted',
  QUALITY_ALARM: 'bad',
  QUALITY_OK: 'ok',
  AWAITING_LABELS: 'wait',
  NOT_COMPARED: 'muted',
  // audit log outcomes (a failed action is FAILED above); denied = refused (403) or throttled (429)
  OK: 'ok',
  DENIED: 'wait',
};

export function StatusBadge({ status }: { status: string }) {
  const tone = STATUS_TONE[status.toUpperCase()] ?? 'muted';
  return <span className={`badge badge-${tone}`}>{status.replace(/_/g, ' ').toLowerCase()}</span>;
}

export function AliasBadge({ alias }: { alias: string }) {
  const tone = alias === 'champion' ? 'champion' : alias === 'challenger' ? 'challenger' : 'alias';
  return (
    <span className={`badge badge-${tone}`} data-alias={alias}>
      {alias === 'champion' ? '★ ' : ''}
      {alias}
    </span>
  );
}

/** A schedule run in one pill: its outcome once it has one (promoted, trained, ...), else its status. */
export function RunBadge({ run }: { run: Pick<ScheduleRun, 'status' | 'outcome'> }) {
  const label = run.outcome ?? run.status;
  const tone = STATUS_TONE[label.toUpperCase()] ?? 'muted';
  return (
    <span className={`badge badge-${tone}`} title={`status ${run.status}, outcome ${run.outcome ?? 'not yet known'}`}>
      {label}
    </span>
  );
}
