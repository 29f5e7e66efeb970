/** Types of the Rayline HTTP API, as served by the Serve ingress. Times are epoch seconds. */

export type Role = 'admin' | 'predict';
export type Task = 'classification' | 'regression';
export type JobStatus = 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'STOPPED';
export type JobKind = 'train' | 'benchmark' | 'batch_predict' | 'other';

export interface WhoAmI {
  role: Role;
}

export interface ClusterNode {
  node_id: string;
  address: string;
  alive: boolean;
  cpus_total: number;
  cpus_used: number;
  memory_total_bytes: number;
  memory_used_bytes: number;
  object_store_total_bytes: number;
  object_store_used_bytes: number;
  resources: Record<string, number>;
}

export interface ClusterTotals {
  cpus_total: number;
  cpus_used: number;
  memory_total_bytes: number;
  memory_used_bytes: number;
  object_store_total_bytes: number;
  object_store_used_bytes: number;
}

export interface ServeDeployment {
  name: string;
  status: string;
  replicas_running: number;
  replicas_target: number;
  message: string;
}

export interface ServeApplication {
  name: string;
  status: string;
  message: string;
  deployments: ServeDeployment[];
}

export interface Job {
  job_id: string;
  status: JobStatus;
  kind: JobKind;
  name: string;
  entrypoint: string;
  start_time: number | null;
  end_time: number | null;
  message: string;
}

export interface ClusterInfo {
  nodes: ClusterNode[];
  totals: ClusterTotals;
  serve: { applications: ServeApplication[] };
  jobs: Job[];
  links: { ray_dashboard: string; mlflow: string };
}

export interface TimePoint {
  t: number;
  requests_per_s: number;
  errors_per_s: number;
  p50_ms: number | null;
  p99_ms: number | null;
}

export interface ModelTraffic {
  model: string;
  version: string;
  requests: number;
  errors: number;
  p50_ms: number | null;
  p99_ms: number | null;
}

export interface TimeSeries {
  interval_s: number;
  points: TimePoint[];
  totals: { requests: number; errors: number };
  by_model: ModelTraffic[];
}

export interface BuiltinDataset {
  name: string;
  task: Task;
  target: string;
}

export interface Catalog {
  families: Record<Task, string[]>;
  builtin_datasets: BuiltinDataset[];
  metrics: Record<Task, string[]>;
}

export type SearchAlgorithm = 'random' | 'grid';

export interface TrainSpec {
  name: string;
  dataset: { source: string; target: string; task: Task };
  search: {
    algorithm: SearchAlgorithm;
    num_samples: number;
    cpus_per_trial: number;
    metric: string | null;
  };
  /** family → parameter → value, list of values, or a distribution; `{}` = the family default. */
  estimators: Record<string, Record<string, unknown>>;
  [extra: string]: unknown;
}

export interface ShippedConfig {
  name: string;
  yaml: string;
  spec: TrainSpec;
}

export type SubmitJobBody = { config: string } | { spec: TrainSpec };

export interface JobProgress {
  trials_done: number;
  trials_total: number;
  best_score: number | null;
  metric: string;
}

export interface Trial {
  trial: number;
  family: string;
  params: Record<string, unknown>;
  score: number;
  score_std: number;
  fit_time_s: number;
  status: 'done' | 'stopped';
}

export interface JobResult {
  model: string;
  version: string;
  aliases: string[];
  test_metrics: Record<string, number>;
}

export interface JobDetail extends Job {
  progress: JobProgress | null;
  trials: Trial[];
  mlflow_run_url: string | null;
  result: JobResult | null;
}

export interface RegisteredModel {
  name: string;
  description: string;
  aliases: Record<string, string>;
  latest_version: string | null;
  updated_at: number;
}

export interface ModelVersion {
  version: string;
  created_at: number;
  run_id: string | null;
  aliases: string[];
  metrics: Record<string, number>;
  family: string | null;
  status: string;
}

export interface AliasChange {
  name: string;
  alias: string;
  version: string;
  previous_version: string | null;
}

export type FeatureType = 'double' | 'long' | 'string' | 'boolean';
export type FeatureValue = number | string | boolean | null;

export interface FeatureSpec {
  name: string;
  type: FeatureType;
  required: boolean;
}

export interface ModelSchema {
  name: string;
  alias: string;
  version: string;
  task: Task;
  inputs: FeatureSpec[];
  input_example: Record<string, FeatureValue>;
  classes: (string | number)[] | null;
}

