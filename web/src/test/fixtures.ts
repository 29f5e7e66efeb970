/** Realistic API answers, shaped exactly like the contract, for the component tests. */
import type {
  AuditEntry,
  BenchmarkResult,
  Catalog,
  ColumnDrift,
  ClusterInfo,
  Job,
  JobDetail,
  ModelSchema,
  ModelVersion,
  Monitoring,
  PredictResponse,
  RegisteredModel,
  Schedule,
  ScheduleRun,
  ShippedConfig,
  TimeSeries,
} from '../api/types';

const GiB = 1024 ** 3;
export const NOW = 1_750_000_000;

export const trainJob: Job = {
  job_id: 'raysubmit_abc123',
  status: 'RUNNING',
  kind: 'train',
  name: 'iris sweep',
  entrypoint: 'python -m jobs.train configs/train/iris.yaml',
  start_time: NOW - 90,
  end_time: null,
  message: '',
};

export const finishedJob: Job = {
  job_id: 'raysubmit_old999',
  status: 'SUCCEEDED',
  kind: 'benchmark',
  name: 'serving load test',
  entrypoint: 'python -m jobs.benchmark',
  start_time: NOW - 4000,
  end_time: NOW - 3900,
  message: 'done',
};

export const cluster: ClusterInfo = {
  nodes: [
    {
      node_id: 'a1b2c3d4e5f6a7b8c9d0',
      address: '127.0.0.1',
      alive: true,
      cpus_total: 2,
      cpus_used: 1.5,
      memory_total_bytes: 24 * GiB,
      memory_used_bytes: 6 * GiB,
      object_store_total_bytes: 1 * GiB,
      object_store_used_bytes: 0.25 * GiB,
      resources: { CPU: 2 },
    },
  ],
  totals: {
    cpus_total: 2,
    cpus_used: 1.5,
    memory_total_bytes: 24 * GiB,
    memory_used_bytes: 6 * GiB,
    object_store_total_bytes: 1 * GiB,
    object_store_used_bytes: 0.25 * GiB,
  },
  serve: {
    applications: [
      {
        name: 'rayline',
        status: 'RUNNING',
        message: '',
        deployments: [
          { name: 'Ingress', status: 'HEALTHY', replicas_running: 1, replicas_target: 1, message: '' },
          { name: 'Predictor', status: 'UPDATING', replicas_running: 1, replicas_target: 2, message: 'scaling up' },
        ],
      },
    ],
  },
  jobs: [trainJob, finishedJob],
  links: { ray_dashboard: 'http://127.0.0.1:8265', mlflow: 'http://127.0.0.1:5050' },
};

export const timeseries: TimeSeries = {
  interval_s: 10,
  points: [
    { t: NOW - 20, requests_per_s: 3, errors_per_s: 0, p50_ms: 4.2, p99_ms: 12 },
    { t: NOW - 10, requests_per_s: 5, errors_per_s: 0.5, p50_ms: 5, p99_ms: 20 },
    { t: NOW, requests_per_s: 4, errors_per_s: 0, p50_ms: null, p99_ms: null },
  ],
  totals: { requests: 120, errors: 5 },
  by_model: [{ model: 'iris', version: '3', requests: 120, errors: 5, p50_ms: 4.6, p99_ms: 18 }],
};

export const catalog: Catalog = {
  families: {
    classification: ['random_forest', 'gradient_boosting', 'logistic_regression', 'svm', 'knn'],
    regression: ['random_forest', 'gradient_boosting', 'ridge'],
  },
  builtin_datasets: [
    { name: 'iris', task: 'classification', target: 'target' },
    { name: 'wine', task: 'classification', target: 'target' },
    { name: 'diabetes', task: 'regression', target: 'target' },
  ],
  metrics: {
    classification: ['accuracy', 'f1_macro', 'roc_auc_ovr'],
    regression: ['r2', 'neg_root_mean_squared_error'],
  },
};

export const configs: ShippedConfig[] = [
  {
    name: 'iris',
    yaml: 'name: iris\ndataset:\n  source: iris\n',
    spec: {
      name: 'iris',
      dataset: { source: 'iris', target: 'target', task: 'classification' },
      search: { algorithm: 'random', num_samples: 12, cpus_per_trial: 1, metric: 'accuracy' },
      estimators: { random_forest: { n_estimators: [50, 100] }, logistic_regression: {} },
    },
  },
  {
    name: 'diabetes',
    yaml: 'name: diabetes\n',
    spec: {
      name: 'diabetes',
      dataset: { source: 'diabetes', target: 'target', task: 'regression' },
      search: { algorithm: 'grid', num_samples: 1, cpus_per_trial: 0.5, metric: null },
      estimators: { ridge: { alpha: { loguniform: [0.001, 10] } } },
    },
  },
];

