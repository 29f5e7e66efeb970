/**
 * Dashboard: Ray cluster, Serve application, live traffic charts, the next scheduled runs and
 * recent failed ones, and recent jobs (polls every 5 s).
 */
import { useCallback, useMemo, type ReactNode } from 'react';
import { Link } from 'react-router-dom';
import { ApiError } from '../api/client';
import type { ClusterInfo, Schedule, ScheduleRun, ServeApplication, TimeSeries } from '../api/types';
import { useApi } from '../auth/context';
import { RunBadge, StatusBadge } from '../components/Badges';
import { Card } from '../components/Card';
import { Chart } from '../components/Chart';
import { DataTable } from '../components/DataTable';
import { EmptyState, ErrorState, Loading } from '../components/Feedback';
import { JobsTable } from '../components/JobsTable';
import { PageHeader } from '../components/Layout';
import { Gauge } from '../components/ProgressBar';
import { useNow } from '../hooks/useNow';
import { useResource, type Resource } from '../hooks/useResource';
import { usePageTitle } from '../hooks/usePageTitle';
import { formatBytes, formatMs, formatNumber, formatRelative, formatTime } from '../lib/format';
import { isRunFailed, schedulePath, upcoming } from '../lib/schedules';

export const DASHBOARD_POLL_MS = 5000;
const WINDOW_MINUTES = 10;
const UPCOMING_COUNT = 5;
const RECENT_RUNS = 20;

/** An ingress without the scheduler (an older server, or none configured) answers 404. */
function notServed(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404;
}

function ExternalLinks({ links }: { links: ClusterInfo['links'] | undefined }) {
  if (!links) return null;
  return (
    <>
      {links.ray_dashboard ? (
        <a className="btn" href={links.ray_dashboard} target="_blank" rel="noopener noreferrer" title="Ray dashboard: cluster, jobs, actors and logs">
          Ray UI ↗
        </a>
      ) : null}
      {links.mlflow ? (
        <a className="btn" href={links.mlflow} target="_blank" rel="noopener noreferrer" title="MLflow: experiments, runs and the model registry">
          MLflow UI ↗
        </a>
      ) : null}
    </>
  );
}

/** A stat card gauging used against total bytes. */
function BytesGauge({ label, used, total }: { label: string; used: number; total: number }) {
  return (
    <div className="card stat">
      <Gauge label={label} used={used} total={total} text={`${formatBytes(used)} / ${formatBytes(total)}`} />
    </div>
  );
}

function ClusterSummary({ cluster }: { cluster: ClusterInfo }) {
  const { totals, nodes } = cluster;
  const alive = nodes.filter((n) => n.alive).length;
  return (
    <div className="stat-grid">
      <div className="card stat">
        <span className="stat-label">Nodes</span>
        <span className="stat-value">
          {alive}
          <span className="stat-unit"> / {nodes.length} alive</span>
        </span>
      </div>
      <div className="card stat">
        <Gauge
          label="CPUs"
          used={totals.cpus_used}
          total={totals.cpus_total}
          text={`${formatNumber(totals.cpus_used, 1)} / ${formatNumber(totals.cpus_total, 1)} used`}
        />
      </div>
      <BytesGauge label="Memory" used={totals.memory_used_bytes} total={totals.memory_total_bytes} />
      <BytesGauge label="Object store" used={totals.object_store_used_bytes} total={totals.object_store_total_bytes} />
    </div>
  );
}

function ServeApps({ applications }: { applications: ServeApplication[] }) {
  if (applications.length === 0) {
    return (
      <EmptyState title="No Serve application is running.">
        Deploy one with <code>serve deploy serve_config.yaml</code>.
      </EmptyState>
    );
  }
  return (
    <div className="stack">
      {applications.map((app) => (
        <div key={app.name} className="serve-app">
          <div className="serve-app-head">
            <strong>{app.name}</strong> <StatusBadge status={app.status} />
            {app.message ? <p className="muted small">{app.message}</p> : null}
          </div>
          {app.deployments.length ? (
            <DataTable caption={`Deployments of ${app.name}`} columns={['Deployment', 'Status', 'Replicas', 'Message']}>
              {app.deployments.map((d) => (
                <tr key={d.name}>
                  <td className="cell-main">{d.name}</td>
                  <td>
                    <StatusBadge status={d.status} />
                  </td>
                  <td className="nowrap">
                    {d.replicas_running} / {d.replicas_target}
                  </td>
                  <td className="muted small">{d.message || '—'}</td>
                </tr>
              ))}
            </DataTable>
          ) : (
            <p className="muted small">No deployments.</p>
          )}
        </div>
      ))}
    </div>
  );
}