export type Prediction = string | number | boolean | null;

export interface PredictResponse {
  model: string;
  alias: string;
  version: string;
  predictions: Prediction[];
  probabilities: number[][] | null;
  classes: (string | number)[] | null;
}

export interface ServingBenchmarkBody {
  kind: 'serving';
  model: string;
  alias: string;
  duration_s: number;
  concurrency: number;
  rows_per_request: number;
}

export interface TrainingBenchmarkBody {
  kind: 'training';
  dataset: string;
  n_configs: number;
}

export type BenchmarkBody = ServingBenchmarkBody | TrainingBenchmarkBody;

export interface ServingSummary {
  throughput_rps: number;
  rows_per_s: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  errors: number;
  requests: number;
}

export interface TrainingSummary {
  sequential_s: number;
  parallel_s: number;
  speedup: number;
  n_configs: number;
  best_score_sequential: number | null;
  best_score_parallel: number | null;
}

export type BenchmarkResult =
  | { id: string; kind: 'serving'; created_at: number; settings: Record<string, unknown>; summary: Partial<ServingSummary> }
  | { id: string; kind: 'training'; created_at: number; settings: Record<string, unknown>; summary: Partial<TrainingSummary> };

export interface ReadyModel {
  name: string;
  alias: string;
  version: string;
  status: 'ready' | 'loading' | 'failed';
  error: string | null;
}

export interface Readiness {
  ready: boolean;
  models: ReadyModel[];
}

// --- schedules: training runs that start by themselves ---------------------------------

export type ScheduleConcurrency = 'forbid' | 'replace' | 'allow';
export type MissedPolicy = 'skip' | 'run_once';
export type ScheduleSource = 'config' | 'api';
export type RunTrigger = 'cron' | 'every' | 'new_data' | 'manual' | 'retry';
export type RunStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'stopped' | 'skipped';
export type RunOutcome = 'skipped' | 'trained' | 'promoted' | 'failed' | 'timeout';

export interface NewDataTrigger {
  /** A file, folder or s3:// object or prefix; default: the training config's dataset source. */
  source?: string | null;
  check_every_s?: number;
  /** A change fires only after the data stayed the same this many seconds. */
  settle_s?: number;
}

/** What a schedule runs and when; exactly one of config/spec and one of cron/every/on_new_data. */
export interface ScheduleSpec {
  /** ^[a-z0-9][a-z0-9_-]{0,47}$ */
  name: string;
  /** A shipped config name (GET /v1/configs) or a path to a YAML training config. */
  config?: string | null;
  /** An inline training config, like the Training page sends. */
  spec?: Record<string, unknown> | null;
  /** Five-field cron, e.g. "0 2 * * *", read in `timezone`. */
  cron?: string | null;
  /** IANA time zone, default "UTC". */
  timezone?: string;
  /** "30m", "2h", "1d" (at least 60 s). */
  every?: string | null;
  on_new_data?: NewDataTrigger | null;
  concurrency?: ScheduleConcurrency;
  missed?: MissedPolicy;
  starting_deadline_s?: number;
  max_retries?: number;
  retry_backoff_s?: number;
  timeout_s?: number | null;
  paused?: boolean;
  webhook_url?: string | null;
}

/** PATCH /v1/schedules/{name}: any fields but the name; a new trigger replaces the old one. */
export type ScheduleChanges = Partial<Omit<ScheduleSpec, 'name'>>;

export interface ScheduleRun {
  id: number;
  schedule: string;
  /** The Ray Jobs submission id: the job view is /training/jobs/<submission_id>. */
  submission_id: string;
  scheduled_time: number;
  trigger: RunTrigger;
  attempt: number;
  status: RunStatus;
  outcome: RunOutcome | null;
  /** The step that failed: submit, load, train, register, ... */
  step: string | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  model: string | null;
  version: string | null;
  score: number | null;
  champion_score: number | null;
  metric: string | null;
  mlflow_run_id: string | null;
  mlflow_run_url: string | null;
}

export interface Schedule {
  name: string;
  spec: ScheduleSpec;
  /** Declared in serve_config.yaml (`config`: not deletable here) or created through the API. */
  source: ScheduleSource;
  paused: boolean;
  /** The trigger in words, e.g. "every day at 02:00 UTC". */
  description: string;
  next_fire: number | null;
  last_fire: number | null;
  last_run: ScheduleRun | null;
}

export interface ScheduleRunPage {
  runs: ScheduleRun[];
  total: number;
}
