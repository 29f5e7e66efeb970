import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Schedule, ScheduleRun } from '../api/types';
import type { Routes } from '../test/api';
import { configs, failedRun, hourly, nightly, NOW, onNewData, scheduleRun } from '../test/fixtures';
import { advance, renderPage } from '../test/render';
import { formatClock, formatTime } from '../lib/format';
import Schedules, { RUNS_PAGE_SIZE, SCHEDULES_POLL_MS } from './Schedules';

function routes(extra: Routes = {}): Routes {
  return {
    'GET /v1/schedules': { body: { schedules: [nightly, hourly, onNewData] } },
    'GET /v1/configs': { body: { configs } },
    'GET /v1/schedules/nightly-iris/runs': { body: { runs: [scheduleRun()], total: 1 } },
    'GET /v1/schedules/hourly-wine/runs': { body: { runs: [failedRun], total: 1 } },
    'GET /v1/schedules/houses-on-data/runs': { body: { runs: [], total: 0 } },
    ...extra,
  };
}

function renderSchedules(options: { extra?: Routes; path?: string; role?: 'admin' | 'predict' } = {}) {
  return renderPage(<Schedules />, {
    path: options.path ?? '/schedules',
    pattern: '/schedules/:name?',
    routes: routes(options.extra),
    role: options.role ?? 'admin',
  });
}

async function scheduleRow(name: string) {
  const table = await screen.findByRole('table', { name: 'Schedules' });
  return within(table).getByRole('row', { name: new RegExp(name) });
}

