import { describe, expect, it, vi } from 'vitest';
import { fakeIngress } from '../test/api';
import { ApiClient, ApiError, NETWORK_ERROR_MESSAGE } from './client';

function client(routes: Parameters<typeof fakeIngress>[0], token: string | null = 'secret') {
  const ingress = fakeIngress(routes);
  return { api: new ApiClient({ token, fetchImpl: ingress.fetch }), ingress };
}

describe('ApiClient', () => {
  it('sends the bearer key to relative URLs and returns the JSON body', async () => {
    const { api, ingress } = client({ 'GET /v1/whoami': { body: { role: 'admin' } } });
    await expect(api.whoami()).resolves.toEqual({ role: 'admin' });
    const [call] = ingress.calls;
    expect(call?.headers.Authorization).toBe('Bearer secret');
    const fetchMock = vi.mocked(ingress.fetch);
    expect(fetchMock.mock.calls[0]?.[0]).toBe('/v1/whoami');
  });

  it('prefixes a configured base URL and encodes path segments and queries', async () => {
    const ingress = fakeIngress({ 'GET /v1/models/my%20model/schema': { body: { name: 'my model' } } });
    const api = new ApiClient({ baseUrl: 'https://rayline.example/', token: 'k', fetchImpl: ingress.fetch });
    await api.schema('my model', 'champion');
    expect(vi.mocked(ingress.fetch).mock.calls[0]?.[0]).toBe(
      'https://rayline.example/v1/models/my%20model/schema?alias=champion',
    );
  });

  it('turns a non-2xx answer into an ApiError carrying the server detail', async () => {
    const { api } = client({
      'GET /v1/models/iris/schema': { status: 503, body: { detail: 'model iris@champion is not ready (loading)' } },
    });
    const error = await api.schema('iris', 'champion').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(503);
    expect((error as ApiError).detail).toBe('model iris@champion is not ready (loading)');
  });

  it('joins a list of validation errors into one readable message', async () => {
    const { api } = client({
      'POST /v1/jobs': {
        status: 422,
        body: { detail: [{ loc: ['body', 'spec', 'search', 'num_samples'], msg: 'must be >= 1' }] },
      },
    });
    const error = (await api.submitJob({ config: 'x' }).catch((e: unknown) => e)) as ApiError;
    expect(error.detail).toBe('body.spec.search.num_samples: must be >= 1');
  });

  it('reports a failed fetch as "cannot reach the Rayline ingress" (status 0)', async () => {
    const { api } = client({ 'GET /v1/cluster': 'network-error' });
    const error = (await api.cluster().catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(0);
    expect(error.isNetworkError).toBe(true);
    expect(error.detail).toBe(NETWORK_ERROR_MESSAGE);
    expect(error.detail).toMatch(/cannot reach the Rayline ingress/i);
  });

  it('tells its 401 listeners, except when validating a candidate key', async () => {
    const { api } = client({ 'GET /v1/whoami': { status: 401, body: { detail: 'invalid API key' } } });
    const listener = vi.fn();
    const unsubscribe = api.onUnauthorized(listener);

    await expect(api.whoami('candidate')).rejects.toMatchObject({ status: 401 });
    expect(listener).not.toHaveBeenCalled();

    await expect(api.whoami()).rejects.toMatchObject({ status: 401 });
    expect(listener).toHaveBeenCalledTimes(1);

    unsubscribe();
    await expect(api.whoami()).rejects.toMatchObject({ status: 401 });
    expect(listener).toHaveBeenCalledTimes(1);
  });

  it('sends a CSV batch as text/csv with its header row', async () => {
    const { api, ingress } = client({
      'POST /v1/models/iris/predict': { body: { model: 'iris', alias: 'champion', version: '2', predictions: [0, 1], probabilities: null, classes: null } },
    });
    const csv = 'a,b\n1,2\n3,4\n';
    await api.predictCsv('iris', 'champion', csv);
    const [call] = ingress.calls;
    expect(call?.headers['Content-Type']).toBe('text/csv');
    expect(call?.body).toBe(csv);
    expect(call?.query.get('alias')).toBe('champion');
  });

  it('sends JSON instances with return_proba', async () => {
    const { api, ingress } = client({
      'POST /v1/models/iris/predict': { body: { model: 'iris', alias: 'challenger', version: '3', predictions: [1], probabilities: null, classes: null } },
    });
    await api.predict('iris', 'challenger', [{ x: 1.5 }]);
    expect(ingress.calls[0]?.json).toEqual({ instances: [{ x: 1.5 }], return_proba: true });
    expect(ingress.calls[0]?.query.get('alias')).toBe('challenger');
  });

  it('reads /ready without a key and accepts its 503 body', async () => {
    const { api, ingress } = client({
      'GET /ready': {
        status: 503,
        body: { ready: false, models: [{ name: 'iris', alias: 'champion', version: '2', status: 'loading', error: null }] },
      },
    });
    const ready = await api.ready();
    expect(ready.ready).toBe(false);
    expect(ready.models[0]?.status).toBe('loading');
    expect(ingress.calls[0]?.headers.Authorization).toBeUndefined();
  });

  it('posts alias changes with the version in the body', async () => {
    const { api, ingress } = client({
      'POST /v1/models/iris/aliases/champion': { body: { name: 'iris', alias: 'champion', version: '3', previous_version: '2' } },
    });
    await expect(api.setAlias('iris', 'champion', '3')).resolves.toMatchObject({ previous_version: '2' });
    expect(ingress.calls[0]?.json).toEqual({ version: '3' });
  });

  it('reads a model\'s monitoring with the key, its name encoded in the path', async () => {
    const { api, ingress } = client({
      'GET /v1/models/my%20model/monitoring': { body: { model: 'my model', versions: [], feedback: { joined: 0, unknown: 0, expired: 0 }, dropped_rows: 0 } },
    });
    await expect(api.monitoring('my model')).resolves.toMatchObject({ model: 'my model', versions: [] });
    expect(ingress.calls[0]?.headers.Authorization).toBe('Bearer secret');
  });

  it('rejects a 2xx answer that is not JSON (e.g. the SPA index.html)', async () => {
    const { api } = client({ 'GET /v1/cluster': { text: '<!doctype html><html></html>' } });
    await expect(api.cluster()).rejects.toThrow(/non-JSON/);
  });

  it('creates a schedule with a POST of its spec and lists schedules', async () => {
    const { api, ingress } = client({
      'POST /v1/schedules': { status: 201, body: { name: 'nightly', paused: false } },
      'GET /v1/schedules': { body: { schedules: [{ name: 'nightly' }] } },
    });
    await expect(api.createSchedule({ name: 'nightly', config: 'iris', cron: '0 2 * * *' })).resolves.toMatchObject({ name: 'nightly' });
    expect(ingress.calls[0]?.json).toEqual({ name: 'nightly', config: 'iris', cron: '0 2 * * *' });
    expect(ingress.calls[0]?.headers['Content-Type']).toBe('application/json');
    await expect(api.schedules()).resolves.toEqual([{ name: 'nightly' }]);
  });

  it('changes a schedule with PATCH and deletes it with DELETE', async () => {
    const { api, ingress } = client({
      'PATCH /v1/schedules/my%20sched': { body: { name: 'my sched', paused: false } },
      'DELETE /v1/schedules/my%20sched': { body: { deleted: true } },
    });
    await api.updateSchedule('my sched', { every: '2h', cron: null });
    expect(ingress.calls[0]?.method).toBe('PATCH');
    expect(ingress.calls[0]?.json).toEqual({ every: '2h', cron: null });
    await expect(api.deleteSchedule('my sched')).resolves.toEqual({ deleted: true });
    expect(ingress.calls[1]?.method).toBe('DELETE');
    expect(ingress.calls[1]?.body).toBeUndefined();
    expect(ingress.calls[1]?.headers.Authorization).toBe('Bearer secret');
  });

  it('carries the 409 detail of a schedule declared in serve_config.yaml', async () => {
    const { api } = client({
      'DELETE /v1/schedules/nightly': { status: 409, body: { detail: 'declared in serve_config.yaml: edit serve_config.yaml to remove it' } },
    });
    const error = (await api.deleteSchedule('nightly').catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(409);
    expect(error.detail).toMatch(/edit serve_config.yaml/);
  });

  it('fires, pauses and resumes a schedule with bodiless POSTs', async () => {
    const { api, ingress } = client({
      'POST /v1/schedules/nightly/run': { status: 202, body: { id: 3, status: 'pending' } },
      'POST /v1/schedules/nightly/pause': { body: { name: 'nightly', paused: true } },
      'POST /v1/schedules/nightly/resume': { body: { name: 'nightly', paused: false } },
    });
    await expect(api.runSchedule('nightly')).resolves.toEqual({ id: 3, status: 'pending' });
    await expect(api.pauseSchedule('nightly')).resolves.toMatchObject({ paused: true });
    await expect(api.resumeSchedule('nightly')).resolves.toMatchObject({ paused: false });
    expect(ingress.calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      'POST /v1/schedules/nightly/run',
      'POST /v1/schedules/nightly/pause',
      'POST /v1/schedules/nightly/resume',
    ]);
    expect(ingress.calls.every((c) => c.body === undefined)).toBe(true);
  });

  it('pages a schedule run history with limit and offset, and reads recent runs', async () => {
    const { api, ingress } = client({
      'GET /v1/schedules/nightly/runs': { body: { runs: [{ id: 1 }], total: 41 } },
      'GET /v1/schedule-runs': { body: { runs: [{ id: 2 }] } },
    });
    await expect(api.scheduleRuns('nightly', { limit: 20, offset: 40 })).resolves.toEqual({ runs: [{ id: 1 }], total: 41 });
    expect(vi.mocked(ingress.fetch).mock.calls[0]?.[0]).toBe('/v1/schedules/nightly/runs?limit=20&offset=40');
    await expect(api.recentScheduleRuns(20)).resolves.toEqual([{ id: 2 }]);
    expect(ingress.calls[1]?.query.get('limit')).toBe('20');
  });
});
