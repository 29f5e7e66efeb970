/** Renders the app (or one page) with a signed-in session against a fake ingress. */
import { act, render } from '@testing-library/react';
import { vi } from 'vitest';
import type { ReactElement } from 'react';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router-dom';
import { App } from '../App';
import { AuthProvider } from '../auth/AuthProvider';
import { KEY_STORAGE, ROLE_STORAGE } from '../auth/context';
import { fakeIngress, type FakeIngress, type Routes as FakeRoutes } from './api';

export const TEST_KEY = 'test-admin-key';

interface Options {
  routes?: FakeRoutes;
  ingress?: FakeIngress;
  path?: string;
  signedIn?: boolean;
  role?: 'admin' | 'predict';
}

function prepare({ routes = {}, ingress, signedIn = true, role = 'admin' }: Options) {
  const fake = ingress ?? fakeIngress(routes);
  if (signedIn) {
    window.sessionStorage.setItem(KEY_STORAGE, TEST_KEY);
    window.sessionStorage.setItem(ROLE_STORAGE, role);
  }
  return fake;
}

/** Shows where the router went, so a test can see a navigation. */
function WhereAmI() {
  const location = useLocation();
  return <p data-testid="location">{location.pathname}</p>;
}

/** The whole app at `path`, as a browser would show it. */
export function renderApp(options: Options = {}) {
  const fake = prepare(options);
  const result = render(
    <AuthProvider fetchImpl={fake.fetch}>
      <MemoryRouter initialEntries={[options.path ?? '/']}>
        <App />
      </MemoryRouter>
    </AuthProvider>,
  );
  return { ...result, ingress: fake };
}

/** One page element under a route pattern (e.g. "/training/jobs/:jobId") at `path`. */
export function renderPage(page: ReactElement, options: Options & { pattern?: string } = {}) {
  const fake = prepare(options);
  const path = options.path ?? '/';
  const result = render(
    <AuthProvider fetchImpl={fake.fetch}>
      <MemoryRouter initialEntries={[path]}>
        <Routes>
          <Route path={options.pattern ?? path} element={page} />
          <Route path="*" element={<WhereAmI />} />
        </Routes>
      </MemoryRouter>
    </AuthProvider>,
  );
  return { ...result, ingress: fake };
}

/**
 * With fake timers, Testing Library's findBy/waitFor cannot be used (they wait on a timer);
 * this advances the clock inside act() and lets pending fetches settle.
 */
export async function advance(ms = 0): Promise<void> {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
  await act(async () => {
    await vi.advanceTimersByTimeAsync(0);
  });
}
