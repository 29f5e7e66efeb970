/** One page of a schedule's runs, newest first: when, why, how it ended, and links to the job and run. */
import { Link } from 'react-router-dom';
import type { ScheduleRun } from '../api/types';
import { formatClock, formatScore, formatTime } from '../lib/format';
import { jobPath } from '../lib/jobs';
import { TRIGGER_LABEL } from '../lib/schedules';
import { RunBadge } from './Badges';
import { DataTable } from './DataTable';

function Score({ run }: { run: ScheduleRun }) {
  if (run.score == null) return <span className="muted">—</span>;
  return (
    <>
      <span className="cell-main">{formatScore(run.score)}</span> {run.metric ? <span className="muted small">{run.metric}</span> : null}
      <div className="cell-sub">vs {formatScore(run.champion_score)} champion</div>
    </>
  );
}

/** Start and end of a run: the time of day when on the scheduled day, the full date otherwise. */
function Moment({ epoch, day }: { epoch: number | null; day: number }) {
  if (epoch == null) return <span className="muted">—</span>;
  const sameDay = new Date(epoch * 1000).toDateString() === new Date(day * 1000).toDateString();
  return <span title={formatTime(epoch)}>{sameDay ? formatClock(epoch) : formatTime(epoch)}</span>;
}

const COLUMNS = ['Scheduled', 'Started', 'Ended', 'Trigger', 'Result', 'Model', 'Score', <span className="sr-only">Links</span>];

interface Props {
  schedule: string;
  runs: ScheduleRun[];
  total: number;
  offset: number;
  limit: number;
  onPage: (offset: number) => void;
}

export function RunHistory({ schedule, runs, total, offset, limit, onPage }: Props) {
  const first = total ? offset + 1 : 0;
  const last = Math.min(offset + runs.length, total);
  return (
    <>
      <DataTable caption={`Runs of ${schedule}`} className="runs-table" columns={COLUMNS}>
        {runs.map((run) => (
          <tr key={run.id} data-run={run.id}>
            <td className="nowrap">{formatTime(run.scheduled_time)}</td>
            <td className="nowrap">
              <Moment epoch={run.started_at} day={run.scheduled_time} />
            </td>
            <td className="nowrap">
              <Moment epoch={run.ended_at} day={run.scheduled_time} />
            </td>
            <td className="nowrap">
              {TRIGGER_LABEL[run.trigger] ?? run.trigger}
              <div className="cell-sub">{run.attempt === 0 ? 'first try' : `retry ${run.attempt}`}</div>
            </td>
            <td className="run-result">
              <RunBadge run={run} />
              {run.error ? (
                <div className="run-error">
                  {run.step ? <>at {run.step}: </> : null}
                  {run.error}
                </div>
              ) : null}
            </td>
            <td className="nowrap">{run.model ? `${run.model} v${run.version ?? '?'}` : <span className="muted">—</span>}</td>
            <td className="nowrap">
              <Score run={run} />
            </td>
            <td className="actions nowrap">
              {run.status === 'skipped' ? null : (
                <Link to={jobPath(run.submission_id)} className="btn btn-small" title={`Ray job ${run.submission_id}`}>
                  Job
                </Link>
              )}
              {run.mlflow_run_url ? (
                <a className="btn btn-small" href={run.mlflow_run_url} target="_blank" rel="noopener noreferrer" title="The run in MLflow (new tab)">
                  MLflow run ↗
                </a>
              ) : null}
            </td>
          </tr>
        ))}
      </DataTable>
      <div className="pager">
        <span className="muted small" aria-live="polite">
          Runs {first}–{last} of {total}
        </span>
        <button type="button" className="btn btn-small" onClick={() => onPage(Math.max(0, offset - limit))} disabled={offset === 0}>
          Newer runs
        </button>
        <button type="button" className="btn btn-small" onClick={() => onPage(offset + limit)} disabled={offset + limit >= total}>
          Older runs
        </button>
      </div>
    </>
  );
}
