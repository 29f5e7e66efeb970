/**
 * Audit: who changed what. Every admin action through the API (promotions and alias changes, job
 * and benchmark submits, job stops, schedule changes) and every key change of the stack CLI,
 * newest first; filtered by action, outcome and key, older entries a page at a time. Admin keys
 * only: a predict key is told so instead of being shown a failing table.
 */
import { useCallback, useState, type FormEvent } from 'react';
import { ApiError } from '../api/client';
import type { AuditAction, AuditEntry, AuditOutcome, AuditPage, AuditQuery } from '../api/types';
import { useAuth } from '../auth/context';
import { StatusBadge } from '../components/Badges';
import { Card } from '../components/Card';
import { DataTable } from '../components/DataTable';
import { EmptyState, ErrorState, Loading, Notice } from '../components/Feedback';
import { SelectField } from '../components/Form';
import { PageHeader } from '../components/Layout';
import { usePageTitle } from '../hooks/usePageTitle';
import { useResource } from '../hooks/useResource';
import { formatTime } from '../lib/format';

export const AUDIT_PAGE_SIZE = 50;

/** What the log records: the audited routes (the API's non-GET admin operations) and the CLI's key changes. */
const AUDIT_ACTIONS: readonly AuditAction[] = [
  'set_alias',
  'submit_job',
  'stop_job',
  'submit_benchmark',
  'create_schedule',
  'update_schedule',
  'delete_schedule',
  'run_schedule',
  'pause_schedule',
  'resume_schedule',
  'keys_add',
  'keys_revoke',
];

const OUTCOMES: readonly AuditOutcome[] = ['ok', 'denied', 'failed'];

type Filters = Pick<AuditQuery, 'action' | 'outcome' | 'key_id'>;

/** The filter form as typed; applied (trimmed, blanks dropped) only on submit. */
interface Draft {
  action: string;
  outcome: string;
  keyId: string;
}

const NO_DRAFT: Draft = { action: '', outcome: '', keyId: '' };

function toFilters(draft: Draft): Filters {
  return {
    action: draft.action.trim() || undefined,
    outcome: OUTCOMES.find((o) => o === draft.outcome),
    key_id: draft.keyId.trim() || undefined,
  };
}

/** The pages loaded after `base` (the first page they continue); dropped when the first page changes. */
interface Older {
  base: AuditPage;
  entries: AuditEntry[];
  nextBefore: number | null;
  busy: boolean;
  error: unknown;
}

const COLUMNS = ['Time', 'Who', 'Action', 'Target', 'Outcome', 'Status', 'Detail'];

function Dash() {
  return <span className="muted">—</span>;
}

function AuditTable({ entries }: { entries: AuditEntry[] }) {
  return (
    <DataTable caption="Audit log" className="audit-table" columns={COLUMNS}>
      {entries.map((e) => (
        <tr key={e.id} data-entry={e.id}>
          <td className="nowrap">
            <time dateTime={new Date(e.time * 1000).toISOString()}>{formatTime(e.time)}</time>
          </td>
          <td className="nowrap">{e.key_id ? <span className="mono">{e.key_id}</span> : <Dash />}</td>
          <td className="nowrap mono">{e.action}</td>
          <td className="mono">{e.target}</td>
          <td>
            <StatusBadge status={e.outcome} />
          </td>
          <td>{e.status ?? <Dash />}</td>
          <td>{e.detail ?? <Dash />}</td>
        </tr>
      ))}
    </DataTable>
  );
}

