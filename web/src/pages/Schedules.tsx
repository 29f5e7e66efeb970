/**
 * Schedules: training runs that start by themselves (cron, interval, new data). The list with the
 * next fire and last outcome; admin keys run, pause, resume, delete and create schedules; the
 * selected schedule's run history pages through its runs and follows the active ones.
 */
import { useCallback, useEffect, useState, type ReactNode } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import type { Schedule, ScheduleRunPage } from '../api/types';
import { useAuth } from '../auth/context';
import { RunBadge } from '../components/Badges';
import { Card } from '../components/Card';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { DataTable } from '../components/DataTable';
import { EmptyState, ErrorState, Loading, Notice } from '../components/Feedback';
import { PageHeader } from '../components/Layout';
import { RunHistory } from '../components/RunHistory';
import { ScheduleForm } from '../components/ScheduleForm';
import { useNow } from '../hooks/useNow';
import { useResource } from '../hooks/useResource';
import { usePageTitle } from '../hooks/usePageTitle';
import { formatRelative, formatTime } from '../lib/format';
import { jobPath } from '../lib/jobs';
import { isRunSettling, schedulePath } from '../lib/schedules';

export const SCHEDULES_POLL_MS = 5000;
export const RUNS_PAGE_SIZE = 20;
/** setTimeout's longest delay; a next fire further away is looked at again after this. */
const MAX_TIMER_MS = 2_147_483_647;

const anyRunActive = (list: Schedule[]) => list.some((s) => isRunSettling(s.last_run));
const pageRunActive = (page: ScheduleRunPage) => page.runs.some(isRunSettling);

type Action = 'run' | 'pause' | 'resume';

function When({ epoch, now, fallback = '—' }: { epoch: number | null; now: number; fallback?: string }) {
  if (epoch == null) return <span className="muted">{fallback}</span>;
  return (
    <>
      <div>{formatRelative(epoch, now)}</div>
      <time className="cell-sub" dateTime={new Date(epoch * 1000).toISOString()}>
        {formatTime(epoch)}
      </time>
    </>
  );
}

interface TableProps {
  schedules: Schedule[];
  selected: string | undefined;
  now: number;
  admin: boolean;
  busy: string | null;
  onAction: (schedule: Schedule, action: Action) => void;
  onDelete: (schedule: Schedule) => void;
  onSelect: (schedule: Schedule) => void;
}

function ScheduleTable({ schedules, selected, now, admin, busy, onAction, onDelete, onSelect }: TableProps) {
  const columns = ['Schedule', 'Trigger', 'Next fire', 'Last run', 'State', admin ? <span className="sr-only">Actions</span> : null];
  return (
    <DataTable caption="Schedules" className="schedules-table" columns={columns}>
      {schedules.map((s) => {
        const isSelected = s.name === selected;
        const working = busy?.startsWith(`${s.name}:`) ?? false;
        return (
          // The whole row selects (a pointer convenience); the name link is the keyboard path.
          <tr
            key={s.name}
            className={isSelected ? 'row-selected row-link' : 'row-link'}
            data-schedule={s.name}
            onClick={(event) => {
              if (!(event.target instanceof Element && event.target.closest('a, button'))) onSelect(s);
            }}
          >
            <td>
              <Link to={schedulePath(s.name)} className="cell-main" aria-current={isSelected ? 'true' : undefined}>
                {s.name}
              </Link>
              <div className="cell-sub">
                {s.spec.config ?? 'inline config'} · {s.source === 'config' ? 'serve_config.yaml' : 'API'}
              </div>
            </td>
            <td>{s.description}</td>
            <td className="nowrap">
              <When epoch={s.paused ? null : s.next_fire} now={now} fallback={s.paused ? 'paused' : '—'} />
            </td>
            <td className="nowrap">
              {s.last_run ? (
                <>
                  <RunBadge run={s.last_run} />
                  <div className="cell-sub">{formatRelative(s.last_fire ?? s.last_run.scheduled_time, now)}</div>
                </>
              ) : (
                <span className="muted">never</span>
              )}
            </td>
            <td>{s.paused ? <span className="badge badge-wait">paused</span> : <span className="badge badge-ok">active</span>}</td>
            {admin ? (
              <td className="actions">
                <div className="row-actions">
                  <button type="button" className="btn btn-small" onClick={() => onAction(s, 'run')} disabled={working}>
                    Run now
                  </button>
                  {s.paused ? (
                    <button type="button" className="btn btn-small" onClick={() => onAction(s, 'resume')} disabled={working}>
                      Resume
                    </button>
                  ) : (
                    <button type="button" className="btn btn-small" onClick={() => onAction(s, 'pause')} disabled={working}>
                      Pause
                    </button>
                  )}
                  {s.source === 'api' ? (
                    <button type="button" className="btn btn-small" onClick={() => onDelete(s)} disabled={working}>
                      Delete
                    </button>
                  ) : null}
                </div>
              </td>
            ) : null}
          </tr>
        );
      })}
    </DataTable>
  );
}

