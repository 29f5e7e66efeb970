/**
 * Monitoring: for a served model and one of its versions, the drift of the live window from the
 * training data (verdict, drift per feature and of the predictions, a column's reference-vs-live
 * histogram) and the live quality scored from the labels sent back as feedback. Polls every 5 s.
 */
import { useCallback, useMemo, useState, type ReactNode } from 'react';
import { useNavigate, useParams } from 'react-router-dom';
import type { ColumnDrift, FeedbackCounts, Quality, ReadyModel, VersionMonitoring } from '../api/types';
import { useApi } from '../auth/context';
import { StatusBadge } from '../components/Badges';
import { Card } from '../components/Card';
import { Chart, type ChartSeries } from '../components/Chart';
import { DataTable } from '../components/DataTable';
import { DriftBars, DriftLegend, Histogram } from '../components/DriftCharts';
import { EmptyState, ErrorState, Loading } from '../components/Feedback';
import { SelectField } from '../components/Form';
import { PageHeader } from '../components/Layout';
import { useResource } from '../hooks/useResource';
import { usePageTitle } from '../hooks/usePageTitle';
import { formatClock, formatNumber, formatScore } from '../lib/format';
import {
  describeDrop,
  formatP,
  formatShare,
  formatWindow,
  isTest,
  METHOD_NAME,
  QUALITY_METRICS,
  qualityStatus,
  sortDrift,
} from '../lib/monitoring';

export const MONITORING_POLL_MS = 5000;

const METRIC_COLORS = ['#4f46e5', '#0891b2'];
const TRAINING_COLOR = '#9ca3af';

/** Served model names, once each, in the order the server lists them. */
function servedNames(models: ReadyModel[]): string[] {
  return [...new Set(models.map((m) => m.name))];
}

function WindowStats({ report }: { report: VersionMonitoring }) {
  const { window, drift, quality } = report;
  const drifted = drift.features.filter((f) => f.drifted).length;
  return (
    <div className="stat-grid">
      <div className="card stat">
        <span className="stat-label">Drift verdict</span>
        <span>
          <StatusBadge status={drift.verdict} />
        </span>
      </div>
      <div className="card stat" data-testid="window-rows">
        <span className="stat-label">Live window</span>
        <span className="stat-value">
          {formatNumber(window.rows)}
          <span className="stat-unit"> rows</span>
        </span>
        <span className="muted small">
          a verdict needs {formatNumber(window.min_rows)} · last {formatWindow(window.window_s)}
          {window.since !== null ? `, since ${formatClock(window.since)}` : ''}
        </span>
      </div>
      <div className="card stat" data-testid="drifted-share">
        <span className="stat-label">Drifted features</span>
        {drift.features.length ? (
          <span className="stat-value">
            {formatShare(drift.drifted_share)}
            <span className="stat-unit">
              {' '}
              {drifted} of {drift.features.length}
            </span>
          </span>
        ) : (
          <span className="stat-value">—</span>
        )}
      </div>
      <div className="card stat">
        <span className="stat-label">Live quality</span>
        <span>
          <StatusBadge status={qualityStatus(quality)} />
        </span>
        <span className="muted small">{formatNumber(quality.labelled)} labelled rows</span>
      </div>
    </div>
  );
}

function DriftTable({ columns, selected, onSelect }: { columns: ColumnDrift[]; selected: string | null; onSelect: (name: string) => void }) {
  const tests = columns.some(isTest);
  return (
    <DataTable caption="Drift by feature" columns={['Feature', 'Method', 'Score', 'Threshold', tests ? 'p-value' : null, 'Verdict']}>
      {columns.map((c) => (
        <tr key={c.name} className={c.name === selected ? 'row-selected' : undefined}>
          <td>
            <button type="button" className="link-button" aria-pressed={c.name === selected} onClick={() => onSelect(c.name)}>
              {c.name}
            </button>
          </td>
          <td>
            {METHOD_NAME[c.method]} <span className="muted small">({c.kind})</span>
          </td>
          <td>{formatScore(c.score)}</td>
          <td>{isTest(c) ? `p < ${c.threshold}` : `> ${c.threshold}`}</td>
          {tests ? <td>{c.p_value !== null ? formatP(c.p_value) : '—'}</td> : null}
          <td>
            <StatusBadge status={c.drifted ? 'drift' : 'no_drift'} />
          </td>
        </tr>
      ))}
    </DataTable>
  );
}