function NodesTable({ cluster }: { cluster: ClusterInfo }) {
  return (
    <DataTable caption="Ray nodes" columns={['Node', 'State', 'CPUs', 'Memory', 'Object store']}>
      {cluster.nodes.map((n) => (
        <tr key={n.node_id}>
          <td>
            <div className="cell-main">{n.address}</div>
            <div className="cell-sub mono" title={n.node_id}>
              {n.node_id.slice(0, 12)}
            </div>
          </td>
          <td>
            <StatusBadge status={n.alive ? 'ALIVE' : 'DEAD'} />
          </td>
          <td className="nowrap">
            {formatNumber(n.cpus_used, 1)} / {formatNumber(n.cpus_total, 1)}
          </td>
          <td className="nowrap">
            {formatBytes(n.memory_used_bytes)} / {formatBytes(n.memory_total_bytes)}
          </td>
          <td className="nowrap">
            {formatBytes(n.object_store_used_bytes)} / {formatBytes(n.object_store_total_bytes)}
          </td>
        </tr>
      ))}
    </DataTable>
  );
}

function Traffic({ series }: { series: TimeSeries }) {
  const charts = useMemo(() => {
    const x = series.points.map((p) => p.t);
    return {
      x,
      rate: [{ label: 'requests/s', color: '#4f46e5', values: series.points.map((p) => p.requests_per_s) }],
      latency: [
        { label: 'p50', color: '#0891b2', values: series.points.map((p) => p.p50_ms) },
        { label: 'p99', color: '#d97706', values: series.points.map((p) => p.p99_ms) },
      ],
      errors: [{ label: 'errors/s', color: '#dc2626', values: series.points.map((p) => p.errors_per_s) }],
    };
  }, [series]);
  const { totals } = series;
  const errorRate = totals.requests ? (totals.errors / totals.requests) * 100 : 0;
  return (
    <>
      <p className="muted small">
        Last {WINDOW_MINUTES} minutes: <strong>{formatNumber(totals.requests)}</strong> requests,{' '}
        <strong>{formatNumber(totals.errors)}</strong> errors ({errorRate.toFixed(errorRate < 1 && errorRate > 0 ? 2 : 1)}%).
      </p>
      <div className="chart-grid">
        <Chart title="Request rate" x={charts.x} series={charts.rate} xKind="time" unit="req/s" yFromZero emptyText="No requests in this window yet." />
        <Chart title="Latency p50 / p99" x={charts.x} series={charts.latency} xKind="time" unit="ms" yFromZero emptyText="No requests in this window yet." />
        <Chart title="Error rate" x={charts.x} series={charts.errors} xKind="time" unit="err/s" yFromZero emptyText="No requests in this window yet." />
      </div>
      {series.by_model.length ? (
        <DataTable caption="Traffic by model version" columns={['Model', 'Version', 'Requests', 'Errors', 'p50', 'p99']}>
          {series.by_model.map((m) => (
            <tr key={`${m.model}@${m.version}`}>
              <td className="cell-main">{m.model}</td>
              <td>v{m.version}</td>
              <td>{formatNumber(m.requests)}</td>
              <td>{formatNumber(m.errors)}</td>
              <td>{formatMs(m.p50_ms)}</td>
              <td>{formatMs(m.p99_ms)}</td>
            </tr>
          ))}
        </DataTable>
      ) : null}
    </>
  );
}

/** One line of the schedule overview: the schedule's link, a note beside it and a detail line below. */
function OverviewItem({ schedule, note, children }: { schedule: string; note: ReactNode; children: ReactNode }) {
  return (
    <li>
      <Link to={schedulePath(schedule)} className="cell-main">
        {schedule}
      </Link>{' '}
      {note}
      <div className="cell-sub">{children}</div>
    </li>
  );
}