export default function Schedules() {
  usePageTitle('Schedules');
  const { name } = useParams();
  const navigate = useNavigate();
  const { api, role } = useAuth();
  const admin = role === 'admin';
  const now = useNow();

  const fetchSchedules = useCallback((signal: AbortSignal) => api.schedules(signal), [api]);
  const schedules = useResource(fetchSchedules, { pollMs: SCHEDULES_POLL_MS, pollWhile: anyRunActive });
  const fetchConfigs = useCallback((signal: AbortSignal) => api.configs(signal), [api]);
  const configs = useResource(fetchConfigs, { enabled: admin });

  const list = schedules.data ?? [];
  const selected = name ? list.find((s) => s.name === name) : list[0];
  const selectedName = selected?.name;

  // The page offset belongs to one schedule: choosing another starts at its newest runs.
  const [paging, setPaging] = useState({ name: '', offset: 0 });
  const offset = paging.name === selectedName ? paging.offset : 0;
  const fetchRuns = useCallback(
    (signal: AbortSignal) => api.scheduleRuns(selectedName ?? '', { limit: RUNS_PAGE_SIZE, offset }, signal),
    [api, selectedName, offset],
  );
  const runs = useResource(fetchRuns, { pollMs: SCHEDULES_POLL_MS, pollWhile: pageRunActive, enabled: Boolean(selectedName) });

  // Nothing polls while every schedule is idle: look again when the soonest fire is due.
  const soonest = list.reduce<number | null>((min, s) => (s.paused || s.next_fire == null ? min : Math.min(min ?? Infinity, s.next_fire)), null);
  const reloadSchedules = schedules.reload;
  useEffect(() => {
    if (soonest == null) return undefined;
    // An overdue fire (the scheduler is behind or down) is looked at on the polling beat, not in a loop.
    const due = soonest * 1000 - Date.now();
    const delay = due > 0 ? Math.min(due + 1000, MAX_TIMER_MS) : SCHEDULES_POLL_MS;
    const timer = setTimeout(reloadSchedules, delay);
    return () => clearTimeout(timer);
  }, [soonest, reloadSchedules]);

  // The list saw a newer run (or a new state of it) than the history shows: fetch the history.
  const lastRun = selected?.last_run;
  const newest = runs.data?.runs[0];
  const historyBehind = Boolean(lastRun && runs.data && offset === 0 && (newest?.id !== lastRun.id || newest.status !== lastRun.status));
  const reloadRuns = runs.reload;
  useEffect(() => {
    if (historyBehind) reloadRuns();
  }, [historyBehind, reloadRuns]);

  const [busy, setBusy] = useState<string | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [notice, setNotice] = useState<ReactNode>(null);
  const [deleting, setDeleting] = useState<Schedule | null>(null);

  const act = async (schedule: Schedule, action: Action) => {
    setBusy(`${schedule.name}:${action}`);
    setActionError(null);
    setNotice(null);
    try {
      if (action === 'run') {
        const run = await api.runSchedule(schedule.name);
        // Show the history the new run lands in.
        if (schedule.name !== name) void navigate(schedulePath(schedule.name));
        setNotice(
          <>
            Started run {run.id} of <strong>{schedule.name}</strong> as Ray job{' '}
            <Link to={jobPath(run.submission_id)} className="mono">
              {run.submission_id}
            </Link>
            .
          </>,
        );
      } else if (action === 'pause') {
        await api.pauseSchedule(schedule.name);
      } else {
        await api.resumeSchedule(schedule.name);
      }
      schedules.reload();
      if (schedule.name === selectedName) runs.reload();
    } catch (err) {
      setActionError(err);
    } finally {
      setBusy(null);
    }
  };

  const confirmDelete = async () => {
    if (!deleting) return;
    await api.deleteSchedule(deleting.name);
    setNotice(
      <>
        Deleted schedule <strong>{deleting.name}</strong>.
      </>,
    );
    if (deleting.name === name) void navigate('/schedules');
    setDeleting(null);
    schedules.reload();
  };

  const created = (schedule: Schedule) => {
    setNotice(
      <>
        Created schedule <strong>{schedule.name}</strong>: {schedule.description}.
      </>,
    );
    schedules.reload();
    void navigate(schedulePath(schedule.name));
  };

  return (
    <div className="page">
      <PageHeader
        title="Schedules"
        subtitle="Training runs that start by themselves: on a cron, at an interval, or when the data changes."
      />
      {!admin ? (
        <Notice kind="info">
          Your API key has the <strong>predict</strong> role: you can follow schedules and their runs. Creating, running,
          pausing and deleting them needs an admin key.
        </Notice>
      ) : null}
      {notice ? <Notice kind="success">{notice}</Notice> : null}

      <Card id="schedules-h" title="All schedules">
        {schedules.loading ? <Loading label="Loading schedules…" /> : null}
        {schedules.error ? (
          <ErrorState error={schedules.error} onRetry={schedules.reload} what="schedules" compact={Boolean(schedules.data)} />
        ) : null}
        {actionError ? <ErrorState error={actionError} compact /> : null}
        {schedules.data && list.length === 0 ? (
          <EmptyState title="No schedule yet.">
            {admin ? 'Create one with the form below, or declare one under args.schedules in serve_config.yaml.' : 'An admin can create one.'}
          </EmptyState>
        ) : null}
        {list.length ? (
          <ScheduleTable
            schedules={list}
            selected={selectedName}
            now={now}
            admin={admin}
            busy={busy}
            onAction={(s, action) => void act(s, action)}
            onDelete={setDeleting}
            onSelect={(s) => {
              if (s.name !== name) void navigate(schedulePath(s.name));
            }}
          />
        ) : null}
      </Card>

      {name && schedules.data && !selected ? <ErrorState error={new Error(`No schedule is named "${name}".`)} /> : null}
      {selected ? (
        <section className="card" aria-labelledby="runs-h">
          <div className="card-head">
            <div>
              <h2 id="runs-h" className="card-title">
                Run history of {selected.name}
              </h2>
              <p className="muted small">{selected.description}</p>
            </div>
          </div>
          {runs.loading ? <Loading label="Loading runs…" /> : null}
          {runs.error ? <ErrorState error={runs.error} onRetry={runs.reload} what="the run history" compact /> : null}
          {runs.data && runs.data.total === 0 ? <EmptyState title="No run yet.">The first one starts at the next fire.</EmptyState> : null}
          {runs.data && runs.data.total > 0 ? (
            <RunHistory
              schedule={selected.name}
              runs={runs.data.runs}
              total={runs.data.total}
              offset={offset}
              limit={RUNS_PAGE_SIZE}
              onPage={(next) => setPaging({ name: selected.name, offset: next })}
            />
          ) : null}
        </section>
      ) : null}

      {admin ? (
        <Card id="new-schedule-h" title="New schedule">
          <ScheduleForm configs={configs} onCreated={created} />
        </Card>
      ) : null}

      {deleting ? (
        <ConfirmDialog title={`Delete schedule ${deleting.name}?`} onConfirm={confirmDelete} onCancel={() => setDeleting(null)} danger>
          <p>
            <strong>{deleting.name}</strong> starts no more runs. Runs already started keep going; their Ray jobs and MLflow
            runs stay.
          </p>
        </ConfirmDialog>
      ) : null}
    </div>
  );
}
