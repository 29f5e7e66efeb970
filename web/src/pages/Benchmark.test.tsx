import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { BenchmarkResult } from '../api/types';
import { benchmarks, catalog, jobDetail, models } from '../test/fixtures';
import { advance, renderPage } from '../test/render';
import { plotTitled } from '../test/uplotMock';
import Benchmark, { BENCH_POLL_MS } from './Benchmark';

const routes = {
  'GET /v1/benchmarks': { body: { results: benchmarks } },
  'GET /v1/models': { body: { models } },
  'GET /v1/catalog': { body: catalog },
  'POST /v1/benchmarks': { status: 202, body: { job_id: 'raysubmit_bench1' } },
};

describe('Benchmark', () => {
  it('charts throughput, latency percentiles and speed-up, and lists past results', async () => {
    renderPage(<Benchmark />, { path: '/benchmark', routes });
    const table = await screen.findByRole('table', { name: 'Past benchmark results' });
    const rows = within(table).getAllByRole('row').slice(1);
    expect(rows).toHaveLength(3);
    // Newest first.
    expect(rows[0]).toHaveTextContent('410 req/s');
    expect(rows[0]).toHaveTextContent('p99 41.0 ms');
    expect(rows[1]).toHaveTextContent('1.82× faster');
    expect(rows[2]).toHaveTextContent('concurrency=4');

    expect(plotTitled('Throughput per load test').data[1]).toEqual([250.5, 410]);
    // The latest serving run by default…
    expect(plotTitled('Latency percentiles').data[1]).toEqual([9, 15, 41]);
    expect(plotTitled('Speed-up of parallel training').data[1]).toEqual([1.82]);
    expect(plotTitled('Sequential vs parallel time').data[1]).toEqual([40, 22]);

    // …and any other run on request.
    const user = userEvent.setup();
    await user.selectOptions(screen.getByLabelText('Serving run'), 'b1');
    expect(plotTitled('Latency percentiles').data[1]).toEqual([6.5, 11, 30]);
  });

  it('submits a serving load test with the chosen settings', async () => {
    const user = userEvent.setup();
    const { ingress } = renderPage(<Benchmark />, { path: '/benchmark', routes });
    const duration = await screen.findByLabelText('Duration (s)');
    expect(screen.getByLabelText('Model')).toHaveValue('iris');
    expect(screen.getByLabelText('Alias')).toHaveValue('champion');
    await user.clear(duration);
    await user.type(duration, '5');
    await user.clear(screen.getByLabelText('Concurrency'));
    await user.type(screen.getByLabelText('Concurrency'), '8');
    await user.clear(screen.getByLabelText('Rows per request'));
    await user.type(screen.getByLabelText('Rows per request'), '20');
    await user.selectOptions(screen.getByLabelText('Alias'), 'challenger');
    await user.click(screen.getByRole('button', { name: 'Run load test' }));
    expect(await screen.findByRole('link', { name: 'Job details' })).toHaveAttribute('href', '/training/jobs/raysubmit_bench1');
    expect(ingress.callsTo('POST', '/v1/benchmarks')[0]?.json).toEqual({
      kind: 'serving',
      model: 'iris',
      alias: 'challenger',
      duration_s: 5,
      concurrency: 8,
      rows_per_request: 20,
    });
  });

  it('follows the job until it ends, then reloads the results', async () => {
    const newRun: BenchmarkResult = {
      id: 'b4',
      kind: 'training',
      created_at: 1_750_000_500,
      settings: { dataset: 'iris', n_configs: 4 },
      summary: { sequential_s: 30, parallel_s: 12, speedup: 2.5, n_configs: 4, best_score_sequential: 0.96, best_score_parallel: 0.96 },
    };
    let finished = false;
    let polls = 0;
    const { ingress } = renderPage(<Benchmark />, {
      path: '/benchmark',
      routes: {
        ...routes,
        'GET /v1/benchmarks': () => ({ body: { results: finished ? [...benchmarks, newRun] : benchmarks } }),
        'GET /v1/jobs/raysubmit_bench1': () => {
          polls += 1;
          finished = polls >= 2;
          return { body: jobDetail({ job_id: 'raysubmit_bench1', kind: 'benchmark', status: finished ? 'SUCCEEDED' : 'RUNNING', progress: null, trials: [] }) };
        },
      },
    });
    const user = userEvent.setup();
    await user.selectOptions(await screen.findByLabelText('Dataset'), 'iris');
    await user.clear(screen.getByLabelText('Number of configurations'));
    await user.type(screen.getByLabelText('Number of configurations'), '4');

    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    screen.getByRole('button', { name: 'Run comparison' }).click();
    await advance();
    expect(ingress.callsTo('POST', '/v1/benchmarks')[0]?.json).toEqual({ kind: 'training', dataset: 'iris', n_configs: 4 });
    expect(screen.getByText('Comparison:', { exact: false })).toHaveTextContent('running');
    expect(ingress.callsTo('GET', '/v1/benchmarks')).toHaveLength(1);

    await advance(BENCH_POLL_MS);
    expect(screen.getByText('Results updated below.')).toBeInTheDocument();
    expect(ingress.callsTo('GET', '/v1/benchmarks')).toHaveLength(2);
    expect(plotTitled('Speed-up of parallel training').data[1]).toEqual([1.82, 2.5]);

    await advance(BENCH_POLL_MS * 3);
    expect(polls).toBe(2);
  });

  it('refuses settings out of range without sending', async () => {
    const user = userEvent.setup();
    const { ingress } = renderPage(<Benchmark />, { path: '/benchmark', routes });
    const concurrency = await screen.findByLabelText('Concurrency');
    await user.clear(concurrency);
    await user.type(concurrency, '0');
    await user.click(screen.getByRole('button', { name: 'Run load test' }));
    expect(screen.getByText('Concurrency must be a whole number from 1 to 256.')).toBeInTheDocument();
    expect(ingress.callsTo('POST', '/v1/benchmarks')).toHaveLength(0);
  });

  it('explains empty results and an unreachable ingress', async () => {
    renderPage(<Benchmark />, {
      path: '/benchmark',
      routes: { ...routes, 'GET /v1/benchmarks': { body: { results: [] } }, 'GET /v1/models': 'network-error' },
    });
    expect(await screen.findByText('No benchmark has run yet.')).toBeInTheDocument();
    expect(await screen.findByText('Cannot reach the Rayline ingress')).toBeInTheDocument();
  });
});
