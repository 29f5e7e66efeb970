/**
 * The one HTTP client of the UI: every call to the Rayline ingress goes through `ApiClient`.
 *
 * URLs are relative to `baseUrl` ("" by default) so the same build works behind any host.
 * Non-2xx answers become an `ApiError` carrying the server's `detail`; a failed fetch becomes
 * an `ApiError` with status 0 ("cannot reach the Rayline ingress"); a 401 also calls
 * `onUnauthorized` so the app can send the user back to the key prompt.
 */
import type {
  AliasChange,
  AuditPage,
  AuditQuery,
  BenchmarkBody,
  BenchmarkResult,
  Catalog,
  ClusterInfo,
  FeatureValue,
  Job,
  JobDetail,
  JobLogs,
  JobStopped,
  JobSubmitted,
  ModelSchema,
  ModelVersion,
  Monitoring,
  PredictResponse,
  Readiness,
  RegisteredModel,
  Schedule,
  ScheduleChanges,
  ScheduleDeleted,
  ScheduleRun,
  ScheduleRunPage,
  ScheduleSpec,
  ShippedConfig,
  SubmitJobBody,
  TimeSeries,
  WhoAmI,
} from './types';

export const NETWORK_ERROR_MESSAGE =
  'Cannot reach the Rayline ingress. Check that the Serve application is running, then retry.';

export class ApiError extends Error {
  /** HTTP status; 0 when the request never got an answer (network error). */
  readonly status: number;
  /** The server's `detail` message, or a description of what went wrong. */
  readonly detail: string;

  constructor(status: number, detail: string) {
    super(status === 0 ? detail : `HTTP ${status}: ${detail}`);
    this.name = 'ApiError';
    this.status = status;
    this.detail = detail;
  }

  get isNetworkError(): boolean {
    return this.status === 0;
  }
}

export function isAbortError(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError';
}

interface RequestOptions {
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  text?: { body: string; contentType: string };
  /** false for the open endpoints (/health, /ready). */
  auth?: boolean;
  /** Use this key instead of the signed-in one; a 401 then does not sign the user out. */
  token?: string;
  signal?: AbortSignal;
  /** Non-2xx statuses whose JSON body is still an answer (e.g. /ready's 503). */
  acceptStatuses?: number[];
}

export interface ApiClientOptions {
  baseUrl?: string;
  /** The API key to send; change it later with `setToken`. */
  token?: string | null;
  fetchImpl?: typeof fetch;
}

export type UnauthorizedListener = (error: ApiError) => void;

/** Turns `{"detail": ...}` (a string, or a list of validation errors) into one readable line. */
function detailFrom(body: unknown, fallback: string): string {
  if (body && typeof body === 'object' && 'detail' in body) {
    const detail = body.detail;
    if (typeof detail === 'string' && detail.trim()) return detail;
    if (Array.isArray(detail)) {
      const parts = detail.map((item: unknown) => {
        if (item && typeof item === 'object' && 'msg' in item) {
          const { msg, loc } = item as { msg: unknown; loc?: unknown };
          const where = Array.isArray(loc) ? loc.join('.') : '';
          return where ? `${where}: ${String(msg)}` : String(msg);
        }
        return typeof item === 'string' ? item : JSON.stringify(item);
      });
      if (parts.length) return parts.join('; ');
    }
    if (detail != null) return JSON.stringify(detail);
  }
  return fallback;
}

const seg = encodeURIComponent;

