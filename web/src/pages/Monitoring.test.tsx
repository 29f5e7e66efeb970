import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { Monitoring as MonitoringReport, VersionMonitoring } from '../api/types';
import { columnDrift, driftedIris, NOW } from '../test/fixtures';
import type { Routes } from '../test/api';
import { advance, renderPage } from '../test/render';
import { plotTitled } from '../test/uplotMock';
import Monitoring, { MONITORING_POLL_MS } from './Monitoring';

const ready = {
  body: {
    ready: true,
    models: [
      { name: 'iris', alias: 'champion', version: '2', status: 'ready', error: null },
      { name: 'iris', alias: 'challenger', version: '3', status: 'ready', error: null },
      { name: 'diabetes', alias: 'champion', version: '1', status: 'ready', error: null },
    ],
  },
};

/** The drifted iris report with its newest version changed. */
function withVersion(changes: Partial<VersionMonitoring>): MonitoringReport {
  const [newest, ...rest] = driftedIris.versions;
  if (!newest) throw new Error('the fixture has a version');
  return { ...driftedIris, versions: [{ ...newest, ...changes }, ...rest] };
}

function renderMonitoring(routes: Routes = {}, path = '/monitoring') {
  return renderPage(<Monitoring />, {
    path,
    pattern: path === '/monitoring' ? '/monitoring' : '/monitoring/:name',
    role: 'predict',
    routes: { 'GET /ready': ready, 'GET /v1/models/iris/monitoring': { body: driftedIris }, ...routes },
  });
}

/** The feature names in the order the bars of the "Feature drift" chart draw them. */
function barOrder(): string[] {
  const chart = screen.getByRole('img', { name: 'Feature drift' });
  return Array.from(chart.querySelectorAll('[data-column]')).map((row) => row.getAttribute('data-column') ?? '');
}

