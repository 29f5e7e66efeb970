import '@testing-library/jest-dom/vitest';
import { cleanup, configure } from '@testing-library/react';
import { afterEach, vi } from 'vitest';

// Two cores run several test files at once: give findBy/waitFor room before they fail.
configure({ asyncUtilTimeout: 15_000 });

vi.mock('uplot', async () => {
  const { FakePlot } = await import('./uplotMock');
  return { default: FakePlot };
});

afterEach(() => {
  cleanup();
  window.sessionStorage.clear();
  vi.useRealTimers();
});
