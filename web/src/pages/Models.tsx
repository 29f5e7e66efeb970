/**
 * Models: the registry — models, versions with test metrics, aliases; promote and roll back;
 * a link to each model's monitoring.
 */
import { useCallback, useMemo, useState, type FormEvent } from 'react';
import { Link, useParams } from 'react-router-dom';
import type { AliasChange, ModelVersion, RegisteredModel } from '../api/types';
import { useApi } from '../auth/context';
import { AliasBadge, StatusBadge } from '../components/Badges';
import { Card } from '../components/Card';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { DataTable } from '../components/DataTable';
import { EmptyState, ErrorState, Loading, Notice } from '../components/Feedback';
import { SelectField } from '../components/Form';
import { PageHeader } from '../components/Layout';
import { useResource } from '../hooks/useResource';
import { usePageTitle } from '../hooks/usePageTitle';
import { formatScore, formatTime } from '../lib/format';
import { byVersionDesc, defaultCandidate } from '../lib/models';

const ALIAS = /^[A-Za-z_][A-Za-z0-9_-]*$/;

function ModelList({ models, selected }: { models: RegisteredModel[]; selected: string | undefined }) {
  return (
    <ul className="model-list">
      {models.map((m) => (
        <li key={m.name}>
          <Link
            to={`/models/${encodeURIComponent(m.name)}`}
            className={m.name === selected ? 'model-link active' : 'model-link'}
            aria-current={m.name === selected ? 'page' : undefined}
          >
            <span className="model-link-name">{m.name}</span>
            <span className="model-link-meta">
              {m.latest_version ? `latest v${m.latest_version}` : 'no versions'}
              {Object.entries(m.aliases).map(([alias, version]) => (
                <span key={alias} className="alias-chip">
                  {alias} v{version}
                </span>
              ))}
            </span>
          </Link>
        </li>
      ))}
    </ul>
  );
}

function MetricList({ metrics }: { metrics: Record<string, number> }) {
  const entries = Object.entries(metrics);
  if (!entries.length) return <span className="muted">—</span>;
  return (
    <ul className="metric-list">
      {entries.map(([k, v]) => (
        <li key={k}>
          <span className="muted">{k}</span> {formatScore(v)}
        </li>
      ))}
    </ul>
  );
}

function VersionsTable({ versions }: { versions: ModelVersion[] }) {
  return (
    <DataTable caption="Versions" columns={['Version', 'Aliases', 'Test metrics', 'Family', 'Created', 'Status']}>
      {versions.map((v) => (
        <tr key={v.version} className={v.aliases.includes('champion') ? 'row-champion' : undefined} data-version={v.version}>
          <td className="cell-main">v{v.version}</td>
          <td>
            <div className="badges">
              {v.aliases.length ? v.aliases.map((a) => <AliasBadge key={a} alias={a} />) : <span className="muted">—</span>}
            </div>
          </td>
          <td>
            <MetricList metrics={v.metrics} />
          </td>
          <td>{v.family ?? '—'}</td>
          <td className="nowrap">{formatTime(v.created_at)}</td>
          <td>
            <StatusBadge status={v.status} />
          </td>
        </tr>
      ))}
    </DataTable>
  );
}

/** A version with its aliases, as the candidate select names it: "v3 (challenger)". */
function withAliases(version: ModelVersion | undefined): string {
  if (!version) return '';
  return `v${version.version}${version.aliases.length ? ` (${version.aliases.join(', ')})` : ''}`;
}

interface PendingChange {
  alias: string;
  version: string;
}

