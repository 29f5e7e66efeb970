import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { auditEntry, catalog, cluster, configs, models, timeseries } from './test/fixtures';
import { renderApp } from './test/render';

const routes = {
  'GET /v1/cluster': { body: cluster },
  'GET /v1/metrics/timeseries': { body: timeseries },
  'GET /v1/configs': { body: { configs } },
  'GET /v1/catalog': { body: catalog },
  'GET /v1/jobs': { body: { jobs: [] } },
  'GET /v1/models': { body: { models } },
  'GET /v1/schedules': { body: { schedules: [] } },
  'GET /v1/schedule-runs': { body: { runs: [] } },
  'GET /v1/audit': { body: { entries: [auditEntry()], next_before: null } },
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

  it('opens the Schedules page from the main navigation, next to Training', async () => {
    const user = userEvent.setup();
    renderApp({ routes });
    const nav = await screen.findByRole('navigation', { name: 'Main' });
    const links = within(nav).getAllByRole('link').map((a) => a.textContent);
    expect(links.slice(1, 3)).toEqual(['Training', 'Schedules']);
    await user.click(within(nav).getByRole('link', { name: 'Schedules' }));
    expect(await screen.findByRole('heading', { level: 1, name: 'Schedules' })).toBeInTheDocument();
    expect(await screen.findByText('No schedule yet.')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Create schedule' })).toBeInTheDocument();
  });

  it('shows the Audit page in the navigation to admin keys only', async () => {
    const user = userEvent.setup();
    renderApp({ routes });
    const nav = await screen.findByRole('navigation', { name: 'Main' });
    await user.click(within(nav).getByRole('link', { name: 'Audit' }));
    expect(await screen.findByRole('heading', { level: 1, name: 'Audit' })).toBeInTheDocument();
    expect(await screen.findByRole('table', { name: 'Audit log' })).toBeInTheDocument();
  });

  it("leaves Audit out of a predict key's navigation, and explains the page if opened", async () => {
    renderApp({ routes, role: 'predict', path: '/audit' });
    const nav = await screen.findByRole('navigation', { name: 'Main' });
    expect(within(nav).queryByRole('link', { name: 'Audit' })).not.toBeInTheDocument();
    expect(within(nav).getByRole('link', { name: 'Benchmark' })).toBeInTheDocument();
    expect(await screen.findByText(/The audit log needs an/)).toBeInTheDocument();
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