function ScheduleOverview({ schedules, runs }: { schedules: Schedule[]; runs: Resource<ScheduleRun[]> }) {
  const now = useNow();
  const next = upcoming(schedules, UPCOMING_COUNT);
  const failed = (runs.data ?? []).filter(isRunFailed);
  return (
    <div className="two-col">
      <div>
        <h3 className="subhead">Next runs</h3>
        {next.length ? (
          <ul className="plain-list" aria-label="Next scheduled runs">
            {next.map((s) => (
              <OverviewItem key={s.name} schedule={s.name} note={<span className="muted small">{s.description}</span>}>
                {formatRelative(s.next_fire, now)} · {formatTime(s.next_fire)}
              </OverviewItem>
            ))}
          </ul>
        ) : (
          <p className="muted small">{schedules.length ? 'No schedule is waiting for a time (paused, or triggered by new data).' : 'No schedule yet.'}</p>
        )}
      </div>
      <div>
        <h3 className="subhead">Failed runs</h3>
        {runs.error && !notServed(runs.error) ? <ErrorState error={runs.error} onRetry={runs.reload} what="recent runs" compact /> : null}
        {failed.length ? (
          <ul className="plain-list" aria-label="Recent failed runs">
            {failed.map((run) => (
              <OverviewItem key={run.id} schedule={run.schedule} note={<RunBadge run={run} />}>
                {formatTime(run.ended_at ?? run.scheduled_time)}
                {run.step ? ` · at ${run.step}` : ''}
                {run.error ? `: ${run.error}` : ''}
              </OverviewItem>
            ))}
          </ul>
        ) : runs.data ? (
          <p className="muted small">None among the last {RECENT_RUNS} runs.</p>
        ) : null}
      </div>
    </div>
  );
}

export default function Dashboard() {
  usePageTitle('Dashboard');
  const api = useApi();
  const fetchCluster = useCallback((signal: AbortSignal) => api.cluster(signal), [api]);
  const fetchSeries = useCallback((signal: AbortSignal) => api.timeseries(WINDOW_MINUTES, signal), [api]);
  const cluster = useResource(fetchCluster, { pollMs: DASHBOARD_POLL_MS });
  const series = useResource(fetchSeries, { pollMs: DASHBOARD_POLL_MS });
  const fetchSchedules = useCallback((signal: AbortSignal) => api.schedules(signal), [api]);
  const fetchRuns = useCallback((signal: AbortSignal) => api.recentScheduleRuns(RECENT_RUNS, signal), [api]);
  const schedules = useResource(fetchSchedules, { pollMs: DASHBOARD_POLL_MS });
  const scheduleRuns = useResource(fetchRuns, { pollMs: DASHBOARD_POLL_MS });
  const info = cluster.data;

  return (
    <div className="page">
      <PageHeader
        title="Dashboard"
        subtitle="The Ray cluster, the Serve application and its traffic. Refreshes every 5 seconds."
        actions={<ExternalLinks links={info?.links} />}
      />

      {cluster.loading ? <Loading label="Loading the cluster state…" /> : null}
      {cluster.error ? <ErrorState error={cluster.error} onRetry={cluster.reload} what="the cluster state" compact={Boolean(info)} /> : null}

      {info ? (
        <>
          <section aria-labelledby="cluster-h">
            <h2 id="cluster-h" className="section-title">
              Ray cluster
            </h2>
            <ClusterSummary cluster={info} />
          </section>
        </>
      ) : null}

      <Card id="traffic-h" title="Prediction traffic">
        {series.loading ? <Loading label="Loading traffic metrics…" /> : null}
        {series.error ? <ErrorState error={series.error} onRetry={series.reload} what="traffic metrics" compact /> : null}
        {series.data ? <Traffic series={series.data} /> : null}
      </Card>

      {info ? (
        <div className="two-col">
          <Card id="serve-h" title="Serve applications">
            <ServeApps applications={info.serve.applications} />
          </Card>
          <Card id="nodes-h" title="Nodes">
            {info.nodes.length ? <NodesTable cluster={info} /> : <EmptyState title="No Ray nodes reported." />}
          </Card>
        </div>
      ) : null}

      {/* Shown once the server answered: an ingress without schedules (404) never shows the card. */}
      {schedules.data || (schedules.error && !notServed(schedules.error)) ? (
        <Card id="schedules-h" title="Schedules">
          {schedules.error ? <ErrorState error={schedules.error} onRetry={schedules.reload} what="schedules" compact /> : null}
          {schedules.data ? <ScheduleOverview schedules={schedules.data} runs={scheduleRuns} /> : null}
        </Card>
      ) : null}

      {info ? (
        <Card id="jobs-h" title="Recent jobs">
          {info.jobs.length ? (
            <JobsTable jobs={info.jobs} caption="Recent Ray jobs" />
          ) : (
            <EmptyState title="No jobs yet.">Start one from the Training page.</EmptyState>
          )}
        </Card>
      ) : null}
    </div>
  );
}