function ModelDetail({ model, onChanged }: { model: RegisteredModel; onChanged: () => void }) {
  const api = useApi();
  const fetchVersions = useCallback((signal: AbortSignal) => api.versions(model.name, signal), [api, model.name]);
  const versions = useResource(fetchVersions);
  const sorted = useMemo(() => [...(versions.data ?? [])].sort(byVersionDesc), [versions.data]);
  const versionIds = sorted.map((v) => v.version);
  // Aliases as the versions report them (fresher than the model list after a change).
  const aliases = useMemo(() => {
    if (!versions.data) return model.aliases;
    const found: Record<string, string> = {};
    for (const v of versions.data) for (const a of v.aliases) found[a] = v.version;
    return found;
  }, [versions.data, model.aliases]);

  const [candidate, setCandidate] = useState<string | null>(null);
  const [aliasName, setAliasName] = useState('champion');
  const [aliasVersion, setAliasVersion] = useState<string | null>(null);
  const [aliasProblem, setAliasProblem] = useState<string | null>(null);
  const [pending, setPending] = useState<PendingChange | null>(null);
  const [done, setDone] = useState<AliasChange | null>(null);

  const promoteVersion = candidate ?? defaultCandidate(sorted, aliases);
  const chosenAliasVersion = aliasVersion ?? sorted[0]?.version ?? '';

  const apply = async () => {
    if (!pending) return;
    const change = await api.setAlias(model.name, pending.alias, pending.version);
    setPending(null);
    setDone(change);
    setCandidate(null);
    versions.reload();
    onChanged();
  };

  const askSetAlias = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const alias = aliasName.trim();
    if (!ALIAS.test(alias)) {
      setAliasProblem('Use letters, digits, "_" or "-" for the alias, starting with a letter (e.g. champion).');
      return;
    }
    setAliasProblem(null);
    setPending({ alias, version: chosenAliasVersion });
  };

  const current = pending ? aliases[pending.alias] : undefined;
  const knownAliases = Array.from(new Set(['champion', 'challenger', ...Object.keys(aliases)]));

  return (
    <div className="stack">
      <section className="card" aria-labelledby="model-h">
        <div className="card-head">
          <div>
            <h2 id="model-h" className="card-title">
              {model.name}
            </h2>
            {model.description ? <p className="muted">{model.description}</p> : null}
          </div>
          <div className="badges">
            {Object.entries(aliases).map(([alias, version]) => (
              <span key={alias} className="alias-pair">
                <AliasBadge alias={alias} /> v{version}
              </span>
            ))}
            <Link className="btn btn-small" to={`/monitoring/${encodeURIComponent(model.name)}`} title={`Monitoring of ${model.name} while it is served`}>
              Drift and live quality
            </Link>
          </div>
        </div>
        {done ? (
          <Notice kind="success">
            <strong>{done.alias}</strong> now points to version {done.version}
            {done.previous_version && done.previous_version !== done.version ? ` (was version ${done.previous_version})` : ''}.
            Serving replicas switch after the new version loads and passes its warm-up.
          </Notice>
        ) : null}
        {versions.loading ? <Loading label="Loading versions…" /> : null}
        {versions.error ? <ErrorState error={versions.error} onRetry={versions.reload} what="versions" /> : null}
        {versions.data && sorted.length === 0 ? <EmptyState title="This model has no versions yet." /> : null}
        {sorted.length ? <VersionsTable versions={sorted} /> : null}
      </section>

      {sorted.length ? (
        <Card id="aliases-h" title="Promote or roll back">
          <div className="alias-forms">
            <div className="alias-form">
              <h3 className="subhead">Promote a version to champion</h3>
              <p className="muted small">Predictions for {model.name}@champion are answered by this version.</p>
              <div className="inline-form">
                <SelectField
                  id="candidate"
                  label="Candidate"
                  value={promoteVersion}
                  options={versionIds}
                  text={(_, i) => withAliases(sorted[i])}
                  onChange={setCandidate}
                />
                <button
                  type="button"
                  className="btn btn-primary"
                  onClick={() => setPending({ alias: 'champion', version: promoteVersion })}
                  disabled={!promoteVersion}
                >
                  Promote to champion
                </button>
              </div>
            </div>

            <form className="alias-form" onSubmit={askSetAlias} noValidate>
              <h3 className="subhead">Set any alias</h3>
              <p className="muted small">Roll back by pointing champion at an earlier version.</p>
              <div className="inline-form">
                <div className="field">
                  <label htmlFor="alias-name">Alias</label>
                  <input
                    id="alias-name"
                    list="alias-suggestions"
                    value={aliasName}
                    onChange={(e) => setAliasName(e.target.value)}
                    aria-invalid={aliasProblem ? true : undefined}
                    aria-describedby={aliasProblem ? 'alias-problem' : undefined}
                    spellCheck={false}
                    autoComplete="off"
                  />
                  <datalist id="alias-suggestions">
                    {knownAliases.map((a) => (
                      <option key={a} value={a} />
                    ))}
                  </datalist>
                </div>
                <SelectField
                  id="alias-version"
                  label="Version"
                  value={chosenAliasVersion}
                  options={versionIds}
                  text={(version) => `v${version}`}
                  onChange={setAliasVersion}
                />
                <button type="submit" className="btn">
                  Set alias
                </button>
              </div>
              {aliasProblem ? (
                <p id="alias-problem" className="field-error">
                  {aliasProblem}
                </p>
              ) : null}
            </form>
          </div>
        </Card>
      ) : null}

      {pending ? (
        <ConfirmDialog
          title={pending.alias === 'champion' ? 'Promote to champion?' : `Set alias ${pending.alias}?`}
          onConfirm={apply}
          onCancel={() => setPending(null)}
        >
          <p>
            Point <strong>{model.name}@{pending.alias}</strong> at <strong>version {pending.version}</strong>.
          </p>
          <p className="muted">
            {current === undefined
              ? `No version holds ${pending.alias} yet.`
              : current === pending.version
                ? `Version ${current} already holds ${pending.alias}; nothing changes.`
                : `It currently points to version ${current}.`}
          </p>
        </ConfirmDialog>
      ) : null}
    </div>
  );
}

export default function Models() {
  usePageTitle('Models');
  const { name } = useParams();
  const api = useApi();
  const fetchModels = useCallback((signal: AbortSignal) => api.models(signal), [api]);
  const models = useResource(fetchModels);
  const list = models.data ?? [];
  const selected = name ? list.find((m) => m.name === name) : list[0];

  return (
    <div className="page">
      <PageHeader title="Models" subtitle="Registered models, their versions and aliases in the MLflow Model Registry." />
      {models.loading ? <Loading label="Loading the registry…" /> : null}
      {models.error ? <ErrorState error={models.error} onRetry={models.reload} what="the registry" /> : null}
      {models.data && list.length === 0 ? (
        <EmptyState title="No registered model yet.">
          Train one on the <Link to="/training">sweep form</Link>; the best model of a sweep is registered here.
        </EmptyState>
      ) : null}
      {list.length ? (
        <div className="master-detail">
          <nav aria-label="Registered models" className="card master">
            <ModelList models={list} selected={selected?.name} />
          </nav>
          <div className="detail">
            {selected ? (
              <ModelDetail key={selected.name} model={selected} onChanged={models.reload} />
            ) : (
              <ErrorState error={new Error(`No registered model is named "${name ?? ''}".`)} />
            )}
          </div>
        </div>
      ) : null}
    </div>
  );
}
