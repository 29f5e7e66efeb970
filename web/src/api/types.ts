/**
 * Types of the Rayline HTTP API, as served by the Serve ingress. Times are epoch seconds.
 *
 * They come from the API's contract: `schema.d.ts` is generated (`npm run gen:api`) from the
 * OpenAPI document the routes build from their pydantic models (serve_app/routes). Each type
 * here is a generated one, or derived from one where the UI needs a narrower (or, marked, a
 * looser) shape. Types that `Omit` fields do so for fields the UI never reads, which the
 * component tests' fixtures (src/test/fixtures.ts) then need not carry. Only what the contract
 * leaves open is written by hand: the inline training spec the Training page builds
 * (`TrainSpec`; the API takes any spec and validates it).
 */
import type { components, operations } from './schema';

type Schemas = components['schemas'];

export type Role = Schemas['WhoAmI']['role'];
export type Task = Schemas['ModelSchema']['task'];
export type JobStatus = Schemas['Job']['status'];
export type JobKind = Schemas['Job']['kind'];

export type WhoAmI = Schemas['WhoAmI'];

// --- cluster and metrics ------------------------------------------------------------------

export type ClusterNode = Omit<Schemas['ClusterNode'], 'is_head'>;
export type ClusterTotals = Schemas['ClusterTotals'];
export type ServeDeployment = Schemas['ServeDeployment'];
export type ServeApplication = Schemas['ServeApplication'];
export type Job = Schemas['Job'];
export type ClusterInfo = Omit<Schemas['ClusterInfo'], 'nodes'> & { nodes: ClusterNode[] };
export type TimePoint = Schemas['TimePoint'];
export type ModelTraffic = Schemas['ModelTraffic'];
export type TimeSeries = Schemas['TimeSeries'];

// --- training -----------------------------------------------------------------------------

export type BuiltinDataset = Schemas['BuiltinDataset'];
export type Catalog = Schemas['Catalog'];
export type SearchAlgorithm = NonNullable<Schemas['SearchConfig']['algorithm']>;

/** The inline training config the Training page builds (POST /v1/jobs `spec`). */
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

/** A shipped config; its `spec` (a full `TrainConfig`) is read as the form's `TrainSpec`. */
export type ShippedConfig = Omit<Schemas['ShippedConfig'], 'spec'> & { spec: TrainSpec };

/** Exactly one of a shipped config's name and an inline spec. */
export type SubmitJobBody = { config: NonNullable<Schemas['JobRequest']['config']> } | { spec: TrainSpec };

export type JobSubmitted = Schemas['JobSubmitted'];
export type JobStopped = Schemas['JobStopped'];
export type JobLogs = Schemas['JobLogs'];
export type JobProgress = Schemas['JobProgress'];
/**
 * UI gap: a trial that failed (`status: 'error'`) has null scores, which JobView's chart and
 * table do not handle yet; until they do, the UI reads `score` as always set.
 */
export type Trial = Omit<Schemas['Trial'], 'score'> & { score: number };
export type JobResult = Schemas['JobResult'];
export type JobDetail = Omit<Schemas['JobDetail'], 'trials'> & { trials: Trial[] };

// --- registry and predictions -------------------------------------------------------------

export type RegisteredModel = Schemas['RegisteredModel'];
export type ModelVersion = Schemas['ModelVersion'];
export type AliasChange = Schemas['AliasChange'];

/** The signature types the prediction form has inputs for (the API may name others). */
export type FeatureType = 'double' | 'long' | 'string' | 'boolean';
export type FeatureValue = NonNullable<Schemas['ModelSchema']['input_example']>[string];

export type FeatureSpec = Omit<Schemas['InputColumn'], 'type'> & { type: FeatureType };

/** Class labels as the probability bars show them (the contract also allows booleans). */
export type ClassLabel = string | number;

/**
 * UI gap: the contract's `input_example` is null for a model logged without one, which the
 * prediction form (lib/features.ts, Predictions) does not handle yet; until it does, the UI
 * reads it as always set.
 */
export type ModelSchema = Omit<Schemas['ModelSchema'], 'inputs' | 'input_example' | 'classes'> & {
  inputs: FeatureSpec[];
  input_example: Record<string, FeatureValue>;
  classes: ClassLabel[] | null;
};

