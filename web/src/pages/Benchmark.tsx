/**
 * Benchmark: a serving load test and a sequential-vs-parallel training comparison, each run
 * as a Ray job; finished runs land in the results, shown as charts and a table.
 */
import { useCallback, useMemo, useState, type FormEvent, type ReactNode } from 'react';
import { Link } from 'react-router-dom';
import type { BenchmarkBody, BenchmarkResult, JobDetail, RegisteredModel, ServingSummary, TrainingSummary } from '../api/types';
import { useApi } from '../auth/context';
import { StatusBadge } from '../components/Badges';
import { Card } from '../components/Card';
import { Chart } from '../components/Chart';
import { DataTable } from '../components/DataTable';
import { EmptyState, ErrorState, Loading } from '../components/Feedback';
import { FormActions, SelectField } from '../components/Form';
import { PageHeader } from '../components/Layout';
import { useResource } from '../hooks/useResource';
import { usePageTitle } from '../hooks/usePageTitle';
import { formatDuration, formatMs, formatNumber, formatScore, formatTime, formatValue } from '../lib/format';
import { isActive, jobPath } from '../lib/jobs';
import { pickModel } from '../lib/models';

export const BENCH_POLL_MS = 2000;

type ServingResult = Extract<BenchmarkResult, { kind: 'serving' }>;
type TrainingResult = Extract<BenchmarkResult, { kind: 'training' }>;

const stillRunning = (job: JobDetail) => isActive(job.status);

