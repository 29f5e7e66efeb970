import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { JobDetail } from '../api/types';
import { jobDetail } from '../test/fixtures';
import { advance, renderPage } from '../test/render';
import { plotTitled } from '../test/uplotMock';
import JobView, { JOB_POLL_MS } from './JobView';

const PATH = '/training/jobs/raysubmit_abc123';

function renderJob(routes: Record<string, unknown>) {
  return renderPage(<JobView />, {
    path: PATH,
    pattern: '/training/jobs/:jobId',
    routes: {
      'GET /v1/jobs/raysubmit_abc123/logs': { body: { logs: 'trial 0 done\ntrial 1 done' } },
      ...(routes as object),
    },
  });
}

describe('JobView', () => {
  it('shows status, trial progress, best score, trials, the score chart, the log and the MLflow run', async () => {
    renderJob({ 'GET /v1/jobs/raysubmit_abc123': { body: jobDetail() } });

    const progress = await screen.findByRole('progressbar', { name: 'Trials done' });
    expect(progress).toHaveAttribute('aria-valuenow', '3');
    expect(progress).toHaveAttribute('aria-valuemax', '10');
    expect(progress.firstElementChild).toHaveStyle({ width: '30%' });
    expect(screen.getByText('3 / 10 trials')).toBeInTheDocument();
    expect(screen.getByTestId('best-score')).toHaveTextContent('0.9467 accuracy');
    expect(screen.getByText('running')).toBeInTheDocument();

    const trials = screen.getByRole('table', { name: 'Trials' });
    expect(within(trials).getAllByRole('row')).toHaveLength(4);
    const best = within(trials).getByRole('row', { name: /logistic_regression/ });
    expect(best).toHaveTextContent('best');
    expect(best).toHaveTextContent('C=1.5');

    const chart = plotTitled('Trial scores');
    expect(chart.data[0]).toEqual([0, 1, 2]);
    expect(chart.data[1]).toEqual([0.94, 0.9467, 0.92]);
    expect(chart.data[2]).toEqual([0.94, 0.9467, 0.9467]);

    expect(await screen.findByLabelText('Job log')).toHaveTextContent('trial 1 done');
    expect(screen.getByRole('link', { name: /MLflow run/ })).toHaveAttribute('href', 'http://127.0.0.1:5050/#/experiments/1/runs/r1');
  });

  it('polls every 2 s while running, then shows the registered result and stops polling', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const done: JobDetail = jobDetail({
      status: 'SUCCEEDED',
      end_time: 1_750_000_100,
      progress: { trials_done: 10, trials_total: 10, best_score: 0.9667, metric: 'accuracy' },
      result: { model: 'iris', version: '3', aliases: ['challenger'], test_metrics: { accuracy: 0.9667 } },
    });
    let n = 0;
    const { ingress } = renderJob({ 'GET /v1/jobs/raysubmit_abc123': () => ({ body: n++ === 0 ? jobDetail() : done }) });
    await advance();
    expect(screen.getByRole('progressbar', { name: 'Trials done' })).toHaveAttribute('aria-valuenow', '3');
    expect(screen.getByRole('button', { name: 'Stop' })).toBeInTheDocument();

    await advance(JOB_POLL_MS);
    expect(ingress.callsTo('GET', '/v1/jobs/raysubmit_abc123')).toHaveLength(2);
    expect(screen.getByRole('progressbar', { name: 'Trials done' })).toHaveAttribute('aria-valuenow', '10');
    expect(screen.getByRole('heading', { name: 'Registered iris version 3' })).toBeInTheDocument();
    expect(screen.getByText('challenger')).toHaveAttribute('data-alias', 'challenger');
    expect(screen.queryByRole('button', { name: 'Stop' })).not.toBeInTheDocument();
    expect(screen.getByRole('link', { name: /View in the registry/ })).toHaveAttribute('href', '/models/iris');

    const logCalls = ingress.callsTo('GET', '/v1/jobs/raysubmit_abc123/logs').length;
    await advance(JOB_POLL_MS * 3);
    expect(ingress.callsTo('GET', '/v1/jobs/raysubmit_abc123')).toHaveLength(2);
    expect(ingress.callsTo('GET', '/v1/jobs/raysubmit_abc123/logs')).toHaveLength(logCalls);
    expect(ingress.callsTo('GET', '/v1/jobs/raysubmit_abc123/logs')[0]?.query.get('tail')).toBe('200');
  });

  it('stops a running job only after confirmation', async () => {
    const user = userEvent.setup();
    const { ingress } = renderJob({
      'GET /v1/jobs/raysubmit_abc123': { body: jobDetail() },
      'POST /v1/jobs/raysubmit_abc123/stop': { body: { stopped: true } },
    });
    await user.click(await screen.findByRole('button', { name: 'Stop' }));
    const dialog = screen.getByRole('dialog', { name: 'Stop this job?' });
    await user.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
    expect(ingress.callsTo('POST', '/v1/jobs/raysubmit_abc123/stop')).toHaveLength(0);

    await user.click(screen.getByRole('button', { name: 'Stop' }));
    await user.click(screen.getByRole('button', { name: 'Confirm' }));
    expect(await screen.findByText(/Stop requested/)).toBeInTheDocument();
    expect(ingress.callsTo('POST', '/v1/jobs/raysubmit_abc123/stop')).toHaveLength(1);
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
  });

  it('closes the dialog with Escape', async () => {
    const user = userEvent.setup();
    renderJob({ 'GET /v1/jobs/raysubmit_abc123': { body: jobDetail() } });
    await user.click(await screen.findByRole('button', { name: 'Stop' }));
    expect(screen.getByRole('button', { name: 'Cancel' })).toHaveFocus();
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
  });

  it('shows the server detail for an unknown job', async () => {
    renderJob({ 'GET /v1/jobs/raysubmit_abc123': { status: 404, body: { detail: 'no job raysubmit_abc123' } } });
    expect(await screen.findByText('no job raysubmit_abc123')).toBeInTheDocument();
    expect(screen.getByText('Not found')).toBeInTheDocument();
  });
});