function FeatureDrift({ features }: { features: ColumnDrift[] }) {
  const sorted = useMemo(() => sortDrift(features), [features]);
  const [picked, setPicked] = useState<string | null>(null);
  // The pick survives polls while the feature is still reported; else the most drifted one.
  const selected = sorted.find((f) => f.name === picked) ?? sorted[0];
  if (!selected) return <EmptyState title="No feature of the live window could be compared with the training data." />;
  return (
    <>
      <DriftLegend columns={sorted} />
      <DriftBars columns={sorted} label="Feature drift" selected={selected.name} onSelect={setPicked} />
      <DriftTable columns={sorted} selected={selected.name} onSelect={setPicked} />
      <Histogram key={selected.name} column={selected} label={`Reference vs live: ${selected.name}`} />
    </>
  );
}

function DriftSection({ model, report }: { model: string; report: VersionMonitoring }) {
  const { drift, window } = report;
  if (drift.verdict === 'no_reference') {
    return (
      <Card id="feature-drift-h" title="Feature drift">
        <EmptyState title={`Version ${report.version} has no training reference to compare with.`}>
          It was trained before monitoring existed, so it was logged without the profile of its training data that
          drift is measured against. Train and register a new version of {model} to monitor its drift; live quality
          from feedback works without it.
        </EmptyState>
      </Card>
    );
  }
  if (drift.verdict === 'insufficient_data') {
    return (
      <Card id="feature-drift-h" title="Feature drift">
        <EmptyState title="Not enough live rows for a verdict yet.">
          The window of the last {formatWindow(window.window_s)} holds {formatNumber(window.rows)} of the{' '}
          {formatNumber(window.min_rows)} rows a verdict needs. Every row this version predicts is added to it.
        </EmptyState>
      </Card>
    );
  }
  return (
    <>
      <Card id="feature-drift-h" title="Feature drift" aside={<span className="muted small">{formatNumber(drift.rows)} live rows</span>}>
        <FeatureDrift features={drift.features} />
      </Card>
      {drift.prediction ? (
        <Card id="prediction-drift-h" title="Prediction drift">
          <DriftLegend columns={[drift.prediction]} />
          <DriftBars columns={[drift.prediction]} label="Prediction drift" />
          <Histogram column={drift.prediction} label="Reference vs live: predictions" />
        </Card>
      ) : null}
    </>
  );
}

function QualityChart({ quality }: { quality: Quality }) {
  const { x, series } = useMemo(() => {
    const metrics = QUALITY_METRICS[quality.task];
    const lines: ChartSeries[] = metrics.map((m, i) => ({
      label: `live ${m.label}`,
      color: METRIC_COLORS[i] ?? TRAINING_COLOR,
      values: quality.series.map((p) => p[m.key] ?? null),
    }));
    const primary = metrics[0];
    const baseline = primary ? quality.training[primary.key] : undefined;
    if (primary && baseline !== undefined) {
      lines.push({ label: `training ${primary.label}`, color: TRAINING_COLOR, dash: [6, 4], values: quality.series.map(() => baseline) });
    }
    return { x: quality.series.map((p) => p.t), series: lines };
  }, [quality]);
  return <Chart title="Live quality over time" x={x} series={series} xKind="time" emptyText="No labelled predictions yet." />;
}

function QualitySection({ model, quality, feedback, dropped }: { model: string; quality: Quality; feedback: FeedbackCounts; dropped: number }) {
  const drop = describeDrop(quality);
  return (
    <Card id="quality-h" title="Live quality" aside={<StatusBadge status={qualityStatus(quality)} />}>
      {quality.labelled === 0 ? (
        <EmptyState title="No labelled predictions yet.">
          Send the true labels of earlier predictions to <code>POST /v1/models/{model}/feedback</code>, naming each by
          the <code>X-Prediction-Id</code> header of its answer. Live quality is scored on the latest labelled rows; an
          alarm needs at least {formatNumber(quality.min_labels)}.
        </EmptyState>
      ) : (
        <div className="two-col wide-left">
          <QualityChart quality={quality} />
          <div>
            <DataTable caption="Live and training metrics" columns={['Metric', 'Live', 'Training']}>
              {QUALITY_METRICS[quality.task].map((m) => (
                <tr key={m.key}>
                  <td className="cell-main">{m.label}</td>
                  <td>{formatScore(quality.live[m.key])}</td>
                  <td>{formatScore(quality.training[m.key])}</td>
                </tr>
              ))}
            </DataTable>
            <p className="muted small">
              On the latest {formatNumber(quality.labelled)} labelled rows
              {quality.labelled < quality.min_labels ? `; a verdict needs ${formatNumber(quality.min_labels)}` : ''}.
            </p>
            {drop ? <p className={quality.alarm ? 'field-error' : 'small'}>{drop}</p> : null}
          </div>
        </div>
      )}
      <p className="muted small">
        Labels received for {model}: {formatNumber(feedback.joined)} joined, {formatNumber(feedback.unknown)} unknown,{' '}
        {formatNumber(feedback.expired)} expired.
        {dropped ? ` ${formatNumber(dropped)} predicted rows were not kept for feedback (the prediction log was full or unavailable).` : ''}
      </p>
    </Card>
  );
}