describe('Schedules', () => {
  beforeEach(() => {
    // Only Date is faked: "in 1 h" is read against the fixtures' clock; timers stay real.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW * 1000);
  });

  it('lists each schedule with its trigger in words, next fire and last outcome', async () => {
    renderSchedules();
    const row = await scheduleRow('nightly-iris');
    expect(row).toHaveTextContent('every day at 02:00 UTC');
    expect(row).toHaveTextContent('in 1 h');
    expect(row).toHaveTextContent(formatTime(NOW + 3600));
    expect(within(row).getByText('promoted')).toHaveClass('badge-ok');
    expect(row).toHaveTextContent('active');

    const wine = await scheduleRow('hourly-wine');
    expect(wine).toHaveTextContent('in 10 min');
    expect(wine).toHaveTextContent('serve_config.yaml');
    expect(within(wine).getByText('failed')).toHaveClass('badge-bad');

    const data = await scheduleRow('houses-on-data');
    expect(data).toHaveTextContent('when s3://data/houses/ changes');
    expect(data).toHaveTextContent('never');
    expect(within(data).getByText('paused', { selector: '.badge' })).toBeInTheDocument();
  });

  it('runs a schedule now and links the new run to its job', async () => {
    const user = userEvent.setup();
    const started = scheduleRun({ id: 12, submission_id: 'nightly-iris-manual-20250615020000', trigger: 'manual', status: 'pending', outcome: null });
    const { ingress } = renderSchedules({ extra: { 'POST /v1/schedules/nightly-iris/run': { status: 202, body: started } } });
    const row = await scheduleRow('nightly-iris');
    const listCalls = ingress.callsTo('GET', '/v1/schedules').length;

    await user.click(within(row).getByRole('button', { name: 'Run now' }));
    expect(ingress.callsTo('POST', '/v1/schedules/nightly-iris/run')).toHaveLength(1);
    const link = await screen.findByRole('link', { name: 'nightly-iris-manual-20250615020000' });
    expect(link).toHaveAttribute('href', '/training/jobs/nightly-iris-manual-20250615020000');
    expect(ingress.callsTo('GET', '/v1/schedules').length).toBeGreaterThan(listCalls);
  });

  it('shows why a run now was refused', async () => {
    const user = userEvent.setup();
    renderSchedules({
      extra: { 'POST /v1/schedules/hourly-wine/run': { status: 409, body: { detail: 'hourly-wine has a run in progress (concurrency: forbid)' } } },
    });
    await user.click(within(await scheduleRow('hourly-wine')).getByRole('button', { name: 'Run now' }));
    expect(await screen.findByText('hourly-wine has a run in progress (concurrency: forbid)')).toBeInTheDocument();
  });

  it('pauses and resumes a schedule', async () => {
    const user = userEvent.setup();
    let paused = false;
    const list = () => ({ body: { schedules: [{ ...nightly, paused, next_fire: paused ? null : nightly.next_fire }] } });
    const { ingress } = renderSchedules({
      extra: {
        'GET /v1/schedules': list,
        'POST /v1/schedules/nightly-iris/pause': () => {
          paused = true;
          return { body: { ...nightly, paused: true } };
        },
        'POST /v1/schedules/nightly-iris/resume': () => {
          paused = false;
          return { body: nightly };
        },
      },
    });

    await user.click(within(await scheduleRow('nightly-iris')).getByRole('button', { name: 'Pause' }));
    const resume = await within(await scheduleRow('nightly-iris')).findByRole('button', { name: 'Resume' });
    expect(ingress.callsTo('POST', '/v1/schedules/nightly-iris/pause')).toHaveLength(1);
    expect(await scheduleRow('nightly-iris')).toHaveTextContent('paused');
    expect(within(await scheduleRow('nightly-iris')).queryByRole('button', { name: 'Pause' })).not.toBeInTheDocument();

    await user.click(resume);
    await within(await scheduleRow('nightly-iris')).findByRole('button', { name: 'Pause' });
    expect(ingress.callsTo('POST', '/v1/schedules/nightly-iris/resume')).toHaveLength(1);
    expect(await scheduleRow('nightly-iris')).toHaveTextContent('in 1 h');
  });

  it('deletes an API schedule after confirmation; serve_config.yaml ones have no Delete', async () => {
    const user = userEvent.setup();
    let deleted = false;
    const { ingress } = renderSchedules({
      extra: {
        'GET /v1/schedules': () => ({ body: { schedules: deleted ? [hourly] : [nightly, hourly] } }),
        'DELETE /v1/schedules/nightly-iris': () => {
          deleted = true;
          return { body: { deleted: true } };
        },
      },
    });
    expect(within(await scheduleRow('hourly-wine')).queryByRole('button', { name: 'Delete' })).not.toBeInTheDocument();

    await user.click(within(await scheduleRow('nightly-iris')).getByRole('button', { name: 'Delete' }));
    const dialog = screen.getByRole('dialog', { name: 'Delete schedule nightly-iris?' });
    expect(ingress.callsTo('DELETE', '/v1/schedules/nightly-iris')).toHaveLength(0);
    await user.click(within(dialog).getByRole('button', { name: 'Confirm' }));
    expect(await screen.findByText(/Deleted schedule/)).toBeInTheDocument();
    expect(ingress.callsTo('DELETE', '/v1/schedules/nightly-iris')).toHaveLength(1);
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
    const table = screen.getByRole('table', { name: 'Schedules' });
    await waitFor(() => expect(within(table).queryByRole('row', { name: /nightly-iris/ })).not.toBeInTheDocument());
  });

  it('keeps the dialog open with the server detail when a delete is refused', async () => {
    const user = userEvent.setup();
    renderSchedules({
      extra: {
        'DELETE /v1/schedules/nightly-iris': {
          status: 409,
          body: { detail: 'schedule nightly-iris is declared in serve_config.yaml; edit serve_config.yaml to remove it' },
        },
      },
    });
    await user.click(within(await scheduleRow('nightly-iris')).getByRole('button', { name: 'Delete' }));
    const dialog = screen.getByRole('dialog');
    await user.click(within(dialog).getByRole('button', { name: 'Confirm' }));
    expect(await within(dialog).findByText(/edit serve_config.yaml to remove it/)).toBeInTheDocument();
  });

  it('creates a schedule from the form and selects it', async () => {
    const user = userEvent.setup();
    const created: Schedule = { ...nightly, name: 'wine-every-30m', description: 'every 30m', source: 'api', last_run: null };
    let list: Schedule[] = [nightly];
    const { ingress } = renderSchedules({
      extra: {
        'GET /v1/schedules': () => ({ body: { schedules: list } }),
        'POST /v1/schedules': () => {
          list = [nightly, created];
          return { status: 201, body: created };
        },
        'GET /v1/schedules/wine-every-30m/runs': { body: { runs: [], total: 0 } },
      },
    });
    await screen.findByRole('option', { name: 'diabetes' });
    await user.type(screen.getByLabelText('Schedule name'), 'wine-every-30m');
    await user.selectOptions(screen.getByLabelText('Training config'), 'diabetes');
    await user.selectOptions(screen.getByLabelText('Trigger'), 'every');
    expect(screen.queryByLabelText('Cron')).not.toBeInTheDocument();
    await user.clear(screen.getByLabelText('Every'));
    await user.type(screen.getByLabelText('Every'), '30m');
    await user.selectOptions(screen.getByLabelText('Concurrency'), 'replace');
    await user.clear(screen.getByLabelText('Max retries'));
    await user.type(screen.getByLabelText('Max retries'), '2');
    await user.type(screen.getByLabelText('Timeout (s)'), '900');
    await user.type(screen.getByLabelText('Webhook URL'), 'https://hooks.example.com/x');
    await user.click(screen.getByRole('button', { name: 'Create schedule' }));

    expect(await screen.findByText(/Created schedule/)).toHaveTextContent('Created schedule wine-every-30m: every 30m.');
    expect(ingress.callsTo('POST', '/v1/schedules')[0]?.json).toEqual({
      name: 'wine-every-30m',
      config: 'diabetes',
      every: '30m',
      concurrency: 'replace',
      missed: 'run_once',
      max_retries: 2,
      timeout_s: 900,
      webhook_url: 'https://hooks.example.com/x',
    });
    expect(await screen.findByRole('region', { name: 'Run history of wine-every-30m' })).toBeInTheDocument();
    expect(screen.getByLabelText('Schedule name')).toHaveValue('');
  });

  it('sends a cron trigger with its time zone, and a new-data trigger with its settle time', async () => {
    const user = userEvent.setup();
    const { ingress } = renderSchedules({ extra: { 'POST /v1/schedules': { status: 201, body: nightly } } });
    await screen.findByRole('option', { name: 'iris' });
    await user.type(screen.getByLabelText('Schedule name'), 'nightly-iris');
    await user.selectOptions(screen.getByLabelText('Training config'), 'iris');
    await user.clear(screen.getByLabelText('Cron'));
    await user.type(screen.getByLabelText('Cron'), '30 4 * * 1-5');
    await user.clear(screen.getByLabelText('Time zone'));
    await user.type(screen.getByLabelText('Time zone'), 'Europe/Madrid');
    await user.click(screen.getByRole('button', { name: 'Create schedule' }));
    await screen.findByText(/Created schedule/);
    expect(ingress.callsTo('POST', '/v1/schedules')[0]?.json).toMatchObject({
      name: 'nightly-iris',
      config: 'iris',
      cron: '30 4 * * 1-5',
      timezone: 'Europe/Madrid',
    });

    await user.type(screen.getByLabelText('Schedule name'), 'houses');
    await user.selectOptions(screen.getByLabelText('Training config'), 'diabetes');
    await user.selectOptions(screen.getByLabelText('Trigger'), 'on new data');
    await user.type(screen.getByLabelText('Data source'), 's3://data/houses/');
    await user.clear(screen.getByLabelText('Settle time (s)'));
    await user.type(screen.getByLabelText('Settle time (s)'), '120');
    await user.click(screen.getByRole('button', { name: 'Create schedule' }));
    await waitFor(() => expect(ingress.callsTo('POST', '/v1/schedules')).toHaveLength(2));
    const body = ingress.callsTo('POST', '/v1/schedules')[1]?.json as Record<string, unknown>;
    expect(body.on_new_data).toEqual({ source: 's3://data/houses/', settle_s: 120 });
    expect(body).not.toHaveProperty('cron');
    expect(body).not.toHaveProperty('timezone');
  });

  it('shows a 422 detail next to the field it names', async () => {
    const user = userEvent.setup();
    renderSchedules({
      extra: {
        'POST /v1/schedules': {
          status: 422,
          body: { detail: "request body: cron: field 2 (hour) '25': use a value from 0 to 23\nrequest body: webhook_url: 'ftp://x': use an http:// or https:// URL with a host" },
        },
      },
    });
    await screen.findByRole('option', { name: 'iris' });
    await user.type(screen.getByLabelText('Schedule name'), 'bad-cron');
    await user.selectOptions(screen.getByLabelText('Training config'), 'iris');
    await user.clear(screen.getByLabelText('Cron'));
    await user.type(screen.getByLabelText('Cron'), '0 25 * * *');
    await user.click(screen.getByRole('button', { name: 'Create schedule' }));

    const cron = screen.getByLabelText('Cron');
    expect(await screen.findByText("cron: field 2 (hour) '25': use a value from 0 to 23")).toBeInTheDocument();
    expect(cron).toHaveAttribute('aria-invalid', 'true');
    expect(cron).toHaveAccessibleDescription(/field 2 \(hour\)/);
    expect(screen.getByLabelText('Webhook URL')).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByRole('alert')).toHaveTextContent('fix the highlighted fields');
  });

  it('shows a 422 detail that names no field of the form above the submit button', async () => {
    const user = userEvent.setup();
    renderSchedules({
      extra: { 'POST /v1/schedules': { status: 422, body: { detail: 'give exactly one trigger of cron, every and on_new_data; got none' } } },
    });
    await screen.findByRole('option', { name: 'iris' });
    await user.type(screen.getByLabelText('Schedule name'), 'x');
    await user.selectOptions(screen.getByLabelText('Training config'), 'iris');
    await user.click(screen.getByRole('button', { name: 'Create schedule' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('give exactly one trigger of cron, every and on_new_data; got none');
  });

  it('names the fields to fix and sends nothing while the form is invalid', async () => {
    const user = userEvent.setup();
    const { ingress } = renderSchedules();
    await screen.findByRole('option', { name: 'iris' });
    await user.type(screen.getByLabelText('Schedule name'), 'Has Space');
    await user.selectOptions(screen.getByLabelText('Trigger'), 'every');
    await user.clear(screen.getByLabelText('Every'));
    await user.type(screen.getByLabelText('Every'), '30s');
    await user.click(screen.getByRole('button', { name: 'Create schedule' }));
    expect(screen.getByText(/lowercase letters, digits/)).toBeInTheDocument();
    expect(screen.getByText('Choose the training config to run.')).toBeInTheDocument();
    expect(screen.getByText(/at least 60 s\./)).toBeInTheDocument();
    expect(screen.getByLabelText('Every')).toHaveAttribute('aria-invalid', 'true');
    expect(ingress.callsTo('POST', '/v1/schedules')).toHaveLength(0);
  });

  it('shows the selected schedule run history with its scores, errors and links', async () => {
    const user = userEvent.setup();
    renderSchedules({ path: '/schedules/hourly-wine' });
    const table = await screen.findByRole('table', { name: 'Runs of hourly-wine' });
    const row = within(table).getAllByRole('row')[1];
    if (!row) throw new Error('no run row');
    expect(row).toHaveTextContent('retry 1');
    expect(within(row).getByText('failed')).toHaveClass('badge-bad');
    expect(row).toHaveTextContent("at load: dataset source 's3://data/wine.csv': no such key");
    expect(within(row).getByRole('link', { name: 'Job' })).toHaveAttribute('href', '/training/jobs/hourly-wine-202506151500-r1');
    expect(within(row).queryByRole('link', { name: /MLflow/ })).not.toBeInTheDocument();

    await user.click(within(screen.getByRole('table', { name: 'Schedules' })).getByRole('link', { name: 'nightly-iris' }));
    const nightlyRuns = await screen.findByRole('table', { name: 'Runs of nightly-iris' });
    const promoted = within(nightlyRuns).getAllByRole('row')[1];
    if (!promoted) throw new Error('no run row');
    expect(promoted).toHaveTextContent('iris v4');
    expect(promoted).toHaveTextContent('0.9733 accuracy');
    expect(promoted).toHaveTextContent('vs 0.9667 champion');
    expect(promoted).toHaveTextContent('first try');
    expect(promoted).toHaveTextContent(formatTime(NOW - 7200));
    expect(promoted).toHaveTextContent(formatClock(NOW - 7195));
    expect(promoted).toHaveTextContent(formatClock(NOW - 7000));
    const mlflow = within(promoted).getByRole('link', { name: /MLflow run/ });
    expect(mlflow).toHaveAttribute('href', 'http://127.0.0.1:5050/#/experiments/1/runs/r4');
    expect(mlflow).toHaveAttribute('target', '_blank');
  });

  it('pages through the run history with limit and offset', async () => {
    const user = userEvent.setup();
    const all: ScheduleRun[] = Array.from({ length: 45 }, (_, i) => scheduleRun({ id: 100 - i, scheduled_time: NOW - i * 3600 }));
    const { ingress } = renderSchedules({
      extra: {
        'GET /v1/schedules': { body: { schedules: [{ ...nightly, last_run: all[0] ?? null }] } },
        'GET /v1/schedules/nightly-iris/runs': (call) => {
          const limit = Number(call.query.get('limit'));
          const offset = Number(call.query.get('offset'));
          return { body: { runs: all.slice(offset, offset + limit), total: all.length } };
        },
      },
    });
    const table = await screen.findByRole('table', { name: 'Runs of nightly-iris' });
    expect(within(table).getAllByRole('row')).toHaveLength(RUNS_PAGE_SIZE + 1);
    expect(screen.getByText('Runs 1–20 of 45')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Newer runs' })).toBeDisabled();

    await user.click(screen.getByRole('button', { name: 'Older runs' }));
    expect(await screen.findByText('Runs 21–40 of 45')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Older runs' }));
    expect(await screen.findByText('Runs 41–45 of 45')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Older runs' })).toBeDisabled();
    expect(within(screen.getByRole('table', { name: 'Runs of nightly-iris' })).getAllByRole('row')).toHaveLength(6);

    const offsets = ingress.callsTo('GET', '/v1/schedules/nightly-iris/runs').map((c) => [c.query.get('limit'), c.query.get('offset')]);
    expect(offsets).toEqual([
      ['20', '0'],
      ['20', '20'],
      ['20', '40'],
    ]);
  });

  it('hides every admin action from a predict key', async () => {
    renderSchedules({ role: 'predict' });
    const row = await scheduleRow('nightly-iris');
    expect(row).toHaveTextContent('every day at 02:00 UTC');
    expect(screen.getByText(/needs an admin key/)).toBeInTheDocument();
    for (const name of ['Run now', 'Pause', 'Resume', 'Delete', 'Create schedule'])
      expect(screen.queryByRole('button', { name })).not.toBeInTheDocument();
    expect(screen.queryByLabelText('Schedule name')).not.toBeInTheDocument();
    await screen.findByRole('table', { name: 'Runs of nightly-iris' });
  });

  it('selects a schedule by clicking anywhere on its row, and shows the history a Run now lands in', async () => {
    const user = userEvent.setup();
    renderSchedules({
      extra: { 'POST /v1/schedules/houses-on-data/run': { status: 202, body: scheduleRun({ schedule: 'houses-on-data', status: 'pending', outcome: null }) } },
    });
    expect(await screen.findByRole('region', { name: 'Run history of nightly-iris' })).toBeInTheDocument();
    await user.click(within(await scheduleRow('hourly-wine')).getByText('every 1h'));
    expect(await screen.findByRole('region', { name: 'Run history of hourly-wine' })).toBeInTheDocument();
    expect(await scheduleRow('hourly-wine')).toHaveClass('row-selected');

    await user.click(within(await scheduleRow('houses-on-data')).getByRole('button', { name: 'Run now' }));
    expect(await screen.findByRole('region', { name: 'Run history of houses-on-data' })).toBeInTheDocument();
  });

  it('says which schedule is unknown', async () => {
    renderSchedules({ path: '/schedules/nope' });
    expect(await screen.findByText('No schedule is named "nope".')).toBeInTheDocument();
  });
});

describe('Schedules polling', () => {
  it('polls the history and the list every 5 s while a run is active, then stops', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(NOW * 1000);
    let done = false;
    const run = () => scheduleRun(done ? {} : { status: 'running', outcome: null, ended_at: null });
    const { ingress } = renderPage(<Schedules />, {
      path: '/schedules',
      pattern: '/schedules/:name?',
      routes: {
        'GET /v1/schedules': () => ({ body: { schedules: [{ ...nightly, last_run: run() }] } }),
        'GET /v1/configs': { body: { configs } },
        'GET /v1/schedules/nightly-iris/runs': () => ({ body: { runs: [run()], total: 1 } }),
      },
    });
    await advance();
    const runsTable = screen.getByRole('table', { name: 'Runs of nightly-iris' });
    expect(within(runsTable).getByText('running')).toBeInTheDocument();
    const history = () => ingress.callsTo('GET', '/v1/schedules/nightly-iris/runs').length;
    const list = () => ingress.callsTo('GET', '/v1/schedules').length;
    expect(history()).toBe(1);
    expect(list()).toBe(1);

    await advance(SCHEDULES_POLL_MS);
    expect(history()).toBe(2);
    expect(list()).toBe(2);

    done = true;
    await advance(SCHEDULES_POLL_MS);
    expect(within(screen.getByRole('table', { name: 'Runs of nightly-iris' })).getByText('promoted')).toBeInTheDocument();
    const settled = [history(), list()];
    await advance(SCHEDULES_POLL_MS * 3);
    expect([history(), list()]).toEqual(settled);
  });

  it('looks at the list again when the soonest next fire is due, even with no run active', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(NOW * 1000);
    const { ingress } = renderPage(<Schedules />, {
      path: '/schedules',
      pattern: '/schedules/:name?',
      routes: {
        'GET /v1/schedules': { body: { schedules: [{ ...nightly, next_fire: NOW + 30 }, { ...hourly, last_run: null, next_fire: NOW + 600 }] } },
        'GET /v1/configs': { body: { configs } },
        'GET /v1/schedules/nightly-iris/runs': { body: { runs: [scheduleRun()], total: 1 } },
      },
    });
    await advance();
    const list = () => ingress.callsTo('GET', '/v1/schedules').length;
    expect(list()).toBe(1);
    await advance(SCHEDULES_POLL_MS * 4);
    expect(list()).toBe(1);
    await advance(15_000);
    expect(list()).toBe(2);
  });
});
