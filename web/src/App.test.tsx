import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { catalog, cluster, configs, models, timeseries } from './test/fixtures';
import { renderApp } from './test/render';

const routes = {
  'GET /v1/cluster': { body: cluster },
  'GET /v1/metrics/timeseries': { body: timeseries },
  'GET /v1/configs': { body: { configs } },
  'GET /v1/catalog': { body: catalog },
  'GET /v1/jobs': { body: { jobs: [] } },
  'GET /v1/models': { body: { models } },
};

describe('App', () => {
  it('navigates between pages with the main navigation', async () => {
    const user = userEvent.setup();
    renderApp({ routes });
    expect(await screen.findByRole('heading', { level: 1, name: 'Dashboard' })).toBeInTheDocument();
    await waitFor(() => expect(document.title).toBe('Dashboard · Rayline'));

    await user.click(screen.getByRole('link', { name: 'Training' }));
    expect(await screen.findByRole('heading', { level: 1, name: 'Training' })).toBeInTheDocument();
    expect(await screen.findByLabelText('Config')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Training' })).toHaveAttribute('aria-current', 'page');
    expect(screen.getByRole('link', { name: 'Dashboard' })).not.toHaveAttribute('aria-current');
  });

  it('keeps the asked-for page through sign-in', async () => {
    const user = userEvent.setup();
    renderApp({ signedIn: false, path: '/models', routes: { ...routes, 'GET /v1/whoami': { body: { role: 'admin' } } } });
    await user.type(screen.getByLabelText('API key'), 'k');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('heading', { level: 1, name: 'Models' })).toBeInTheDocument();
  });

  it('shows a not-found page for unknown addresses', async () => {
    renderApp({ path: '/nowhere', routes });
    expect(await screen.findByText('There is no page at this address.')).toBeInTheDocument();
  });
});
