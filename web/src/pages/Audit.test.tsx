import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '../api/types';
import type { RecordedCall, Routes } from '../test/api';
import { auditEntry, NOW } from '../test/fixtures';
import { renderPage } from '../test/render';
import { formatTime } from '../lib/format';
import Audit, { AUDIT_PAGE_SIZE } from './Audit';

/** A log answering like the server: filters, then `before`, newest first, `limit` at most. */
function auditLog(all: AuditEntry[]): Routes {
  return {
    'GET /v1/audit': (call: RecordedCall) => {
      const q = call.query;
      const limit = Number(q.get('limit') ?? 50);
      const before = q.get('before');
      const matching = all.filter(
        (e) =>
          (before === null || e.id < Number(before)) &&
          (!q.get('action') || e.action === q.get('action')) &&
          (!q.get('outcome') || e.outcome === q.get('outcome')) &&
          (!q.get('key_id') || e.key_id === q.get('key_id')),
      );
      const entries = matching.slice(0, limit);
      const last = entries[entries.length - 1];
      return { body: { entries, next_before: entries.length === limit && last ? last.id : null } };
    },
  };
}

/** `count` entries, ids count..1 (newest first); every third one a denied job submit by another key. */
function history(count: number): AuditEntry[] {
  return Array.from({ length: count }, (_, i) => {
    const id = count - i;
    return id % 3 === 0
      ? auditEntry({ id, time: NOW - i * 60, key_id: '9b8a7c6d5e4f', action: 'submit_job', target: '/v1/jobs', outcome: 'denied', status: 429, detail: null })
      : auditEntry({ id, time: NOW - i * 60 });
  });
}

function renderAudit(routes: Routes, role: 'admin' | 'predict' = 'admin') {
  return renderPage(<Audit />, { path: '/audit', routes, role });
}

function rows(): HTMLElement[] {
  return within(screen.getByRole('table', { name: 'Audit log' })).getAllByRole('row').slice(1);
}

function entryRow(id: number): HTMLElement {
  const row = document.querySelector<HTMLElement>(`tr[data-entry="${id}"]`);
  if (!row) throw new Error(`no row for entry ${id}`);
  return row;
}

