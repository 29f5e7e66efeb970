/** One Ray job, live: status, trial progress, best score, trials, log tail, result; Stop while it runs. */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import type { JobDetail, Trial } from '../api/types';
import { useApi } from '../auth/context';
import { AliasBadge, StatusBadge } from '../components/Badges';
import { Card } from '../components/Card';
import { Chart } from '../components/Chart';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { DataTable } from '../components/DataTable';
import { EmptyState, ErrorState, Loading, Notice } from '../components/Feedback';
import { PageHeader } from '../components/Layout';
import { ProgressBar } from '../components/ProgressBar';
import { useResource } from '../hooks/useResource';
import { usePageTitle } from '../hooks/usePageTitle';
import { formatDuration, formatScore, formatTime, formatValue, jobDuration } from '../lib/format';
import { isActive } from '../lib/jobs';

export const JOB_POLL_MS = 2000;
const LOG_TAIL = 200;

const stillRunning = (job: JobDetail) => isActive(job.status);

function formatParams(params: Record<string, unknown>): string {
  const entries = Object.entries(params);
  if (!entries.length) return 'defaults';
  return entries.map(([k, v]) => `${k}=${formatValue(v)}`).join(', ');
}

function TrialsChart({ trials }: { trials: Trial[] }) {
  const chart = useMemo(() => {
    const sorted = [...trials].sort((a, b) => a.trial - b.trial);
    const bestSoFar: number[] = [];
    for (const t of sorted) bestSoFar.push(Math.max(bestSoFar[bestSoFar.length - 1] ?? -Infinity, t.score));
    return {
      x: sorted.map((t) => t.trial),
      series: [
        { label: 'score', color: '#4f46e5', values: sorted.map((t) => t.score), kind: 'points' as const },
        { label: 'best so far', color: '#059669', values: bestSoFar, kind: 'line' as const },
      ],
    };
  }, [trials]);
  return <Chart title="Trial scores" x={chart.x} series={chart.series} xLabel="trial" emptyText="No finished trial yet." />;
}

function TrialsTable({ trials, metric }: { trials: Trial[]; metric: string }) {
  const bestScore = trials.reduce((m, t) => Math.max(m, t.score), -Infinity);
  const rows = [...trials].sort((a, b) => a.trial - b.trial);
  return (
    <DataTable caption="Trials" columns={['Trial', 'Family', 'Parameters', `${metric || 'Score'} (CV)`, 'Fit time', 'Status']}>
      {rows.map((t) => (
        <tr key={t.trial} className={t.score === bestScore ? 'row-best' : undefined}>
          <td>#{t.trial}</td>
          <td className="cell-main">{t.family}</td>
          <td className="mono small params">{formatParams(t.params)}</td>
          <td className="nowrap">
            {formatScore(t.score)} <span className="muted small">± {formatScore(t.score_std)}</span>
            {t.score === bestScore ? <span className="badge badge-ok badge-inline">best</span> : null}
          </td>
          <td className="nowrap">{formatDuration(t.fit_time_s)}</td>
          <td>{t.status}</td>
        </tr>
      ))}
    </DataTable>
  );
}

function LogTail({ logs }: { logs: string }) {
  const pre = useRef<HTMLPreElement>(null);
  // Follow the tail unless the reader scrolled up to read something.
  const following = useRef(true);
  useEffect(() => {
    const el = pre.current;
    if (el && following.current) el.scrollTop = el.scrollHeight;
  }, [logs]);
  const onScroll = () => {
    const el = pre.current;
    if (el) following.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  };
  return (
    <pre ref={pre} className="logs" tabIndex={0} aria-label="Job log" onScroll={onScroll}>
      {logs || 'No output yet.'}
    </pre>
  );
}