export default function Audit() {
  usePageTitle('Audit');
  const { api, role } = useAuth();
  const admin = role === 'admin';

  const [draft, setDraft] = useState<Draft>(NO_DRAFT);
  const [filters, setFilters] = useState<Filters>({});
  const fetchFirst = useCallback(
    (signal: AbortSignal) => api.audit({ ...filters, limit: AUDIT_PAGE_SIZE }, signal),
    [api, filters],
  );
  const first = useResource(fetchFirst, { enabled: admin });

  const [older, setOlder] = useState<Older | null>(null);
  const more = older && older.base === first.data ? older : null;
  const entries = [...(first.data?.entries ?? []), ...(more?.entries ?? [])];
  const nextBefore = more ? more.nextBefore : (first.data?.next_before ?? null);

  const loadMore = async () => {
    const base = first.data;
    if (!base || nextBefore == null) return;
    setOlder({ base, entries: more?.entries ?? [], nextBefore, busy: true, error: null });
    try {
      const page = await api.audit({ ...filters, limit: AUDIT_PAGE_SIZE, before: nextBefore });
      // Filters applied meanwhile started over from a new first page: this page belongs to the old one.
      setOlder((prev) =>
        prev?.base === base
          ? { base, entries: [...prev.entries, ...page.entries], nextBefore: page.next_before, busy: false, error: null }
          : prev,
      );
    } catch (err) {
      setOlder((prev) => (prev?.base === base ? { ...prev, busy: false, error: err } : prev));
    }
  };

  const apply = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    // A new object even for the same filters: Apply also reloads the newest entries.
    setFilters(toFilters(draft));
  };

  const clear = () => {
    setDraft(NO_DRAFT);
    setFilters({});
  };

  const filtered = Object.values(filters).some((v) => v !== undefined);
  const drafted = Object.values(draft).some((v) => v !== '');
  // The stored role can be out of date (the key's role changed): the server's 403 says the same.
  const forbidden = !admin || (first.error instanceof ApiError && first.error.status === 403);

  return (
    <div className="page">
      <PageHeader title="Audit" subtitle="Who changed what: admin actions through the API and key changes made with the stack CLI." />
      {forbidden ? (
        <Notice kind="warning">
          The audit log needs an <strong>admin</strong> key. The key you signed in with may only read and predict: sign out
          and sign in with an admin key to see who changed what.
        </Notice>
      ) : (
        <Card id="audit-h" title="Audit log" hideTitle>
          <form className="inline-form audit-filters" onSubmit={apply} noValidate>
            <div className="field">
              <label htmlFor="audit-action">Action</label>
              <input
                id="audit-action"
                list="audit-actions"
                value={draft.action}
                onChange={(e) => setDraft({ ...draft, action: e.target.value })}
                placeholder="any"
                maxLength={64}
                spellCheck={false}
                autoComplete="off"
              />
              <datalist id="audit-actions">
                {AUDIT_ACTIONS.map((a) => (
                  <option key={a} value={a} />
                ))}
              </datalist>
            </div>
            <SelectField
              id="audit-outcome"
              label="Outcome"
              value={draft.outcome}
              options={['', ...OUTCOMES]}
              text={(o) => o || 'any'}
              onChange={(outcome) => setDraft({ ...draft, outcome })}
            />
            <div className="field">
              <label htmlFor="audit-key">Key id</label>
              <input
                id="audit-key"
                value={draft.keyId}
                onChange={(e) => setDraft({ ...draft, keyId: e.target.value })}
                placeholder="any"
                maxLength={16}
                spellCheck={false}
                autoComplete="off"
              />
            </div>
            <button type="submit" className="btn btn-primary">
              Apply
            </button>
            <button type="button" className="btn" onClick={clear} disabled={!filtered && !drafted}>
              Clear
            </button>
          </form>

          {first.loading ? <Loading label="Loading the audit log…" /> : null}
          {first.error ? <ErrorState error={first.error} onRetry={first.reload} what="the audit log" compact={Boolean(first.data)} /> : null}
          {first.data && entries.length === 0 ? (
            filtered ? (
              <EmptyState title="No entry matches these filters.">Clear them to see every entry.</EmptyState>
            ) : (
              <EmptyState title="No admin action recorded yet.">
                Promotions, job and benchmark submits, job stops, schedule changes and key changes show up here.
              </EmptyState>
            )
          ) : null}
          {entries.length ? (
            <>
              <AuditTable entries={entries} />
              {more?.error ? <ErrorState error={more.error} onRetry={() => void loadMore()} what="older entries" compact /> : null}
              <div className="pager">
                <span className="muted small" aria-live="polite">
                  {nextBefore == null ? `All ${entries.length} entries` : `The newest ${entries.length} entries`}
                  {filtered ? ' matching the filters' : ''}
                </span>
                {nextBefore != null ? (
                  <button type="button" className="btn btn-small" onClick={() => void loadMore()} disabled={more?.busy}>
                    {more?.busy ? 'Loading…' : 'Load more'}
                  </button>
                ) : null}
              </div>
            </>
          ) : null}
        </Card>
      )}
    </div>
  );
}