interface ModelMonitoringProps {
  model: string;
  served: ReadyModel[];
  /** The model select, shown beside the version select. */
  picker: ReactNode;
}

function ModelMonitoring({ model, served, picker }: ModelMonitoringProps) {
  const api = useApi();
  const fetchReport = useCallback((signal: AbortSignal) => api.monitoring(model, signal), [api, model]);
  const report = useResource(fetchReport, { pollMs: MONITORING_POLL_MS });
  const [chosen, setChosen] = useState<string | null>(null);
  const versions = report.data?.versions ?? [];
  const current = versions.find((v) => v.version === chosen) ?? versions[0];
  const aliasesOf = (version: string) =>
    served.filter((m) => m.name === model && m.version === version).map((m) => m.alias);

  return (
    <>
      <Card id="monitoring-target-h" title="Model and version" hideTitle>
        <div className="inline-form">
          {picker}
          {versions.length > 1 && current ? (
            <SelectField
              id="monitoring-version"
              label="Version"
              value={current.version}
              options={versions.map((v) => v.version)}
              text={(v) => {
                const aliases = aliasesOf(v);
                return `v${v}${aliases.length ? ` (${aliases.join(', ')})` : ''}`;
              }}
              onChange={setChosen}
            />
          ) : null}
          {versions.length === 1 && current ? <p className="muted small">Version {current.version}</p> : null}
        </div>
      </Card>
      {report.loading ? <Loading label="Loading monitoring…" /> : null}
      {report.error ? <ErrorState error={report.error} onRetry={report.reload} what="monitoring" compact={Boolean(report.data)} /> : null}
      {report.data && !versions.length ? (
        <EmptyState title={`No traffic for ${model} yet.`}>
          Monitoring builds a live window from the predictions the model answers: send it predictions and the drift of
          each version from its training data, and its live quality once labels come back, appear here.
        </EmptyState>
      ) : null}
      {report.data && current ? (
        <>
          <WindowStats report={current} />
          <DriftSection key={current.version} model={model} report={current} />
          <QualitySection model={model} quality={current.quality} feedback={report.data.feedback} dropped={report.data.dropped_rows} />
        </>
      ) : null}
    </>
  );
}

export default function Monitoring() {
  usePageTitle('Monitoring');
  const { name } = useParams();
  const navigate = useNavigate();
  const api = useApi();
  const fetchReady = useCallback((signal: AbortSignal) => api.ready(signal), [api]);
  const ready = useResource(fetchReady);
  const served = useMemo(() => ready.data?.models ?? [], [ready.data]);
  const names = servedNames(served);
  const model = name ?? names[0];

  return (
    <div className="page">
      <PageHeader
        title="Monitoring"
        subtitle="Drift of live traffic from each version's training data, and live quality from the labels sent back. Refreshes every 5 seconds."
      />
      {ready.loading && !name ? <Loading label="Loading the served models…" /> : null}
      {ready.error && !name ? <ErrorState error={ready.error} onRetry={ready.reload} what="the served models" /> : null}
      {ready.data && !model ? (
        <EmptyState title="No model is served.">
          Monitoring watches the models the Serve application serves (<code>args.models</code> in{' '}
          <code>serve_config.yaml</code>).
        </EmptyState>
      ) : null}
      {model ? (
        <div className="stack">
          <ModelMonitoring
            key={model}
            model={model}
            served={served}
            picker={
              <SelectField
                id="monitoring-model"
                label="Model"
                value={model}
                options={names.includes(model) ? names : [model, ...names]}
                onChange={(next) => void navigate(`/monitoring/${encodeURIComponent(next)}`)}
              />
            }
          />
        </div>
      ) : null}
    </div>
  );
}
