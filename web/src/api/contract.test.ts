/**
 * The client against the API's contract (src/api/openapi.json, generated with the types from
 * the ingress's routes): every call it makes is an operation of the document, with query
 * parameters the operation declares and values within their bounds. A route renamed or a
 * parameter dropped on the server fails here once `npm run gen:api` has run.
 */
import { describe, expect, it } from 'vitest';
import { fakeIngress } from '../test/api';
import { ApiClient } from './client';
import document from './openapi.json';

interface Parameter {
  name: string;
  in: string;
  schema: { minimum?: number; maximum?: number; pattern?: string };
}

const operations = Object.entries(document.paths as Record<string, Record<string, { parameters: Parameter[] }>>).flatMap(
  ([template, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      method: method.toUpperCase(),
      template,
      pattern: new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`),
      query: operation.parameters.filter((p) => p.in === 'query'),
    })),
);

/** Every method of ApiClient that calls the API, with arguments to call it. */
const CALLS: Record<string, (api: ApiClient) => Promise<unknown>> = {
  whoami: (api) => api.whoami(),
  cluster: (api) => api.cluster(),
  timeseries: (api) => api.timeseries(15),
  ready: (api) => api.ready(),
  audit: (api) => api.audit({ limit: 50, before: 120, action: 'set_alias', key_id: '3f9a1c0b2d4e', outcome: 'denied', since: 1_700_000_000 }),
  catalog: (api) => api.catalog(),
  configs: (api) => api.configs(),
  submitJob: (api) => api.submitJob({ config: 'iris' }),
  jobs: (api) => api.jobs(),
  job: (api) => api.job('raysubmit_1'),
  jobLogs: (api) => api.jobLogs('raysubmit_1'),
  stopJob: (api) => api.stopJob('raysubmit_1'),
  models: (api) => api.models(),
  versions: (api) => api.versions('iris'),
  setAlias: (api) => api.setAlias('iris', 'champion', '2'),
  schema: (api) => api.schema('iris', 'champion'),
  predict: (api) => api.predict('iris', 'champion', [{ x: 1 }]),
  predictCsv: (api) => api.predictCsv('iris', 'champion', 'x\n1\n'),
  monitoring: (api) => api.monitoring('iris'),
  schedules: (api) => api.schedules(),
  schedule: (api) => api.schedule('nightly'),
  createSchedule: (api) => api.createSchedule({ name: 'nightly', config: 'iris', cron: '0 2 * * *' }),
  updateSchedule: (api) => api.updateSchedule('nightly', { every: '1h', cron: null }),
  deleteSchedule: (api) => api.deleteSchedule('nightly'),
  runSchedule: (api) => api.runSchedule('nightly'),
  pauseSchedule: (api) => api.pauseSchedule('nightly'),
  resumeSchedule: (api) => api.resumeSchedule('nightly'),
  scheduleRuns: (api) => api.scheduleRuns('nightly', { limit: 20, offset: 40 }),
  recentScheduleRuns: (api) => api.recentScheduleRuns(20),
  submitBenchmark: (api) => api.submitBenchmark({ kind: 'training', dataset: 'wine', n_configs: 8 }),
  benchmarks: (api) => api.benchmarks(),
};
const NOT_CALLS = ['constructor', 'setToken', 'hasToken', 'onUnauthorized', 'url', 'request'];

describe('the API client and the contract', () => {
  it('lists every calling method of the client here', () => {
    const methods = Object.getOwnPropertyNames(ApiClient.prototype).filter((m) => !NOT_CALLS.includes(m));
    expect(methods.sort()).toEqual(Object.keys(CALLS).sort());
  });

  it.each(Object.entries(CALLS))('%s calls an operation of the contract with its parameters', async (_, call) => {
    const ingress = fakeIngress();
    const api = new ApiClient({ token: 'k', fetchImpl: ingress.fetch });
    await call(api).catch(() => undefined); // the fake answers 404: only the request matters
    expect(ingress.calls).toHaveLength(1);
    const [request] = ingress.calls;
    if (!request) return;
    const operation = operations.find((o) => o.method === request.method && o.pattern.test(request.path));
    expect(operation, `${request.method} ${request.path} is not in openapi.json`).toBeDefined();
    for (const [name, value] of request.query) {
      const parameter = operation?.query.find((p) => p.name === name);
      expect(parameter, `${operation?.template} declares no query parameter ${name}`).toBeDefined();
      const { minimum, maximum, pattern } = parameter?.schema ?? {};
      if (minimum !== undefined) expect(Number(value)).toBeGreaterThanOrEqual(minimum);
      if (maximum !== undefined) expect(Number(value)).toBeLessThanOrEqual(maximum);
      if (pattern !== undefined) expect(value).toMatch(new RegExp(pattern));
    }
  });
});