function shortTime(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

function settingsText(settings: Record<string, unknown>): string {
  const entries = Object.entries(settings).filter(([k]) => k !== 'kind');
  return entries.length ? entries.map(([k, v]) => `${k}=${formatValue(v)}`).join(', ') : '—';
}

/** Follows one submitted benchmark job until it ends, then tells the page to reload results. */
function JobTracker({ jobId, label, onFinished }: { jobId: string; label: string; onFinished: () => void }) {
  const api = useApi();
  const fetchJob = useCallback(
    async (signal: AbortSignal) => {
      const job = await api.job(jobId, signal);
      if (!isActive(job.status)) onFinished();
      return job;
    },
    [api, jobId, onFinished],
  );
  const job = useResource(fetchJob, { pollMs: BENCH_POLL_MS, pollWhile: stillRunning });
  const d = job.data;
  return (
    <div className="tracker" role="status" aria-live="polite">
      <span>
        {label}: {d ? <StatusBadge status={d.status} /> : 'submitted'}
      </span>
      {d && isActive(d.status) ? <span className="live-dot" aria-hidden="true" /> : null}
      {d?.status === 'FAILED' && d.message ? <span className="field-error">{d.message}</span> : null}
      {d?.status === 'SUCCEEDED' ? <span className="muted small">Results updated below.</span> : null}
      <Link to={jobPath(jobId)} className="small">
        Job details
      </Link>
      {job.error ? <ErrorState error={job.error} compact /> : null}
    </div>
  );
}

function positiveInt(value: string): number | null {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 ? n : null;
}

interface BenchmarkFormProps {
  /** The request to send, or what to fix first. */
  check: () => BenchmarkBody | string;
  /** The submit button's text. */
  action: string;
  disabled: boolean;
  onSubmitted: (jobId: string) => void;
  children: ReactNode;
}

/** A benchmark's settings form: checks them, submits the benchmark as a Ray job and shows what went wrong. */
function BenchmarkForm({ check, action, disabled, onSubmitted, children }: BenchmarkFormProps) {
  const api = useApi();
  const [problem, setProblem] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setError(null);
    const body = check();
    if (typeof body === 'string') return setProblem(body);
    setProblem(null);
    setBusy(true);
    try {
      onSubmitted((await api.submitBenchmark(body)).job_id);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={(e) => void onSubmit(e)} noValidate>
      <div className="form-grid">{children}</div>
      {problem ? (
        <p className="field-error" role="alert">
          {problem}
        </p>
      ) : null}
      {error ? <ErrorState error={error} /> : null}
      <FormActions label={action} busyLabel="Submitting…" busy={busy} disabled={disabled} />
    </form>
  );
}

function ServingForm({ models, onSubmitted }: { models: RegisteredModel[]; onSubmitted: (jobId: string) => void }) {
  const [modelName, setModelName] = useState<string | null>(null);
  const [alias, setAlias] = useState<string | null>(null);
  const [duration, setDuration] = useState('10');
  const [concurrency, setConcurrency] = useState('4');
  const [rows, setRows] = useState('1');

  const model = pickModel(models, modelName);
  const aliases = Object.keys(model?.aliases ?? {});
  const aliasOptions = aliases.length ? aliases : ['champion'];
  const chosenAlias = alias && aliasOptions.includes(alias) ? alias : aliasOptions.includes('champion') ? 'champion' : (aliasOptions[0] ?? 'champion');

  const check = (): BenchmarkBody | string => {
    const durationS = Number(duration);
    const conc = positiveInt(concurrency);
    const perRequest = positiveInt(rows);
    if (!model) return 'Register a model first: the load test calls a served model.';
    if (!Number.isFinite(durationS) || durationS <= 0 || durationS > 600) return 'Duration must be between 1 and 600 seconds.';
    if (!conc || conc > 256) return 'Concurrency must be a whole number from 1 to 256.';
    if (!perRequest || perRequest > 10000) return 'Rows per request must be a whole number from 1 to 10000.';
    return {
      kind: 'serving',
      model: model.name,
      alias: chosenAlias,
      duration_s: durationS,
      concurrency: conc,
      rows_per_request: perRequest,
    };
  };

  return (
    <BenchmarkForm check={check} action="Run load test" disabled={!models.length} onSubmitted={onSubmitted}>
      <SelectField
        id="bench-model"
        label="Model"
        value={model?.name ?? ''}
        options={models.map((m) => m.name)}
        onChange={setModelName}
        disabled={!models.length}
      />
      <SelectField id="bench-alias" label="Alias" value={chosenAlias} options={aliasOptions} onChange={setAlias} />
      <div className="field">
        <label htmlFor="bench-duration">Duration (s)</label>
        <input id="bench-duration" type="number" min={1} max={600} step={1} value={duration} onChange={(e) => setDuration(e.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="bench-concurrency">Concurrency</label>
        <input id="bench-concurrency" type="number" min={1} max={256} step={1} value={concurrency} onChange={(e) => setConcurrency(e.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="bench-rows">Rows per request</label>
        <input id="bench-rows" type="number" min={1} max={10000} step={1} value={rows} onChange={(e) => setRows(e.target.value)} />
      </div>
    </BenchmarkForm>
  );
}

function TrainingForm({ datasets, onSubmitted }: { datasets: string[]; onSubmitted: (jobId: string) => void }) {
  const [dataset, setDataset] = useState<string | null>(null);
  const [nConfigs, setNConfigs] = useState('8');
  const chosen = dataset ?? datasets[0] ?? '';

  const check = (): BenchmarkBody | string => {
    const n = positiveInt(nConfigs);
    if (!chosen) return 'Choose a dataset.';
    if (!n || n < 2 || n > 200) return 'Number of configurations must be a whole number from 2 to 200.';
    return { kind: 'training', dataset: chosen, n_configs: n };
  };

  return (
    <BenchmarkForm check={check} action="Run comparison" disabled={!datasets.length} onSubmitted={onSubmitted}>
      <SelectField id="bench-dataset" label="Dataset" value={chosen} options={datasets} onChange={setDataset} />
      <div className="field">
        <label htmlFor="bench-n">Number of configurations</label>
        <input id="bench-n" type="number" min={2} max={200} step={1} value={nConfigs} onChange={(e) => setNConfigs(e.target.value)} />
      </div>
    </BenchmarkForm>
  );
}

function runLabel(r: BenchmarkResult, i: number): string {
  return `#${i + 1} ${shortTime(r.created_at)}`;
}

interface BarsProps {
  title: string;
  unit: string;
  /** The series' name and colour. */
  label: string;
  color: string;
  /** One bar per category. */
  categories: string[];
  values: (number | null)[];
}

/** A bar chart of one series, starting at zero. */
function Bars({ title, unit, label, color, categories, values }: BarsProps) {
  return (
    <Chart
      title={title}
      kind="bars"
      xKind="category"
      unit={unit}
      yFromZero
      x={categories.map((_, i) => i)}
      categories={categories}
      series={[{ label, color, values }]}
    />
  );
}

function throughputBars(runs: ServingResult[]): BarsProps {
  const values = runs.map((r) => r.summary.throughput_rps ?? null);
  return { title: 'Throughput per load test', unit: 'req/s', label: 'throughput', color: '#4f46e5', categories: runs.map(runLabel), values };
}

function latencyBars(run: ServingResult | undefined): BarsProps {
  const s: Partial<ServingSummary> = run?.summary ?? {};
  const values = [s.p50_ms ?? null, s.p90_ms ?? null, s.p99_ms ?? null];
  return { title: 'Latency percentiles', unit: 'ms', label: 'latency', color: '#d97706', categories: ['p50', 'p90', 'p99'], values };
}

function speedupBars(runs: TrainingResult[]): BarsProps {
  const values = runs.map((r) => r.summary.speedup ?? null);
  return { title: 'Speed-up of parallel training', unit: '×', label: 'speed-up', color: '#059669', categories: runs.map(runLabel), values };
}

function timeBars(run: TrainingResult | undefined): BarsProps {
  const t: Partial<TrainingSummary> = run?.summary ?? {};
  const values = [t.sequential_s ?? null, t.parallel_s ?? null];
  return { title: 'Sequential vs parallel time', unit: 's', label: 'wall time', color: '#0891b2', categories: ['sequential', 'parallel'], values };
}

interface RunChartsProps<R extends BenchmarkResult> {
  runs: R[];
  /** Id and label of the select that picks the run shown in detail. */
  pickId: string;
  pickLabel: string;
  /** The chart over all runs. */
  overall: BarsProps;
  /** The chart of the picked run. */
  detail: (run: R | undefined) => BarsProps;
}

/** A chart over all runs of one kind, beside the chart of one run picked from a select (the latest by default). */
function RunCharts<R extends BenchmarkResult>({ runs, pickId, pickLabel, overall, detail }: RunChartsProps<R>) {
  const [picked, setPicked] = useState<string | null>(null);
  const selected = runs.find((r) => r.id === picked) ?? runs[runs.length - 1];
  const labels = runs.map(runLabel);
  return (
    <div className="chart-grid two">
      <Bars {...overall} />
      <div>
        <Bars {...detail(selected)} />
        {runs.length > 1 ? (
          <SelectField
            className="field inline-field"
            id={pickId}
            label={pickLabel}
            value={selected?.id ?? ''}
            options={runs.map((r) => r.id)}
            text={(_, i) => labels[i] ?? ''}
            onChange={setPicked}
          />
        ) : null}
      </div>
    </div>
  );
}

function Summary({ result }: { result: BenchmarkResult }) {
  if (result.kind === 'serving') {
    const s = result.summary;
    return (
      <span>
        <strong>{formatNumber(s.throughput_rps, 1)} req/s</strong> ({formatNumber(s.rows_per_s, 0)} rows/s), p50 {formatMs(s.p50_ms)}, p90{' '}
        {formatMs(s.p90_ms)}, p99 {formatMs(s.p99_ms)}, {formatNumber(s.errors)} {s.errors === 1 ? 'error' : 'errors'} /{' '}
        {formatNumber(s.requests)} requests
      </span>
    );
  }
  const s = result.summary;
  return (
    <span>
      <strong>{s.speedup != null ? `${s.speedup.toFixed(2)}× faster` : '—'}</strong>: sequential {formatDuration(s.sequential_s)}, parallel{' '}
      {formatDuration(s.parallel_s)}, {formatNumber(s.n_configs)} configurations, best score {formatScore(s.best_score_parallel)}
    </span>
  );
}

function ResultsTable({ results }: { results: BenchmarkResult[] }) {
  return (
    <DataTable caption="Past benchmark results" columns={['When', 'Kind', 'Settings', 'Result']}>
      {results.map((r) => (
        <tr key={r.id}>
          <td className="nowrap">{formatTime(r.created_at)}</td>
          <td>{r.kind}</td>
          <td className="mono small">{settingsText(r.settings)}</td>
          <td>
            <Summary result={r} />
          </td>
        </tr>
      ))}
    </DataTable>
  );
}

export default function Benchmark() {
  usePageTitle('Benchmark');
  const api = useApi();
  const fetchResults = useCallback((signal: AbortSignal) => api.benchmarks(signal), [api]);
  const fetchModels = useCallback((signal: AbortSignal) => api.models(signal), [api]);
  const fetchCatalog = useCallback((signal: AbortSignal) => api.catalog(signal), [api]);
  const results = useResource(fetchResults);
  const models = useResource(fetchModels);
  const catalog = useResource(fetchCatalog);
  const [servingJob, setServingJob] = useState<string | null>(null);
  const [trainingJob, setTrainingJob] = useState<string | null>(null);
  const reloadResults = results.reload;
  const onFinished = useCallback(() => reloadResults(), [reloadResults]);

  const ordered = useMemo(() => [...(results.data ?? [])].sort((a, b) => a.created_at - b.created_at), [results.data]);
  const serving = ordered.filter((r): r is ServingResult => r.kind === 'serving');
  const training = ordered.filter((r): r is TrainingResult => r.kind === 'training');
  const newestFirst = [...ordered].reverse();

  return (
    <div className="page">
      <PageHeader title="Benchmark" subtitle="Measure the serving path under load and the gain of training in parallel on Ray." />
      <div className="two-col">
        <Card id="serving-h" title="Serving load test">
          <p className="muted small">
            Sends concurrent prediction requests to a served model for a fixed time. Runs as a Ray job; its result
            appears below when it ends.
          </p>
          {models.error ? <ErrorState error={models.error} onRetry={models.reload} what="the registered models" compact /> : null}
          {models.loading ? <Loading label="Loading models…" /> : null}
          {models.data ? (
            models.data.length ? (
              <ServingForm models={models.data} onSubmitted={setServingJob} />
            ) : (
              <EmptyState title="No registered model to load-test yet." />
            )
          ) : null}
          {servingJob ? <JobTracker key={servingJob} jobId={servingJob} label="Load test" onFinished={onFinished} /> : null}
        </Card>
        <Card id="parallel-h" title="Parallel training comparison">
          <p className="muted small">Fits the same configurations one after another, then in parallel with Ray Tune.</p>
          {catalog.error ? <ErrorState error={catalog.error} onRetry={catalog.reload} what="the datasets" compact /> : null}
          {catalog.loading ? <Loading label="Loading datasets…" /> : null}
          {catalog.data ? (
            <TrainingForm datasets={catalog.data.builtin_datasets.map((d) => d.name)} onSubmitted={setTrainingJob} />
          ) : null}
          {trainingJob ? <JobTracker key={trainingJob} jobId={trainingJob} label="Comparison" onFinished={onFinished} /> : null}
        </Card>
      </div>

      <Card id="results-h" title="Results">
        {results.loading ? <Loading label="Loading results…" /> : null}
        {results.error ? <ErrorState error={results.error} onRetry={results.reload} what="benchmark results" /> : null}
        {results.data && results.data.length === 0 ? (
          <EmptyState title="No benchmark has run yet.">Run a load test or a comparison above; results appear here when the job ends.</EmptyState>
        ) : null}
        {serving.length ? (
          <>
            <h3 className="subhead">Serving</h3>
            <RunCharts runs={serving} pickId="serving-run" pickLabel="Serving run" overall={throughputBars(serving)} detail={latencyBars} />
          </>
        ) : null}
        {training.length ? (
          <>
            <h3 className="subhead">Training</h3>
            <RunCharts runs={training} pickId="training-run" pickLabel="Training run" overall={speedupBars(training)} detail={timeBars} />
          </>
        ) : null}
        {newestFirst.length ? (
          <>
            <h3 className="subhead">All runs</h3>
            <ResultsTable results={newestFirst} />
          </>
        ) : null}
      </Card>
    </div>
  );
}