describe('Audit', () => {
  it('shows each entry: time, key, action, target, outcome, status and detail', async () => {
    const { ingress } = renderAudit(
      auditLog([
        auditEntry({ id: 3 }),
        auditEntry({ id: 2, time: NOW - 900, key_id: 'cli:ops', action: 'keys_revoke', target: '9b8a7c6d5e4f', status: null, detail: 'role admin' }),
        auditEntry({ id: 1, time: NOW - 1200, action: 'stop_job', target: '/v1/jobs/raysubmit_1/stop', outcome: 'failed', status: 404, detail: null }),
      ]),
    );
    await screen.findByRole('table', { name: 'Audit log' });
    expect(rows().map((r) => r.getAttribute('data-entry'))).toEqual(['3', '2', '1']);

    const promoted = entryRow(3);
    expect(promoted).toHaveTextContent(formatTime(NOW - 600));
    expect(promoted).toHaveTextContent('3f9a1c0b2d4e');
    expect(promoted).toHaveTextContent('set_alias');
    expect(promoted).toHaveTextContent('/v1/models/iris/aliases/champion');
    expect(within(promoted).getByText('ok')).toHaveClass('badge-ok');
    expect(promoted).toHaveTextContent('200');
    expect(promoted).toHaveTextContent('version 4, was 3');

    const revoked = entryRow(2);
    expect(revoked).toHaveTextContent('cli:ops');
    expect(revoked).toHaveTextContent('keys_revoke');
    expect(revoked.querySelectorAll('td')[5]).toHaveTextContent('—'); // the CLI answers no HTTP status

    expect(within(entryRow(1)).getByText('failed')).toHaveClass('badge-bad');
    expect(screen.getByText('All 3 entries')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Load more' })).not.toBeInTheDocument();

    const [call] = ingress.callsTo('GET', '/v1/audit');
    expect(call?.query.toString()).toBe(`limit=${AUDIT_PAGE_SIZE}`);
  });

  it('says so when nothing has been recorded yet', async () => {
    renderAudit({ 'GET /v1/audit': { body: { entries: [], next_before: null } } });
    expect(await screen.findByText('No admin action recorded yet.')).toBeInTheDocument();
    expect(screen.queryByRole('table')).not.toBeInTheDocument();
  });

  it('loads older entries with before=<next_before> and appends them', async () => {
    const user = userEvent.setup();
    const { ingress } = renderAudit(auditLog(history(120)));
    await screen.findByRole('table', { name: 'Audit log' });
    expect(rows()).toHaveLength(50);
    expect(screen.getByText('The newest 50 entries')).toBeInTheDocument();

    await user.click(screen.getByRole('button', { name: 'Load more' }));
    expect(await screen.findByText('The newest 100 entries')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Load more' }));
    expect(await screen.findByText('All 120 entries')).toBeInTheDocument();

    expect(rows().map((r) => Number(r.getAttribute('data-entry')))).toEqual(history(120).map((e) => e.id));
    expect(screen.queryByRole('button', { name: 'Load more' })).not.toBeInTheDocument();
    const befores = ingress.callsTo('GET', '/v1/audit').map((c) => c.query.get('before'));
    expect(befores).toEqual([null, '71', '21']);
  });

  it('puts the filters on the request and starts again from the newest entry', async () => {
    const user = userEvent.setup();
    const { ingress } = renderAudit(auditLog(history(120)));
    await screen.findByRole('table', { name: 'Audit log' });
    await user.click(screen.getByRole('button', { name: 'Load more' }));
    expect(await screen.findByText('The newest 100 entries')).toBeInTheDocument();

    await user.type(screen.getByLabelText('Action'), ' submit_job ');
    await user.selectOptions(screen.getByLabelText('Outcome'), 'denied');
    await user.type(screen.getByLabelText('Key id'), '9b8a7c6d5e4f');
    await user.click(screen.getByRole('button', { name: 'Apply' }));

    expect(await screen.findByText('All 40 entries matching the filters')).toBeInTheDocument();
    const last = ingress.callsTo('GET', '/v1/audit').at(-1);
    expect(Object.fromEntries(last?.query ?? [])).toEqual({
      limit: String(AUDIT_PAGE_SIZE),
      action: 'submit_job',
      outcome: 'denied',
      key_id: '9b8a7c6d5e4f',
    });
    expect(rows()).toHaveLength(40);
    for (const row of rows()) expect(within(row).getByText('denied')).toHaveClass('badge-wait');

    await user.click(screen.getByRole('button', { name: 'Clear' }));
    expect(await screen.findByText('The newest 50 entries')).toBeInTheDocument();
    expect(ingress.callsTo('GET', '/v1/audit').at(-1)?.query.toString()).toBe(`limit=${AUDIT_PAGE_SIZE}`);
    expect(screen.getByLabelText('Action')).toHaveValue('');
  });

  it('tells apart an empty log and filters that match nothing', async () => {
    const user = userEvent.setup();
    renderAudit(auditLog(history(5)));
    await screen.findByRole('table', { name: 'Audit log' });
    await user.selectOptions(screen.getByLabelText('Outcome'), 'failed');
    await user.click(screen.getByRole('button', { name: 'Apply' }));
    expect(await screen.findByText('No entry matches these filters.')).toBeInTheDocument();
  });

  it('shows an error with a retry when the log cannot be read', async () => {
    const user = userEvent.setup();
    let down = true;
    renderAudit({
      'GET /v1/audit': () => (down ? { status: 503, body: { detail: 'this application keeps no audit log' } } : { body: { entries: [auditEntry()], next_before: null } }),
    });
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('Not ready yet');
    expect(alert).toHaveTextContent('this application keeps no audit log');
    down = false;
    await user.click(within(alert).getByRole('button', { name: 'Retry' }));
    await screen.findByRole('table', { name: 'Audit log' });
    expect(rows()).toHaveLength(1);
  });

  it('asks for an admin key when the server answers 403', async () => {
    renderAudit({ 'GET /v1/audit': { status: 403, body: { detail: 'this route needs an admin key' } } });
    expect(await screen.findByText(/The audit log needs an/)).toHaveTextContent('The audit log needs an admin key.');
    expect(screen.queryByRole('table')).not.toBeInTheDocument();
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
    expect(screen.queryByLabelText('Action')).not.toBeInTheDocument();
  });

  it('asks a predict key for an admin key without calling the API', async () => {
    const { ingress } = renderAudit(auditLog(history(3)), 'predict');
    expect(await screen.findByText(/The audit log needs an/)).toHaveTextContent('sign in with an admin key');
    expect(screen.queryByRole('table')).not.toBeInTheDocument();
    expect(ingress.callsTo('GET', '/v1/audit')).toHaveLength(0);
  });
});
