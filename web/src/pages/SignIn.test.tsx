import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { KEY_STORAGE, ROLE_STORAGE } from '../auth/context';
import { cluster, timeseries } from '../test/fixtures';
import { renderApp } from '../test/render';

const dashboardRoutes = {
  'GET /v1/cluster': { body: cluster },
  'GET /v1/metrics/timeseries': { body: timeseries },
};

describe('sign-in', () => {
  it('asks for the key when signed out, validates it with /v1/whoami and keeps it for the tab', async () => {
    const user = userEvent.setup();
    const { ingress } = renderApp({
      signedIn: false,
      routes: { 'GET /v1/whoami': { body: { role: 'predict' } }, ...dashboardRoutes },
    });

    expect(screen.queryByRole('navigation', { name: 'Main' })).not.toBeInTheDocument();
    await user.type(screen.getByLabelText('API key'), '  my-key  ');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));

    expect(await screen.findByRole('link', { name: 'Training' })).toBeInTheDocument();
    expect(ingress.callsTo('GET', '/v1/whoami')[0]?.headers.Authorization).toBe('Bearer my-key');
    expect(window.sessionStorage.getItem(KEY_STORAGE)).toBe('my-key');
    expect(screen.getByText('predict')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Sign out' })).toBeInTheDocument();
    // The pages then use the same key.
    await waitFor(() => expect(ingress.callsTo('GET', '/v1/cluster').length).toBeGreaterThan(0));
    expect(ingress.callsTo('GET', '/v1/cluster')[0]?.headers.Authorization).toBe('Bearer my-key');
  });

  it('refuses a key the server rejects and stores nothing', async () => {
    const user = userEvent.setup();
    renderApp({ signedIn: false, routes: { 'GET /v1/whoami': { status: 401, body: { detail: 'invalid API key' } } } });

    await user.type(screen.getByLabelText('API key'), 'wrong');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));

    expect(await screen.findByText(/was not accepted/)).toBeInTheDocument();
    expect(screen.getByLabelText('API key')).toHaveAttribute('aria-invalid', 'true');
    expect(window.sessionStorage.getItem(KEY_STORAGE)).toBeNull();
    expect(screen.queryByRole('link', { name: 'Training' })).not.toBeInTheDocument();
  });

  it('says when the ingress cannot be reached', async () => {
    const user = userEvent.setup();
    renderApp({ signedIn: false, routes: { 'GET /v1/whoami': 'network-error' } });
    await user.type(screen.getByLabelText('API key'), 'k');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByText(/cannot reach the Rayline ingress/i)).toBeInTheDocument();
  });

  it('sends the user back to the key prompt with a message on any 401', async () => {
    renderApp({
      routes: {
        'GET /v1/cluster': { status: 401, body: { detail: 'API key revoked' } },
        'GET /v1/metrics/timeseries': { body: timeseries },
      },
    });
    expect(await screen.findByLabelText('API key')).toBeInTheDocument();
    expect(screen.getByRole('alert')).toHaveTextContent(/rejected your API key \(401\)/);
    expect(window.sessionStorage.getItem(KEY_STORAGE)).toBeNull();
    expect(window.sessionStorage.getItem(ROLE_STORAGE)).toBeNull();
  });

  it('Sign out forgets the key', async () => {
    const user = userEvent.setup();
    renderApp({ routes: dashboardRoutes });
    expect(screen.getByText('admin')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Sign out' }));
    expect(screen.getByLabelText('API key')).toBeInTheDocument();
    expect(window.sessionStorage.getItem(KEY_STORAGE)).toBeNull();
  });

  it('shows the navigation to every page', async () => {
    renderApp({ routes: dashboardRoutes });
    const nav = screen.getByRole('navigation', { name: 'Main' });
    for (const name of ['Dashboard', 'Training', 'Models', 'Predictions', 'Benchmark']) {
      expect(nav).toContainElement(screen.getByRole('link', { name }));
    }
    expect(screen.getByRole('link', { name: 'Dashboard' })).toHaveAttribute('aria-current', 'page');
    expect(await screen.findByRole('heading', { name: 'Dashboard' })).toBeInTheDocument();
  });
});
