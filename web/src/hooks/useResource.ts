/** Loads data from the API, optionally polling, and exposes loading / error / data states. */
import { useCallback, useEffect, useState } from 'react';
import { ApiError, isAbortError } from '../api/client';

export type Fetcher<T> = (signal: AbortSignal) => Promise<T>;

export interface Resource<T> {
  data: T | undefined;
  /** The last error; `data` keeps the last good answer so a failed poll does not blank the page. */
  error: unknown;
  /** True until the first answer (data or error) for the current fetcher arrives. */
  loading: boolean;
  /** Epoch ms of the last successful answer. */
  updatedAt: number | null;
  reload: () => void;
}

export interface ResourceOptions<T> {
  /** Poll every `pollMs` milliseconds (after each answer, so slow calls never overlap). */
  pollMs?: number | null;
  /** Keep polling only while this holds for the latest data (e.g. a job is still running). */
  pollWhile?: (data: T) => boolean;
  /** When false, nothing is fetched (e.g. no model selected yet). */
  enabled?: boolean;
}

interface State<T> {
  source: Fetcher<T> | null;
  data: T | undefined;
  error: unknown;
  updatedAt: number | null;
}

/**
 * `fetcher` must be stable (wrap it in useCallback): a new fetcher means a new resource,
 * so the previous data is dropped and loading starts over.
 */
export function useResource<T>(fetcher: Fetcher<T>, options: ResourceOptions<T> = {}): Resource<T> {
  const { pollMs = null, pollWhile, enabled = true } = options;
  const [state, setState] = useState<State<T>>({ source: null, data: undefined, error: null, updatedAt: null });
  const [tick, setTick] = useState(0);

  useEffect(() => {
    if (!enabled) return undefined;
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let active = true;

    const run = async (): Promise<void> => {
      try {
        const data = await fetcher(controller.signal);
        if (!active) return;
        setState({ source: fetcher, data, error: null, updatedAt: Date.now() });
        if (pollMs && (!pollWhile || pollWhile(data))) timer = setTimeout(() => void run(), pollMs);
      } catch (err) {
        if (!active || isAbortError(err)) return;
        setState((prev) => ({
          source: fetcher,
          data: prev.source === fetcher ? prev.data : undefined,
          error: err,
          updatedAt: prev.source === fetcher ? prev.updatedAt : null,
        }));
        // A 401 ends the session; anything else may be transient, so keep trying.
        const fatal = err instanceof ApiError && (err.status === 401 || err.status === 403 || err.status === 404);
        if (pollMs && !fatal) timer = setTimeout(() => void run(), pollMs);
      }
    };
    void run();
    return () => {
      active = false;
      controller.abort();
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [fetcher, pollMs, pollWhile, enabled, tick]);

  const reload = useCallback(() => setTick((n) => n + 1), []);
  const current = state.source === fetcher;
  return {
    data: current ? state.data : undefined,
    error: current ? state.error : null,
    loading: enabled && (!current || (state.data === undefined && state.error == null)),
    updatedAt: current ? state.updatedAt : null,
    reload,
  };
}