export function jobDetail(overrides: Partial<JobDetail> = {}): JobDetail {
  return {
    ...trainJob,
    progress: { trials_done: 3, trials_total: 10, best_score: 0.9467, metric: 'accuracy' },
    trials: [
      { trial: 0, family: 'random_forest', params: { n_estimators: 50 }, score: 0.94, score_std: 0.02, fit_time_s: 1.2, status: 'done' },
      { trial: 1, family: 'logistic_regression', params: { C: 1.5 }, score: 0.9467, score_std: 0.01, fit_time_s: 0.3, status: 'done' },
      { trial: 2, family: 'random_forest', params: { n_estimators: 100 }, score: 0.92, score_std: 0.03, fit_time_s: 2.1, status: 'done' },
    ],
    mlflow_run_url: 'http://127.0.0.1:5050/#/experiments/1/runs/r1',
    result: null,
    ...overrides,
  };
}

export const models: RegisteredModel[] = [
  {
    name: 'iris',
    description: 'Iris species classifier',
    aliases: { champion: '2', challenger: '3' },
    latest_version: '3',
    updated_at: NOW,
  },
  { name: 'diabetes', description: '', aliases: { champion: '1' }, latest_version: '1', updated_at: NOW - 100 },
];

export const irisVersions: ModelVersion[] = [
  { version: '1', created_at: NOW - 3000, run_id: 'r1', aliases: [], metrics: { accuracy: 0.9 }, family: 'knn', status: 'READY' },
  { version: '2', created_at: NOW - 2000, run_id: 'r2', aliases: ['champion'], metrics: { accuracy: 0.9333 }, family: 'random_forest', status: 'READY' },
  { version: '3', created_at: NOW - 1000, run_id: 'r3', aliases: ['challenger'], metrics: { accuracy: 0.9667, f1_macro: 0.966 }, family: 'logistic_regression', status: 'READY' },
];

export const schema: ModelSchema = {
  name: 'iris',
  alias: 'champion',
  version: '2',
  task: 'classification',
  inputs: [
    { name: 'sepal length (cm)', type: 'double', required: true },
    { name: 'petal count', type: 'long', required: true },
    { name: 'colour', type: 'string', required: false },
    { name: 'wild', type: 'boolean', required: false },
  ],
  input_example: { 'sepal length (cm)': 5.1, 'petal count': 3, colour: 'blue', wild: true },
  classes: ['setosa', 'versicolor', 'virginica'],
  probabilities: true,
};

export const prediction: PredictResponse = {
  model: 'iris',
  alias: 'champion',
  version: '2',
  predictions: ['setosa'],
  probabilities: [[0.82, 0.15, 0.03]],
  classes: ['setosa', 'versicolor', 'virginica'],
};

export const benchmarks: BenchmarkResult[] = [
  {
    id: 'b1',
    kind: 'serving',
    created_at: NOW - 500,
    settings: { model: 'iris', alias: 'champion', duration_s: 10, concurrency: 4, rows_per_request: 1 },
    summary: { throughput_rps: 250.5, rows_per_s: 250.5, p50_ms: 6.5, p90_ms: 11, p99_ms: 30, errors: 0, requests: 2505 },
  },
  {
    id: 'b2',
    kind: 'training',
    created_at: NOW - 400,
    settings: { dataset: 'wine', n_configs: 8 },
    summary: { sequential_s: 40, parallel_s: 22, speedup: 1.82, n_configs: 8, best_score_sequential: 0.97, best_score_parallel: 0.97 },
  },
  {
    id: 'b3',
    kind: 'serving',
    created_at: NOW - 100,
    settings: { model: 'iris', alias: 'champion', duration_s: 10, concurrency: 8, rows_per_request: 10 },
    summary: { throughput_rps: 410, rows_per_s: 4100, p50_ms: 9, p90_ms: 15, p99_ms: 41, errors: 2, requests: 4100 },
  },
];

export function scheduleRun(overrides: Partial<ScheduleRun> = {}): ScheduleRun {
  return {
    id: 7,
    schedule: 'nightly-iris',
    submission_id: 'nightly-iris-202506150200',
    scheduled_time: NOW - 7200,
    trigger: 'cron',
    attempt: 0,
    status: 'succeeded',
    outcome: 'promoted',
    step: null,
    error: null,
    created_at: NOW - 7200,
    started_at: NOW - 7195,
    ended_at: NOW - 7000,
    model: 'iris',
    version: '4',
    score: 0.9733,
    champion_score: 0.9667,
    metric: 'accuracy',
    mlflow_run_id: 'r4',
    mlflow_run_url: 'http://127.0.0.1:5050/#/experiments/1/runs/r4',
    ...overrides,
  };
}

export const failedRun: ScheduleRun = scheduleRun({
  id: 9,
  schedule: 'hourly-wine',
  submission_id: 'hourly-wine-202506151500-r1',
  trigger: 'retry',
  attempt: 1,
  status: 'failed',
  outcome: 'failed',
  step: 'load',
  error: "dataset source 's3://data/wine.csv': no such key",
  model: null,
  version: null,
  score: null,
  champion_score: null,
  metric: null,
  mlflow_run_id: null,
  mlflow_run_url: null,
});

