/**
 * A fake Rayline ingress for component tests: routes like "GET /v1/cluster" answer with a
 * status and a JSON body (or a function of the request); every call is recorded.
 */
import { vi } from 'vitest';

export interface FakeAnswer {
  status?: number;
  body?: unknown;
  /** Raw text body instead of JSON. */
  text?: string;
}

export interface RecordedCall {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: string | undefined;
  json: unknown;
}

export type Handler = FakeAnswer | ((call: RecordedCall) => FakeAnswer | 'network-error');
export type Routes = Record<string, Handler | 'network-error'>;

export function fakeIngress(initial: Routes = {}) {
  const routes: Routes = { ...initial };
  const calls: RecordedCall[] = [];

  const fetchImpl = vi.fn(async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const raw = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const url = new URL(raw, 'http://ui.test');
    const method = (init?.method ?? 'GET').toUpperCase();
    const headers = Object.fromEntries(Object.entries((init?.headers ?? {}) as Record<string, string>));
    const body = typeof init?.body === 'string' ? init.body : undefined;
    let json: unknown = undefined;
    if (body && headers['Content-Type'] === 'application/json') json = JSON.parse(body);
    const call: RecordedCall = { method, path: url.pathname, query: url.searchParams, headers, body, json };
    calls.push(call);

    const handler = routes[`${method} ${url.pathname}`];
    if (handler === undefined) return respond({ status: 404, body: { detail: `no fake route for ${method} ${url.pathname}` } });
    const answer = typeof handler === 'function' ? handler(call) : handler;
    if (answer === 'network-error') throw new TypeError('Failed to fetch');
    await Promise.resolve();
    return respond(answer);
  });

  return {
    fetch: fetchImpl as unknown as typeof fetch,
    calls,
    routes,
    /** Calls to one route, e.g. callsTo('POST', '/v1/jobs'). */
    callsTo: (method: string, path: string) => calls.filter((c) => c.method === method && c.path === path),
  };
}

function respond(answer: FakeAnswer): Response {
  const status = answer.status ?? 200;
  const text = answer.text ?? (answer.body === undefined ? '' : JSON.stringify(answer.body));
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: '',
    text: () => Promise.resolve(text),
    json: () => Promise.resolve(JSON.parse(text) as unknown),
  } as unknown as Response;
}

export type FakeIngress = ReturnType<typeof fakeIngress>;
