/** Coloured status pills for jobs, Serve objects, nodes and registry aliases. */

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