export const nightly: Schedule = {
  name: 'nightly-iris',
  spec: { name: 'nightly-iris', config: 'iris', cron: '0 2 * * *', timezone: 'UTC' },
  source: 'api',
  paused: false,
  description: 'every day at 02:00 UTC',
  next_fire: NOW + 3600,
  last_fire: NOW - 7200,
  last_run: scheduleRun(),
};

export const hourly: Schedule = {
  name: 'hourly-wine',
  spec: { name: 'hourly-wine', config: 'wine', every: '1h', max_retries: 2 },
  source: 'config',
  paused: false,
  description: 'every 1h',
  next_fire: NOW + 600,
  last_fire: NOW - 3000,
  last_run: failedRun,
};

export const onNewData: Schedule = {
  name: 'houses-on-data',
  spec: { name: 'houses-on-data', config: 'diabetes', on_new_data: { source: 's3://data/houses/', settle_s: 30 } },
  source: 'api',
  paused: true,
  description: 'when s3://data/houses/ changes (settled 30 s)',
  next_fire: null,
  last_fire: null,
  last_run: null,
};

// --- monitoring -------------------------------------------------------------------------

const QUARTILES = ['< 5.1', '5.1 - 5.8', '5.8 - 6.4', '>= 6.4'];

/** One column's drift; shares default to a reference spread evenly and a live window that is not. */
export function columnDrift(overrides: Partial<ColumnDrift> & Pick<ColumnDrift, 'name'>): ColumnDrift {
  return {
    kind: 'numeric',
    method: 'psi',
    score: 0.02,
    threshold: 0.1,
    p_value: null,
    drifted: false,
    bins: QUARTILES,
    reference: [0.25, 0.25, 0.25, 0.25],
    live: [0.27, 0.24, 0.25, 0.24],
    ...overrides,
  };
}

/** iris version 3: 1200 rows in the window, two of four features and the predictions drifted; quality alarm. */
export const driftedIris: Monitoring = {
  model: 'iris',
  versions: [
    {
      version: '3',
      window: { rows: 1200, since: NOW - 1800, window_s: 3600, min_rows: 100 },
      drift: {
        verdict: 'drift',
        rows: 1200,
        drifted_share: 0.5,
        // Deliberately not in the API's order: the page must put drifted features first.
        features: [
          columnDrift({ name: 'sepal width (cm)', score: 0.03 }),
          columnDrift({ name: 'petal width (cm)', score: 0.31, drifted: true, live: [0.05, 0.15, 0.3, 0.5] }),
          columnDrift({ name: 'sepal length (cm)', score: 0.07 }),
          columnDrift({ name: 'petal length (cm)', score: 0.52, drifted: true, live: [0.02, 0.08, 0.3, 0.6] }),
        ],
        prediction: columnDrift({
          name: 'prediction',
          kind: 'categorical',
          method: 'js',
          score: 0.22,
          drifted: true,
          bins: ['setosa', 'versicolor', 'virginica'],
          reference: [0.33, 0.33, 0.34],
          live: [0.1, 0.3, 0.6],
        }),
      },
      quality: {
        task: 'classification',
        labelled: 80,
        live: { accuracy: 0.85, f1_macro: 0.84 },
        training: { accuracy: 0.9667, f1_macro: 0.966 },
        alarm: true,
        drop: 0.1167,
        max_drop: 0.05,
        min_labels: 50,
        series: [
          { t: NOW - 1500, rows: 40, accuracy: 0.9, f1_macro: 0.89 },
          { t: NOW - 600, rows: 40, accuracy: 0.8, f1_macro: 0.79 },
        ],
      },
      feedback: { joined: 80 },
    },
    {
      version: '2',
      window: { rows: 30, since: NOW - 900, window_s: 3600, min_rows: 100 },
      drift: { verdict: 'insufficient_data', rows: 30, drifted_share: 0, features: [], prediction: null },
      quality: {
        task: 'classification',
        labelled: 0,
        live: {},
        training: { accuracy: 0.9333 },
        alarm: null,
        drop: null,
        max_drop: 0.05,
        min_labels: 50,
        series: [],
      },
      feedback: { joined: 0 },
    },
  ],
  feedback: { joined: 80, unknown: 3, expired: 1 },
  dropped_rows: 0,
};

// --- audit log ----------------------------------------------------------------------------

export function auditEntry(overrides: Partial<AuditEntry> = {}): AuditEntry {
  return {
    id: 42,
    time: NOW - 600,
    key_id: '3f9a1c0b2d4e',
    action: 'set_alias',
    target: '/v1/models/iris/aliases/champion',
    outcome: 'ok',
    status: 200,
    detail: 'version 4, was 3',
    ...overrides,
  };
}