export default function JobView() {
  const { jobId = '' } = useParams();
  usePageTitle(`Job ${jobId}`);
  const api = useApi();
  const fetchJob = useCallback((signal: AbortSignal) => api.job(jobId, signal), [api, jobId]);
  const job = useResource(fetchJob, { pollMs: JOB_POLL_MS, pollWhile: stillRunning });
  const running = job.data ? isActive(job.data.status) : true;
  const fetchLogs = useCallback((signal: AbortSignal) => api.jobLogs(jobId, LOG_TAIL, signal), [api, jobId]);
  // While the job runs the log is polled; when it ends the poll interval changes, which
  // triggers one last fetch for the final lines.
  const logs = useResource(fetchLogs, { pollMs: running ? JOB_POLL_MS : null });
  const [confirmStop, setConfirmStop] = useState(false);
  const [stopNote, setStopNote] = useState<string | null>(null);
  const reloadJob = job.reload;

  const stop = async () => {
    const { stopped } = await api.stopJob(jobId);
    setConfirmStop(false);
    setStopNote(stopped ? 'Stop requested. The job ends after its running trials are cancelled.' : 'The job had already finished.');
    reloadJob();
  };

  const d = job.data;
  return (
    <div className="page">
      <p className="crumbs">
        <Link to="/training">← All jobs</Link>
      </p>
      <PageHeader
        title={d?.name || `Job ${jobId}`}
        subtitle={d ? `${d.kind} job · ${d.job_id}` : jobId}
        actions={
          d && isActive(d.status) ? (
            <button type="button" className="btn btn-danger" onClick={() => setConfirmStop(true)}>
              Stop
            </button>
          ) : null
        }
      />
      {job.loading ? <Loading label="Loading the job…" /> : null}
      {job.error ? <ErrorState error={job.error} onRetry={job.reload} what="the job" compact={Boolean(d)} /> : null}
      {stopNote ? <Notice kind="info">{stopNote}</Notice> : null}

      {d ? (
        <>
          <Card id="status-h" title="Status" hideTitle>
            <div className="job-status">
              <div>
                <span className="stat-label">Status</span>
                <span className="status-line">
                  <StatusBadge status={d.status} />
                  {isActive(d.status) ? <span className="live-dot" title="Updating every 2 seconds" aria-hidden="true" /> : null}
                </span>
              </div>
              <div>
                <span className="stat-label">Started</span>
                <span>{formatTime(d.start_time)}</span>
              </div>
              <div>
                <span className="stat-label">Duration</span>
                <span>{jobDuration(d.start_time, d.end_time)}</span>
              </div>
              <div>
                <span className="stat-label">Best score so far</span>
                <span className="stat-value small-value" data-testid="best-score">
                  {formatScore(d.progress?.best_score)}
                  {d.progress?.metric ? <span className="stat-unit"> {d.progress.metric}</span> : null}
                </span>
              </div>
              {d.mlflow_run_url ? (
                <div>
                  <span className="stat-label">Tracking</span>
                  <a href={d.mlflow_run_url} target="_blank" rel="noopener noreferrer">
                    MLflow run ↗
                  </a>
                </div>
              ) : null}
            </div>
            {d.progress ? (
              <ProgressBar
                label="Trials done"
                value={d.progress.trials_done}
                max={d.progress.trials_total}
                text={`${d.progress.trials_done} / ${d.progress.trials_total} trials`}
              />
            ) : null}
            {d.message ? <p className="muted small job-message">{d.message}</p> : null}
            <p className="muted small mono entrypoint">{d.entrypoint}</p>
          </Card>

          {d.result ? (
            <Card id="result-h" title={`Registered ${d.result.model} version ${d.result.version}`} className="result">
              <div className="badges">
                {d.result.aliases.map((a) => (
                  <AliasBadge key={a} alias={a} />
                ))}
              </div>
              <dl className="facts">
                {Object.entries(d.result.test_metrics).map(([k, v]) => (
                  <div key={k}>
                    <dt>test {k}</dt>
                    <dd>{formatScore(v)}</dd>
                  </div>
                ))}
              </dl>
              <Link to={`/models/${encodeURIComponent(d.result.model)}`}>View in the registry →</Link>
            </Card>
          ) : null}

          <div className="two-col">
            <Card id="chart-h" title="Trial scores" hideTitle>
              <TrialsChart trials={d.trials} />
            </Card>
            <Card id="log-h" title={`Log (last ${LOG_TAIL} lines)`}>
              {logs.error ? <ErrorState error={logs.error} onRetry={logs.reload} what="the log" compact /> : null}
              {logs.loading ? <Loading label="Loading the log…" /> : <LogTail logs={logs.data ?? ''} />}
            </Card>
          </div>

          <Card id="trials-h" title="Trials">
            {d.trials.length ? (
              <TrialsTable trials={d.trials} metric={d.progress?.metric ?? ''} />
            ) : (
              <EmptyState title={isActive(d.status) ? 'Waiting for the first trial…' : 'This job reported no trials.'} />
            )}
          </Card>
        </>
      ) : null}

      {confirmStop ? (
        <ConfirmDialog title="Stop this job?" danger onConfirm={stop} onCancel={() => setConfirmStop(false)}>
          <p>
            Stopping <strong>{d?.name || jobId}</strong> cancels its running trials. Its MLflow run is marked FAILED and no
            model is registered.
          </p>
        </ConfirmDialog>
      ) : null}
    </div>
  );
}
