/**
 * Benchmark: a serving load test and a sequential-vs-parallel training comparison, each run
 * as a Ray job; finished runs land in the results, shown as charts and a table.
 */
import { useCallback, useMemo, useState, type FormEvent } from 'react';
import { Link } from 'react-router-dom';
import type { BenchmarkBody, BenchmarkResult, JobDetail, RegisteredModel, ServingSummary, TrainingSummary } from '../api/types';
import { useApi } from '../auth/context';
import { StatusBadge } from '../components/Badges';
import { Chart } from '../components/Chart';
import { EmptyState, ErrorState, Loading } from '../components/Feedback';
import { PageHeader } from '../components/Layout';
import { useResource } from '../hooks/useResource';
import { usePageTitle } from '../hooks/usePageTitle';
import { formatDuration, formatMs, formatNumber, formatScore, formatTime, formatValue } from '../lib/format';
import { isActive, jobPath } from '../lib/jobs';

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

function ServingForm({ models, onSubmitted }: { models: RegisteredModel[]; onSubmitted: (jobId: string) => void }) {
  const api = useApi();
  const [modelName, setModelName] = useState<string | null>(null);
  const [alias, setAlias] = useState<string | null>(null);
  const [duration, setDuration] = useState('10');
  const [concurrency, setConcurrency] = useState('4');
  const [rows, setRows] = useState('1');
  const [problem, setProblem] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const model = models.find((m) => m.name === modelName) ?? models.find((m) => m.aliases.champion) ?? models[0];
  const aliases = Object.keys(model?.aliases ?? {});
  const aliasOptions = aliases.length ? aliases : ['champion'];
  const chosenAlias = alias && aliasOptions.includes(alias) ? alias : aliasOptions.includes('champion') ? 'champion' : (aliasOptions[0] ?? 'champion');

  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setError(null);
    const durationS = Number(duration);
    const conc = positiveInt(concurrency);
    const perRequest = positiveInt(rows);
    if (!model) return setProblem('Register a model first: the load test calls a served model.');
    if (!Number.isFinite(durationS) || durationS <= 0 || durationS > 600)
      return setProblem('Duration must be between 1 and 600 seconds.');
    if (!conc || conc > 256) return setProblem('Concurrency must be a whole number from 1 to 256.');
    if (!perRequest || perRequest > 10000) return setProblem('Rows per request must be a whole number from 1 to 10000.');
    setProblem(null);
    const body: BenchmarkBody = {
      kind: 'serving',
      model: model.name,
      alias: chosenAlias,
      duration_s: durationS,
      concurrency: conc,
      rows_per_request: perRequest,
    };
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
      <div className="form-grid">
        <div className="field">
          <label htmlFor="bench-model">Model</label>
          <select id="bench-model" value={model?.name ?? ''} onChange={(e) => setModelName(e.target.value)} disabled={!models.length}>
            {models.map((m) => (
              <option key={m.name} value={m.name}>
                {m.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="bench-alias">Alias</label>
          <select id="bench-alias" value={chosenAlias} onChange={(e) => setAlias(e.target.value)}>
            {aliasOptions.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </div>
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
      </div>
      {problem ? (
        <p className="field-error" role="alert">
          {problem}
        </p>
      ) : null}
      {error ? <ErrorState error={error} /> : null}
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={busy || !models.length}>
          {busy ? 'Submitting…' : 'Run load test'}
        </button>
      </div>
    </form>
  );
}

function TrainingForm({ datasets, onSubmitted }: { datasets: string[]; onSubmitted: (jobId: string) => void }) {
  const api = useApi();
  const [dataset, setDataset] = useState<string | null>(null);
  const [nConfigs, setNConfigs] = useState('8');
  const [problem, setProblem] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const chosen = dataset ?? datasets[0] ?? '';

  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setError(null);
    const n = positiveInt(nConfigs);
    if (!chosen) return setProblem('Choose a dataset.');
    if (!n || n < 2 || n > 200) return setProblem('Number of configurations must be a whole number from 2 to 200.');
    setProblem(null);
    setBusy(true);
    try {
      onSubmitted((await api.submitBenchmark({ kind: 'training', dataset: chosen, n_configs: n })).job_id);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={(e) => void onSubmit(e)} noValidate>
      <div className="form-grid">
        <div className="field">
          <label htmlFor="bench-dataset">Dataset</label>
          <select id="bench-dataset" value={chosen} onChange={(e) => setDataset(e.target.value)}>
            {datasets.map((d) => (
              <option key={d} value={d}>
                {d}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="bench-n">Number of configurations</label>
          <input id="bench-n" type="number" min={2} max={200} step={1} value={nConfigs} onChange={(e) => setNConfigs(e.target.value)} />
        </div>
      </div>
      {problem ? (
        <p className="field-error" role="alert">
          {problem}
        </p>
      ) : null}
      {error ? <ErrorState error={error} /> : null}
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={busy || !datasets.length}>
          {busy ? 'Submitting…' : 'Run comparison'}
        </button>
      </div>
    </form>
  );
}

function runLabel(r: BenchmarkResult, i: number): string {
  return `#${i + 1} ${shortTime(r.created_at)}`;
}

function ServingCharts({ runs }: { runs: ServingResult[] }) {
  const [picked, setPicked] = useState<string | null>(null);
  const latest = runs[runs.length - 1];
  const selected = runs.find((r) => r.id === picked) ?? latest;
  const throughput = useMemo(
    () => ({
      x: runs.map((_, i) => i),
      categories: runs.map(runLabel),
      series: [{ label: 'throughput', color: '#4f46e5', values: runs.map((r) => r.summary.throughput_rps ?? null) }],
    }),
    [runs],
  );
  const s: Partial<ServingSummary> = selected?.summary ?? {};
  const latency = {
    x: [0, 1, 2],
    categories: ['p50', 'p90', 'p99'],
    series: [{ label: 'latency', color: '#d97706', values: [s.p50_ms ?? null, s.p90_ms ?? null, s.p99_ms ?? null] }],
  };
  return (
    <div className="chart-grid two">
      <Chart title="Throughput per load test" kind="bars" xKind="category" unit="req/s" yFromZero {...throughput} />
      <div>
        <Chart title="Latency percentiles" kind="bars" xKind="category" unit="ms" yFromZero {...latency} />
        {runs.length > 1 ? (
          <div className="field inline-field">
            <label htmlFor="serving-run">Serving run</label>
            <select id="serving-run" value={selected?.id ?? ''} onChange={(e) => setPicked(e.target.value)}>
              {runs.map((r, i) => (
                <option key={r.id} value={r.id}>
                  {runLabel(r, i)}
                </option>
              ))}
            </select>
          </div>
        ) : null}
      </div>
    </div>
  );
}

function TrainingCharts({ runs }: { runs: TrainingResult[] }) {
  const [picked, setPicked] = useState<string | null>(null);
  const selected = runs.find((r) => r.id === picked) ?? runs[runs.length - 1];
  const speedup = {
    x: runs.map((_, i) => i),
    categories: runs.map(runLabel),
    series: [{ label: 'speed-up', color: '#059669', values: runs.map((r) => r.summary.speedup ?? null) }],
  };
  const t: Partial<TrainingSummary> = selected?.summary ?? {};
  const times = {
    x: [0, 1],
    categories: ['sequential', 'parallel'],
    series: [{ label: 'wall time', color: '#0891b2', values: [t.sequential_s ?? null, t.parallel_s ?? null] }],
  };
  return (
    <div className="chart-grid two">
      <Chart title="Speed-up of parallel training" kind="bars" xKind="category" unit="×" yFromZero {...speedup} />
      <div>
        <Chart title="Sequential vs parallel time" kind="bars" xKind="category" unit="s" yFromZero {...times} />
        {runs.length > 1 ? (
          <div className="field inline-field">
            <label htmlFor="training-run">Training run</label>
            <select id="training-run" value={selected?.id ?? ''} onChange={(e) => setPicked(e.target.value)}>
              {runs.map((r, i) => (
                <option key={r.id} value={r.id}>
                  {runLabel(r, i)}
                </option>
              ))}
            </select>
          </div>
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
    <div className="table-wrap">
      <table className="table">
        <caption className="sr-only">Past benchmark results</caption>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Kind</th>
            <th scope="col">Settings</th>
            <th scope="col">Result</th>
          </tr>
        </thead>
        <tbody>
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
        </tbody>
      </table>
    </div>
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
        <section className="card" aria-labelledby="serving-h">
          <h2 id="serving-h" className="card-title">
            Serving load test
          </h2>
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
        </section>
        <section className="card" aria-labelledby="parallel-h">
          <h2 id="parallel-h" className="card-title">
            Parallel training comparison
          </h2>
          <p className="muted small">Fits the same configurations one after another, then in parallel with Ray Tune.</p>
          {catalog.error ? <ErrorState error={catalog.error} onRetry={catalog.reload} what="the datasets" compact /> : null}
          {catalog.loading ? <Loading label="Loading datasets…" /> : null}
          {catalog.data ? (
            <TrainingForm datasets={catalog.data.builtin_datasets.map((d) => d.name)} onSubmitted={setTrainingJob} />
          ) : null}
          {trainingJob ? <JobTracker key={trainingJob} jobId={trainingJob} label="Comparison" onFinished={onFinished} /> : null}
        </section>
      </div>

      <section className="card" aria-labelledby="results-h">
        <h2 id="results-h" className="card-title">
          Results
        </h2>
        {results.loading ? <Loading label="Loading results…" /> : null}
        {results.error ? <ErrorState error={results.error} onRetry={results.reload} what="benchmark results" /> : null}
        {results.data && results.data.length === 0 ? (
          <EmptyState title="No benchmark has run yet.">Run a load test or a comparison above; results appear here when the job ends.</EmptyState>
        ) : null}
        {serving.length ? (
          <>
            <h3 className="subhead">Serving</h3>
            <ServingCharts runs={serving} />
          </>
        ) : null}
        {training.length ? (
          <>
            <h3 className="subhead">Training</h3>
            <TrainingCharts runs={training} />
          </>
        ) : null}
        {newestFirst.length ? (
          <>
            <h3 className="subhead">All runs</h3>
            <ResultsTable results={newestFirst} />
          </>
        ) : null}
      </section>
    </div>
  );
}