describe('Monitoring', () => {
  it('shows a drifted model: verdict, window, drifted features first with their threshold marked', async () => {
    renderMonitoring();
    expect(screen.getByRole('heading', { level: 1, name: 'Monitoring' })).toBeInTheDocument();
    const chart = await screen.findByRole('img', { name: 'Feature drift' });

    expect(screen.getByLabelText('Model')).toHaveValue('iris');
    expect(screen.getByLabelText('Version')).toHaveValue('3');
    expect(screen.getByRole('option', { name: 'v3 (challenger)' })).toBeInTheDocument();
    expect(screen.getByText('Drift verdict').parentElement).toHaveTextContent('drift');
    expect(screen.getByTestId('window-rows')).toHaveTextContent('1,200 rows');
    expect(screen.getByTestId('window-rows')).toHaveTextContent('a verdict needs 100 · last 1 h, since');
    expect(screen.getByTestId('drifted-share')).toHaveTextContent('50.0% 2 of 4');

    expect(barOrder()).toEqual(['petal length (cm)', 'petal width (cm)', 'sepal length (cm)', 'sepal width (cm)']);
    const rows = Array.from(chart.querySelectorAll('[data-column]'));
    expect(rows.map((r) => r.classList.contains('drifted'))).toEqual([true, true, false, false]);
    // One axis up to 1.1 × the largest score (0.52): the 0.1 threshold sits at 17.5%.
    const threshold = rows[0]?.querySelector('.drift-threshold') as HTMLElement;
    expect(parseFloat(threshold.style.left)).toBeCloseTo((0.1 / 0.572) * 100, 3);
    expect(rows[0]).toHaveTextContent('PSI 0.5200');
    expect(screen.getByText(/^2 of 4 drifted\./)).toHaveTextContent('petal length (cm): PSI 0.5200, drifted above 0.1; drifted');

    const table = screen.getByRole('table', { name: 'Drift by feature' });
    const buttons = within(table).getAllByRole('button');
    expect(buttons.map((b) => b.textContent)).toEqual(barOrder());
    expect(within(table).queryByRole('columnheader', { name: 'p-value' })).not.toBeInTheDocument();

    // The predictions drifted too: their own chart and histogram.
    expect(screen.getByRole('img', { name: 'Prediction drift' })).toHaveTextContent('JS 0.2200');
    expect(screen.getByRole('img', { name: 'Reference vs live: predictions' })).toBeInTheDocument();
  });

  it('shows the reference-vs-live histogram of the feature clicked', async () => {
    const user = userEvent.setup();
    renderMonitoring();
    // The most drifted feature first.
    expect(await screen.findByRole('img', { name: 'Reference vs live: petal length (cm)' })).toBeInTheDocument();
    const bins = screen.getByRole('table', { name: 'Share of rows per bin of petal length (cm)' });
    expect(within(bins).getAllByRole('row')[4]).toHaveTextContent('>= 6.425.0%60.0%');

    await user.click(screen.getByRole('button', { name: 'sepal width (cm)' }));
    expect(screen.getByRole('button', { name: 'sepal width (cm)' })).toHaveAttribute('aria-pressed', 'true');
    expect(screen.queryByRole('img', { name: 'Reference vs live: petal length (cm)' })).not.toBeInTheDocument();
    const histogram = screen.getByRole('img', { name: 'Reference vs live: sepal width (cm)' });
    const live = histogram.querySelectorAll<HTMLElement>('.histogram-bar.live');
    // Heights relative to the tallest share of either series (0.27).
    expect(parseFloat(live[0]?.style.height ?? '')).toBeCloseTo(100, 3);
    expect(parseFloat(live[1]?.style.height ?? '')).toBeCloseTo((0.24 / 0.27) * 100, 3);
    expect(within(screen.getByRole('table', { name: 'Share of rows per bin of sepal width (cm)' })).getAllByRole('row')[1]).toHaveTextContent(
      '< 5.125.0%27.0%',
    );

    // A bar of the chart picks its feature too.
    const bar = screen.getByRole('img', { name: 'Feature drift' }).querySelector('[data-column="petal width (cm)"]') as HTMLElement;
    await user.click(bar);
    expect(screen.getByRole('img', { name: 'Reference vs live: petal width (cm)' })).toBeInTheDocument();
  });

  it('shows live quality against training, the alarm and the quality over time', async () => {
    renderMonitoring();
    const quality = await screen.findByRole('region', { name: 'Live quality' });
    expect(within(quality).getByText('quality alarm')).toHaveClass('badge-bad');
    const metrics = within(quality).getByRole('table', { name: 'Live and training metrics' });
    expect(within(metrics).getByRole('row', { name: /Accuracy/ })).toHaveTextContent('Accuracy0.85000.9667');
    expect(within(metrics).getByRole('row', { name: /F1/ })).toHaveTextContent('F1 (macro)0.84000.9660');
    expect(quality).toHaveTextContent('On the latest 80 labelled rows.');
    expect(quality).toHaveTextContent('Accuracy down 11.7 points on training (alarm above 5.0 points).');
    expect(quality).toHaveTextContent('80 joined, 3 unknown, 1 expired');

    const chart = plotTitled('Live quality over time');
    expect(chart.data[0]).toEqual([NOW - 1500, NOW - 600]);
    expect(chart.data[1]).toEqual([0.9, 0.8]);
    expect(chart.data[2]).toEqual([0.89, 0.79]);
    expect(chart.data[3]).toEqual([0.9667, 0.9667]);
    expect(chart.opts.series.map((s) => s.label)).toEqual(['Time', 'live Accuracy', 'live F1 (macro)', 'training Accuracy']);
  });

  it('switches version: too few rows for a verdict, no labels yet', async () => {
    const user = userEvent.setup();
    renderMonitoring();
    await screen.findByRole('img', { name: 'Feature drift' });
    await user.selectOptions(screen.getByLabelText('Version'), 'v2 (champion)');
    expect(screen.getByText('Not enough live rows for a verdict yet.').parentElement).toHaveTextContent(
      'The window of the last 1 h holds 30 of the 100 rows a verdict needs.',
    );
    expect(screen.queryByRole('img', { name: 'Feature drift' })).not.toBeInTheDocument();
    expect(screen.getByText('Drift verdict').parentElement).toHaveTextContent('insufficient data');
    expect(screen.getByTestId('drifted-share')).toHaveTextContent('Drifted features—');
    const quality = screen.getByRole('region', { name: 'Live quality' });
    expect(within(quality).getByText('awaiting labels')).toBeInTheDocument();
    expect(quality).toHaveTextContent('No labelled predictions yet.');
    expect(quality).toHaveTextContent('POST /v1/models/iris/feedback');
  });

  it('explains an empty window: predictions build it', async () => {
    renderMonitoring({ 'GET /v1/models/iris/monitoring': { body: { ...driftedIris, versions: [] } } });
    expect(await screen.findByText('No traffic for iris yet.')).toBeInTheDocument();
    expect(screen.getByText(/builds a live window from the predictions the model answers/)).toBeInTheDocument();
    expect(screen.queryByLabelText('Version')).not.toBeInTheDocument();
    expect(screen.queryByRole('img', { name: 'Feature drift' })).not.toBeInTheDocument();
  });

  it('explains a version trained before monitoring existed (no reference)', async () => {
    const report = withVersion({
      drift: { verdict: 'no_reference', rows: 0, drifted_share: 0, features: [], prediction: null },
    });
    renderMonitoring({ 'GET /v1/models/iris/monitoring': { body: report } });
    expect(await screen.findByText('Version 3 has no training reference to compare with.')).toBeInTheDocument();
    expect(screen.getByText(/trained before monitoring existed/)).toBeInTheDocument();
    expect(screen.getByText('Drift verdict').parentElement).toHaveTextContent('no reference');
    expect(screen.queryByRole('img', { name: 'Feature drift' })).not.toBeInTheDocument();
    // Live quality still works from feedback.
    expect(within(screen.getByRole('region', { name: 'Live quality' })).getByText('quality alarm')).toBeInTheDocument();
  });

  it('shows p-values for a small window judged by tests', async () => {
    const [newest] = driftedIris.versions;
    if (!newest) throw new Error('the fixture has a version');
    const report = withVersion({
      drift: {
        ...newest.drift,
        drifted_share: 0.5,
        features: [
          columnDrift({ name: 'colour', kind: 'categorical', method: 'chi2', score: 4.1, threshold: 0.05, p_value: 0.25, bins: ['blue', 'red'], reference: [0.5, 0.5], live: [0.4, 0.6] }),
          columnDrift({ name: 'petal length (cm)', method: 'ks', score: 0.31, threshold: 0.05, p_value: 0.003, drifted: true }),
        ],
        prediction: null,
      },
    });
    renderMonitoring({ 'GET /v1/models/iris/monitoring': { body: report } });
    await screen.findByRole('img', { name: 'Feature drift' });
    expect(barOrder()).toEqual(['petal length (cm)', 'colour']);
    const table = screen.getByRole('table', { name: 'Drift by feature' });
    expect(within(table).getByRole('columnheader', { name: 'p-value' })).toBeInTheDocument();
    expect(within(table).getByRole('row', { name: /petal length/ })).toHaveTextContent('KS test (numeric)0.3100p < 0.050.0030drift');
    expect(within(table).getByRole('row', { name: /colour/ })).toHaveTextContent('0.2500no drift');
    expect(screen.getByRole('img', { name: 'Feature drift' })).toHaveTextContent('KS p = 0.0030');
    expect(screen.getByText(/−log10 of the test’s p-value/)).toBeInTheDocument();
    expect(screen.queryByRole('region', { name: 'Prediction drift' })).not.toBeInTheDocument();
  });

  it('polls every 5 seconds and keeps the picked feature', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let answers = 0;
    const calmer = withVersion({ window: { rows: 1300, since: NOW - 1800, window_s: 3600, min_rows: 100 } });
    const { ingress } = renderMonitoring({
      'GET /v1/models/iris/monitoring': () => ({ body: answers++ === 0 ? driftedIris : calmer }),
    });
    await advance();
    expect(screen.getByTestId('window-rows')).toHaveTextContent('1,200 rows');
    screen.getByRole('button', { name: 'sepal length (cm)' }).click();
    await advance(MONITORING_POLL_MS - 100);
    expect(ingress.callsTo('GET', '/v1/models/iris/monitoring')).toHaveLength(1);
    await advance(200);
    expect(ingress.callsTo('GET', '/v1/models/iris/monitoring')).toHaveLength(2);
    expect(screen.getByTestId('window-rows')).toHaveTextContent('1,300 rows');
    expect(screen.getByRole('img', { name: 'Reference vs live: sepal length (cm)' })).toBeInTheDocument();
  });

  it('opens a model from its address and switches model with the select', async () => {
    const user = userEvent.setup();
    const diabetes: MonitoringReport = { ...driftedIris, model: 'diabetes', versions: [] };
    const { ingress } = renderMonitoring({ 'GET /v1/models/diabetes/monitoring': { body: diabetes } }, '/monitoring/diabetes');
    expect(await screen.findByText('No traffic for diabetes yet.')).toBeInTheDocument();
    expect(screen.getByLabelText('Model')).toHaveValue('diabetes');
    await user.selectOptions(screen.getByLabelText('Model'), 'iris');
    expect(await screen.findByRole('img', { name: 'Feature drift' })).toBeInTheDocument();
    expect(ingress.callsTo('GET', '/v1/models/iris/monitoring')).toHaveLength(1);
  });

  it('shows the server error for a model that is not served', async () => {
    renderMonitoring(
      { 'GET /v1/models/nope/monitoring': { status: 404, body: { detail: "model 'nope' is not served by this application (served: iris, diabetes)" } } },
      '/monitoring/nope',
    );
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('Not found');
    expect(alert).toHaveTextContent("model 'nope' is not served by this application");
  });

  it('says when no model is served', async () => {
    renderMonitoring({ 'GET /ready': { body: { ready: true, models: [] } } });
    expect(await screen.findByText('No model is served.')).toBeInTheDocument();
  });
});
