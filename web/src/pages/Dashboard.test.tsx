import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { Schedule } from '../api/types';
import { formatTime } from '../lib/format';
import { cluster, failedRun, hourly, nightly, NOW, onNewData, scheduleRun, timeseries } from '../test/fixtures';
import { advance, renderPage } from '../test/render';
import { plotTitled } from '../test/uplotMock';
import Dashboard, { DASHBOARD_POLL_MS } from './Dashboard';

describe('Dashboard', () => {
  it('shows the cluster, the Serve deployments, traffic and recent jobs', async () => {
    renderPage(<Dashboard />, {
      routes: { 'GET /v1/cluster': { body: cluster }, 'GET /v1/metrics/timeseries': { body: timeseries } },
    });

    const cpus = await screen.findByRole('meter', { name: 'CPUs' });
    expect(cpus).toHaveAttribute('aria-valuenow', '1.5');
    expect(cpus).toHaveAttribute('aria-valuemax', '2');
    expect(screen.getByRole('meter', { name: 'Memory' })).toHaveAttribute('aria-valuetext', '6.0 GiB / 24.0 GiB');
    expect(screen.getByRole('meter', { name: 'Object store' })).toHaveAttribute('aria-valuetext', '256 MiB / 1.0 GiB');

    const deployments = screen.getByRole('table', { name: 'Deployments of rayline' });
    const predictor = within(deployments).getByRole('row', { name: /Predictor/ });
    expect(predictor).toHaveTextContent('1 / 2');
    expect(predictor).toHaveTextContent('updating');

    const jobs = screen.getByRole('table', { name: 'Recent Ray jobs' });
    expect(within(jobs).getAllByRole('row')).toHaveLength(3);
    expect(within(jobs).getByText('raysubmit_abc123')).toBeInTheDocument();

    expect(screen.getByRole('link', { name: /Ray UI/ })).toHaveAttribute('href', 'http://127.0.0.1:8265');
    expect(screen.getByRole('link', { name: /MLflow UI/ })).toHaveAttribute('href', 'http://127.0.0.1:5050');

    expect(await screen.findByText(/Last 10 minutes/)).toHaveTextContent('120 requests, 5 errors (4.2%)');
    const latency = plotTitled('Latency p50 / p99');
    expect(latency.data[0]).toEqual(timeseries.points.map((p) => p.t));
    expect(latency.data[1]).toEqual([4.2, 5, null]);
    expect(latency.data[2]).toEqual([12, 20, null]);
    expect(plotTitled('Request rate').data[1]).toEqual([3, 5, 4]);
    expect(plotTitled('Error rate').data[1]).toEqual([0, 0.5, 0]);
  });

  it('polls every 5 seconds and shows the new state', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const busier = { ...cluster, totals: { ...cluster.totals, cpus_used: 2 } };
    let answers = 0;
    const { ingress } = renderPage(<Dashboard />, {
      routes: {
        'GET /v1/cluster': () => ({ body: answers++ === 0 ? cluster : busier }),
        'GET /v1/metrics/timeseries': { body: timeseries },
      },
    });
    await advance();
    expect(screen.getByRole('meter', { name: 'CPUs' })).toHaveAttribute('aria-valuenow', '1.5');
    expect(ingress.callsTo('GET', '/v1/cluster')).toHaveLength(1);

    await advance(DASHBOARD_POLL_MS - 100);
    expect(ingress.callsTo('GET', '/v1/cluster')).toHaveLength(1);
    await advance(200);
    expect(ingress.callsTo('GET', '/v1/cluster')).toHaveLength(2);
    expect(screen.getByRole('meter', { name: 'CPUs' })).toHaveAttribute('aria-valuenow', '2');
    expect(ingress.callsTo('GET', '/v1/metrics/timeseries')[1]?.query.get('minutes')).toBe('10');
  });

  it('shows the server detail on a 503 and the ingress hint on a network error', async () => {
    renderPage(<Dashboard />, {
      routes: {
        'GET /v1/cluster': { status: 503, body: { detail: 'Ray is not connected: head node unreachable' } },
        'GET /v1/metrics/timeseries': 'network-error',
      },
    });
    expect(await screen.findByText('Ray is not connected: head node unreachable')).toBeInTheDocument();
    expect(await screen.findByText('Cannot reach the Rayline ingress')).toBeInTheDocument();
    expect(screen.getAllByRole('button', { name: 'Retry' })).toHaveLength(2);
  });

  it('says so when nothing is deployed and no job ran', async () => {
    renderPage(<Dashboard />, {
      routes: {
        'GET /v1/cluster': { body: { ...cluster, serve: { applications: [] }, jobs: [] } },
        'GET /v1/metrics/timeseries': { body: { ...timeseries, points: [], by_model: [], totals: { requests: 0, errors: 0 } } },
      },
    });
    expect(await screen.findByText('No Serve application is running.')).toBeInTheDocument();
    expect(screen.getByText('No jobs yet.')).toBeInTheDocument();
    expect(await screen.findAllByText('No requests in this window yet.')).toHaveLength(3);
  });

  it('shows the next five scheduled runs, soonest first, and the failed recent runs', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW * 1000);
    const user = userEvent.setup();
    const more: Schedule[] = [5, 4, 3, 2].map((hours) => ({ ...nightly, name: `every-${hours}h`, next_fire: NOW + hours * 3600 }));
    const { ingress } = renderPage(<Dashboard />, {
      routes: {
        'GET /v1/cluster': { body: cluster },
        'GET /v1/metrics/timeseries': { body: timeseries },
        'GET /v1/schedules': { body: { schedules: [...more, nightly, hourly, onNewData] } },
        'GET /v1/schedule-runs': { body: { runs: [scheduleRun({ status: 'running', outcome: null }), failedRun, scheduleRun({ id: 3 })] } },
      },
    });

    const next = await screen.findByRole('list', { name: 'Next scheduled runs' });
    const items = within(next).getAllByRole('listitem');
    // hourly (in 10 min), nightly (in 1 h), every-2h .. every-4h; every-5h is sixth, the paused one has no fire.
    expect(items.map((li) => within(li).getByRole('link').textContent)).toEqual(['hourly-wine', 'nightly-iris', 'every-2h', 'every-3h', 'every-4h']);
    expect(items[0]).toHaveTextContent('every 1h');
    expect(items[0]).toHaveTextContent(`in 10 min · ${formatTime(NOW + 600)}`);

    const failed = screen.getByRole('list', { name: 'Recent failed runs' });
    const failures = within(failed).getAllByRole('listitem');
    expect(failures).toHaveLength(1);
    expect(failures[0]).toHaveTextContent("at load: dataset source 's3://data/wine.csv': no such key");
    expect(ingress.callsTo('GET', '/v1/schedule-runs')[0]?.query.get('limit')).toBe('20');

    await user.click(within(failed).getByRole('link', { name: 'hourly-wine' }));
    expect(await screen.findByTestId('location')).toHaveTextContent('/schedules/hourly-wine');
  });

  it('hides the schedules card when the server has no schedules routes (404)', async () => {
    const { ingress } = renderPage(<Dashboard />, {
      routes: {
        'GET /v1/cluster': { body: cluster },
        'GET /v1/metrics/timeseries': { body: timeseries },
        'GET /v1/schedules': { status: 404, body: { detail: 'no such API route; see /openapi.json' } },
        'GET /v1/schedule-runs': { status: 404, body: { detail: 'no such API route; see /openapi.json' } },
      },
    });
    await screen.findByRole('table', { name: 'Recent Ray jobs' });
    await waitFor(() => expect(ingress.callsTo('GET', '/v1/schedules')).toHaveLength(1));
    // Let the 404 answer reach the page before looking.
    await act(() => new Promise<void>((resolve) => setTimeout(resolve, 20)));
    expect(screen.queryByRole('heading', { name: 'Schedules' })).not.toBeInTheDocument();
    expect(screen.queryByText('no such API route; see /openapi.json')).not.toBeInTheDocument();
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
  });

  it('says when the schedules cannot be loaded for another reason', async () => {
    renderPage(<Dashboard />, {
      routes: {
        'GET /v1/cluster': { body: cluster },
        'GET /v1/metrics/timeseries': { body: timeseries },
        'GET /v1/schedules': { status: 503, body: { detail: 'the scheduler is starting' } },
        'GET /v1/schedule-runs': { body: { runs: [] } },
      },
    });
    const card = (await screen.findByRole('heading', { name: 'Schedules' })).closest('section');
    if (!card) throw new Error('no card');
    expect(await within(card).findByText('the scheduler is starting')).toBeInTheDocument();
  });
});
