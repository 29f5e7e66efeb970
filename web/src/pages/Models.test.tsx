import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { ModelVersion } from '../api/types';
import { irisVersions, models } from '../test/fixtures';
import type { RecordedCall } from '../test/api';
import { renderPage } from '../test/render';
import Models from './Models';

/** A registry whose aliases really move when the UI posts a change. */
function registry() {
  let versions: ModelVersion[] = irisVersions.map((v) => ({ ...v, aliases: [...v.aliases] }));
  return {
    'GET /v1/models': () => ({ body: { models } }),
    'GET /v1/models/iris/versions': () => ({ body: { versions } }),
    'POST /v1/models/iris/aliases/champion': (call: RecordedCall) => {
      const { version } = call.json as { version: string };
      const previous = versions.find((v) => v.aliases.includes('champion'))?.version ?? null;
      versions = versions.map((v) => ({
        ...v,
        aliases: [...v.aliases.filter((a) => a !== 'champion'), ...(v.version === version ? ['champion'] : [])],
      }));
      return { body: { name: 'iris', alias: 'champion', version, previous_version: previous } };
    },
  };
}

function aliasesInRow(version: string): string[] {
  const row = document.querySelector(`tr[data-version="${version}"]`);
  return Array.from(row?.querySelectorAll('[data-alias]') ?? []).map((el) => el.getAttribute('data-alias') ?? '');
}

describe('Models', () => {
  it('lists models and shows each version with its metrics and alias badges', async () => {
    renderPage(<Models />, { path: '/models', routes: registry() });
    const list = await screen.findByRole('navigation', { name: 'Registered models' });
    expect(within(list).getAllByRole('link')).toHaveLength(2);
    expect(within(list).getByRole('link', { name: /iris/ })).toHaveAttribute('aria-current', 'page');

    await screen.findByRole('table', { name: 'Versions' });
    expect(aliasesInRow('2')).toEqual(['champion']);
    expect(aliasesInRow('3')).toEqual(['challenger']);
    expect(aliasesInRow('1')).toEqual([]);
    const v3 = document.querySelector('tr[data-version="3"]') as HTMLElement;
    expect(v3).toHaveTextContent('accuracy 0.9667');
    expect(v3).toHaveTextContent('f1_macro 0.9660');
    expect(v3).toHaveTextContent('logistic_regression');
    // Newest first.
    const rows = within(screen.getByRole('table', { name: 'Versions' })).getAllByRole('row').slice(1);
    expect(rows.map((r) => r.getAttribute('data-version'))).toEqual(['3', '2', '1']);
  });

  it('links each model to its monitoring', async () => {
    const user = userEvent.setup();
    renderPage(<Models />, { path: '/models', routes: registry() });
    const link = await screen.findByRole('link', { name: 'Drift and live quality' });
    expect(link).toHaveAttribute('href', '/monitoring/iris');
    await user.click(link);
    expect(await screen.findByTestId('location')).toHaveTextContent('/monitoring/iris');
  });

  it('promotes the challenger to champion after confirmation and moves the badge', async () => {
    const user = userEvent.setup();
    const { ingress } = renderPage(<Models />, { path: '/models', routes: registry() });
    await screen.findByRole('table', { name: 'Versions' });
    expect(screen.getByLabelText('Candidate')).toHaveValue('3');

    await user.click(screen.getByRole('button', { name: 'Promote to champion' }));
    const dialog = screen.getByRole('dialog', { name: 'Promote to champion?' });
    expect(dialog).toHaveTextContent('iris@champion at version 3');
    expect(dialog).toHaveTextContent('It currently points to version 2.');
    expect(ingress.callsTo('POST', '/v1/models/iris/aliases/champion')).toHaveLength(0);

    await user.click(within(dialog).getByRole('button', { name: 'Confirm' }));
    expect(await screen.findByText(/now points to version 3/)).toHaveTextContent('(was version 2)');
    expect(ingress.callsTo('POST', '/v1/models/iris/aliases/champion')[0]?.json).toEqual({ version: '3' });
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
    await screen.findByRole('table', { name: 'Versions' });
    expect(aliasesInRow('3')).toEqual(['challenger', 'champion']);
    expect(aliasesInRow('2')).toEqual([]);
  });

  it('rolls champion back to an older version with "Set alias"', async () => {
    const user = userEvent.setup();
    const { ingress } = renderPage(<Models />, { path: '/models', routes: registry() });
    await screen.findByRole('table', { name: 'Versions' });
    expect(screen.getByLabelText('Alias')).toHaveValue('champion');
    await user.selectOptions(screen.getByLabelText('Version'), '1');
    await user.click(screen.getByRole('button', { name: 'Set alias' }));
    await user.click(screen.getByRole('button', { name: 'Confirm' }));
    expect(await screen.findByText(/now points to version 1/)).toBeInTheDocument();
    expect(ingress.callsTo('POST', '/v1/models/iris/aliases/champion')[0]?.json).toEqual({ version: '1' });
  });

  it('keeps the dialog open and shows why when the server refuses', async () => {
    const user = userEvent.setup();
    renderPage(<Models />, {
      path: '/models',
      routes: { ...registry(), 'POST /v1/models/iris/aliases/champion': { status: 403, body: { detail: 'admin role required' } } },
    });
    await screen.findByRole('table', { name: 'Versions' });
    await user.click(screen.getByRole('button', { name: 'Promote to champion' }));
    await user.click(screen.getByRole('button', { name: 'Confirm' }));
    const dialog = await screen.findByRole('dialog');
    expect(await within(dialog).findByText('admin role required')).toBeInTheDocument();
    expect(within(dialog).getByText('Not allowed for your role')).toBeInTheDocument();
  });

  it('rejects an invalid alias name before asking', async () => {
    const user = userEvent.setup();
    renderPage(<Models />, { path: '/models', routes: registry() });
    await screen.findByRole('table', { name: 'Versions' });
    await user.clear(screen.getByLabelText('Alias'));
    await user.type(screen.getByLabelText('Alias'), 'bad alias!');
    await user.click(screen.getByRole('button', { name: 'Set alias' }));
    expect(screen.getByText(/Use letters, digits/)).toBeInTheDocument();
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
  });

  it('opens the model named in the URL', async () => {
    renderPage(<Models />, {
      path: '/models/diabetes',
      pattern: '/models/:name',
      routes: { ...registry(), 'GET /v1/models/diabetes/versions': { body: { versions: [{ ...irisVersions[0], aliases: ['champion'] }] } } },
    });
    expect(await screen.findByRole('heading', { name: 'diabetes' })).toBeInTheDocument();
    await screen.findByRole('table', { name: 'Versions' });
    expect(aliasesInRow('1')).toEqual(['champion']);
  });

  it('explains an empty registry', async () => {
    renderPage(<Models />, { path: '/models', routes: { 'GET /v1/models': { body: { models: [] } } } });
    expect(await screen.findByText('No registered model yet.')).toBeInTheDocument();
  });
});