export type Prediction = Schemas['PredictResponse']['predictions'][number];
export type PredictResponse = Omit<Schemas['PredictResponse'], 'classes'> & { classes: ClassLabel[] | null };

// --- benchmarks ---------------------------------------------------------------------------

type BenchmarkRequest = Schemas['BenchmarkRequest'];

export type ServingBenchmarkBody = { kind: 'serving'; model: string } & Required<
  Pick<BenchmarkRequest, 'alias' | 'duration_s' | 'concurrency' | 'rows_per_request'>
>;

export type TrainingBenchmarkBody = { kind: 'training' } & Required<Pick<BenchmarkRequest, 'dataset' | 'n_configs'>>;

export type BenchmarkBody = ServingBenchmarkBody | TrainingBenchmarkBody;

export type ServingSummary = Schemas['ServingSummary'];
export type TrainingSummary = Schemas['TrainingSummary'];

/** A benchmark's result file (as `python -m jobs.benchmark` writes it). */
export type BenchmarkResult = Omit<Schemas['ServingBenchmark'], 'raw'> | Omit<Schemas['TrainingBenchmark'], 'raw'>;

// --- readiness ----------------------------------------------------------------------------

/** Looser than the contract: the page still handles a `loading` state the server never sends. */
export type ReadyModel = Omit<Schemas['ReadyModel'], 'status'> & {
  status: Schemas['ReadyModel']['status'] | 'loading';
};

export type Readiness = Omit<Schemas['Readiness'], 'models'> & { models: ReadyModel[] };

// --- schedules: training runs that start by themselves ---------------------------------

export type ScheduleSpec = Schemas['ScheduleSpec'];
export type NewDataTrigger = Schemas['NewDataTrigger'];
export type ScheduleConcurrency = NonNullable<ScheduleSpec['concurrency']>;
export type MissedPolicy = NonNullable<ScheduleSpec['missed']>;
export type ScheduleSource = Schemas['Schedule']['source'];

/** PATCH /v1/schedules/{name}: any fields but the name; a new trigger replaces the old one. */
export type ScheduleChanges = Partial<Omit<ScheduleSpec, 'name'>>;

export type RunTrigger = Schemas['ScheduleRun']['trigger'];
export type RunStatus = Schemas['ScheduleRun']['status'];
export type RunOutcome = NonNullable<Schemas['ScheduleRun']['outcome']>;

export type ScheduleRun = Omit<Schemas['ScheduleRun'], 'fingerprint' | 'webhook_status'>;

export type Schedule = Omit<Schemas['Schedule'], 'last_run'> & { last_run: ScheduleRun | null };

export type ScheduleDeleted = Schemas['ScheduleDeleted'];

export type ScheduleRunPage = Omit<Schemas['ScheduleRunPage'], 'runs'> & { runs: ScheduleRun[] };

// --- monitoring: drift of live traffic and live quality from feedback -------------------

export type DriftVerdict = Schemas['Drift']['verdict'];
export type DriftMethod = Schemas['ColumnDrift']['method'];
export type ColumnDrift = Schemas['ColumnDrift'];
export type Drift = Schemas['Drift'];
export type QualityPoint = Schemas['QualityPoint'];
export type Quality = Schemas['Quality'];
export type MonitoringWindow = Schemas['Window'];
export type VersionMonitoring = Schemas['VersionMonitoring'];
export type FeedbackCounts = Schemas['FeedbackCounts'];
/** The page never reads the monitoring settings (`config`): the window carries what it shows. */
export type Monitoring = Omit<Schemas['Monitoring'], 'config'>;

// --- audit log: what admin keys and the stack CLI changed -------------------------------

export type AuditEntry = Schemas['AuditEntry'];
export type AuditOutcome = AuditEntry['outcome'];
export type AuditPage = Schemas['AuditPage'];
/** GET /v1/audit's query: filters, page size and the `before` cursor. */
export type AuditQuery = NonNullable<operations['audit_log']['parameters']['query']>;
/**
 * An action the log records: the operationId of an audited route (a non-GET admin route), or a
 * key change of the stack CLI, which is no route. Any name of the contract type-checks; the
 * list of the audited ones is the Audit page's.
 */
export type AuditAction = keyof operations | 'keys_add' | 'keys_revoke';