export class ApiClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch | undefined;
  private token: string | null;
  private readonly unauthorizedListeners = new Set<UnauthorizedListener>();

  constructor(options: ApiClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? '').replace(/\/+$/, '');
    this.token = options.token ?? null;
    this.fetchImpl = options.fetchImpl;
  }

  setToken(token: string | null): void {
    this.token = token;
  }

  hasToken(): boolean {
    return this.token !== null;
  }

  /** Called on every 401 answered to the signed-in key; returns an unsubscribe function. */
  onUnauthorized(listener: UnauthorizedListener): () => void {
    this.unauthorizedListeners.add(listener);
    return () => {
      this.unauthorizedListeners.delete(listener);
    };
  }

  url(path: string, query?: RequestOptions['query']): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) params.set(key, String(value));
    }
    const qs = params.toString();
    return `${this.baseUrl}${path}${qs ? `?${qs}` : ''}`;
  }

  async request<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    const auth = options.auth ?? true;
    const token = options.token ?? (auth ? this.token : null);
    if (auth && token) headers.Authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (options.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.text) {
      headers['Content-Type'] = options.text.contentType;
      body = options.text.body;
    }

    const doFetch = this.fetchImpl ?? globalThis.fetch.bind(globalThis);
    let response: Response;
    try {
      response = await doFetch(this.url(path, options.query), {
        method: options.method ?? 'GET',
        headers,
        body,
        signal: options.signal,
      });
    } catch (err) {
      if (isAbortError(err)) throw err;
      throw new ApiError(0, NETWORK_ERROR_MESSAGE);
    }

    const raw = await response.text().catch(() => '');
    let parsed: unknown = undefined;
    if (raw) {
      try {
        parsed = JSON.parse(raw);
      } catch {
        parsed = undefined;
      }
    }

    if (!response.ok && !(options.acceptStatuses?.includes(response.status) && parsed !== undefined)) {
      const fallback = response.statusText || `request failed with status ${response.status}`;
      const error = new ApiError(response.status, detailFrom(parsed, fallback));
      if (response.status === 401 && options.token === undefined && auth) {
        for (const listener of this.unauthorizedListeners) listener(error);
      }
      throw error;
    }
    if (parsed === undefined && raw) {
      // A 2xx that is not JSON is most likely the SPA's index.html: the route is not an API route.
      throw new ApiError(response.status, `unexpected non-JSON answer from ${path}`);
    }
    return parsed as T;
  }

  // --- identity and cluster -------------------------------------------------------------

  whoami(token?: string): Promise<WhoAmI> {
    return this.request('/v1/whoami', token === undefined ? {} : { token });
  }

  cluster(signal?: AbortSignal): Promise<ClusterInfo> {
    return this.request('/v1/cluster', { signal });
  }

  timeseries(minutes: number, signal?: AbortSignal): Promise<TimeSeries> {
    return this.request('/v1/metrics/timeseries', { query: { minutes }, signal });
  }

  ready(signal?: AbortSignal): Promise<Readiness> {
    // /ready answers 503 with the same body while a model is not ready.
    return this.request('/ready', { auth: false, signal, acceptStatuses: [503] });
  }

  // --- training -------------------------------------------------------------------------

  catalog(signal?: AbortSignal): Promise<Catalog> {
    return this.request('/v1/catalog', { signal });
  }

  async configs(signal?: AbortSignal): Promise<ShippedConfig[]> {
    const body = await this.request<{ configs: ShippedConfig[] }>('/v1/configs', { signal });
    return body.configs;
  }

  submitJob(body: SubmitJobBody): Promise<JobSubmitted> {
    return this.request('/v1/jobs', { method: 'POST', json: body });
  }

  async jobs(signal?: AbortSignal): Promise<Job[]> {
    const body = await this.request<{ jobs: Job[] }>('/v1/jobs', { signal });
    return body.jobs;
  }

  job(jobId: string, signal?: AbortSignal): Promise<JobDetail> {
    return this.request(`/v1/jobs/${seg(jobId)}`, { signal });
  }

  async jobLogs(jobId: string, tail = 200, signal?: AbortSignal): Promise<string> {
    const body = await this.request<JobLogs>(`/v1/jobs/${seg(jobId)}/logs`, {
      query: { tail },
      signal,
    });
    return body.logs;
  }

  stopJob(jobId: string): Promise<JobStopped> {
    return this.request(`/v1/jobs/${seg(jobId)}/stop`, { method: 'POST' });
  }

  // --- registry -------------------------------------------------------------------------

  async models(signal?: AbortSignal): Promise<RegisteredModel[]> {
    const body = await this.request<{ models: RegisteredModel[] }>('/v1/models', { signal });
    return body.models;
  }

  async versions(name: string, signal?: AbortSignal): Promise<ModelVersion[]> {
    const body = await this.request<{ versions: ModelVersion[] }>(
      `/v1/models/${seg(name)}/versions`,
      { signal },
    );
    return body.versions;
  }

  setAlias(name: string, alias: string, version: string): Promise<AliasChange> {
    return this.request(`/v1/models/${seg(name)}/aliases/${seg(alias)}`, {
      method: 'POST',
      json: { version },
    });
  }

  // --- predictions ----------------------------------------------------------------------

  schema(name: string, alias: string, signal?: AbortSignal): Promise<ModelSchema> {
    return this.request(`/v1/models/${seg(name)}/schema`, { query: { alias }, signal });
  }

  predict(
    name: string,
    alias: string,
    instances: Record<string, FeatureValue>[],
    returnProba = true,
  ): Promise<PredictResponse> {
    return this.request(`/v1/models/${seg(name)}/predict`, {
      method: 'POST',
      query: { alias },
      json: { instances, return_proba: returnProba },
    });
  }

  predictCsv(name: string, alias: string, csv: string): Promise<PredictResponse> {
    return this.request(`/v1/models/${seg(name)}/predict`, {
      method: 'POST',
      // A CSV body has no return_proba: the ingress always answers it with probabilities.
      query: { alias },
      text: { body: csv, contentType: 'text/csv' },
    });
  }

  // --- monitoring ---------------------------------------------------------------------

  /** Drift of each version's live window from its training reference, and live quality. */
  monitoring(name: string, signal?: AbortSignal): Promise<Monitoring> {
    return this.request(`/v1/models/${seg(name)}/monitoring`, { signal });
  }

  // --- schedules ----------------------------------------------------------------------

  async schedules(signal?: AbortSignal): Promise<Schedule[]> {
    const body = await this.request<{ schedules: Schedule[] }>('/v1/schedules', { signal });
    return body.schedules;
  }

  schedule(name: string, signal?: AbortSignal): Promise<Schedule> {
    return this.request(`/v1/schedules/${seg(name)}`, { signal });
  }

  createSchedule(spec: ScheduleSpec): Promise<Schedule> {
    return this.request('/v1/schedules', { method: 'POST', json: spec });
  }

  updateSchedule(name: string, changes: ScheduleChanges): Promise<Schedule> {
    return this.request(`/v1/schedules/${seg(name)}`, { method: 'PATCH', json: changes });
  }

  deleteSchedule(name: string): Promise<ScheduleDeleted> {
    return this.request(`/v1/schedules/${seg(name)}`, { method: 'DELETE' });
  }

  /** Fire now, whatever the trigger; answers 202 with the new run. */
  runSchedule(name: string): Promise<ScheduleRun> {
    return this.request(`/v1/schedules/${seg(name)}/run`, { method: 'POST' });
  }

  pauseSchedule(name: string): Promise<Schedule> {
    return this.request(`/v1/schedules/${seg(name)}/pause`, { method: 'POST' });
  }

  resumeSchedule(name: string): Promise<Schedule> {
    return this.request(`/v1/schedules/${seg(name)}/resume`, { method: 'POST' });
  }

  /** One page of a schedule's runs, newest first. */
  scheduleRuns(name: string, page: { limit: number; offset: number }, signal?: AbortSignal): Promise<ScheduleRunPage> {
    return this.request(`/v1/schedules/${seg(name)}/runs`, { query: { limit: page.limit, offset: page.offset }, signal });
  }

  /** The latest runs of every schedule, newest first. */
  async recentScheduleRuns(limit: number, signal?: AbortSignal): Promise<ScheduleRun[]> {
    const body = await this.request<{ runs: ScheduleRun[] }>('/v1/schedule-runs', { query: { limit }, signal });
    return body.runs;
  }

  // --- benchmarks -----------------------------------------------------------------------

  submitBenchmark(body: BenchmarkBody): Promise<JobSubmitted> {
    return this.request('/v1/benchmarks', { method: 'POST', json: body });
  }

  async benchmarks(signal?: AbortSignal): Promise<BenchmarkResult[]> {
    const body = await this.request<{ results: BenchmarkResult[] }>('/v1/benchmarks', { signal });
    return body.results;
  }

  // --- audit log ------------------------------------------------------------------------

  /** One page of the audit log (admin keys only), newest first; `before` pages to older entries. */
  audit(query: AuditQuery, signal?: AbortSignal): Promise<AuditPage> {
    return this.request('/v1/audit', { query, signal });
  }
}

/** The API base URL: relative by default, overridable at build time with VITE_API_BASE. */
export const API_BASE: string = import.meta.env.VITE_API_BASE ?? '';
