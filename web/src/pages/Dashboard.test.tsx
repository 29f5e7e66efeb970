import { screen, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { cluster, timeseries } from '../test/fixtures';
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
});
