/**
 * Training: submit a sweep as a Ray Job, either a shipped config (by name) or a spec built
 * from the form; recent jobs are listed beside it and open into the live job view.
 */
import { useCallback, useMemo, useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router-dom';
import type { Catalog, SearchAlgorithm, ShippedConfig, Task, TrainSpec } from '../api/types';
import { formFromSpec, initialForm, specFromForm, validateForm, type TrainForm } from '../lib/trainForm';
import { useApi } from '../auth/context';
import { Card } from '../components/Card';
import { EmptyState, ErrorState, Loading } from '../components/Feedback';
import { FormActions } from '../components/Form';
import { JobsTable } from '../components/JobsTable';
import { PageHeader } from '../components/Layout';
import { useResource } from '../hooks/useResource';
import { usePageTitle } from '../hooks/usePageTitle';
import { jobPath } from '../lib/jobs';

function FieldError({ id, message }: { id: string; message: string | undefined }) {
  return message ? (
    <p id={id} className="field-error">
      {message}
    </p>
  ) : null;
}

function ConfigSummary({ config }: { config: ShippedConfig }) {
  const { spec } = config;
  return (
    <div className="config-summary">
      <dl className="facts">
        <div>
          <dt>Model name</dt>
          <dd>{spec.name}</dd>
        </div>
        <div>
          <dt>Dataset</dt>
          <dd className="mono">{spec.dataset.source}</dd>
        </div>
        <div>
          <dt>Task</dt>
          <dd>{spec.dataset.task}</dd>
        </div>
        <div>
          <dt>Target</dt>
          <dd className="mono">{spec.dataset.target}</dd>
        </div>
        <div>
          <dt>Families</dt>
          <dd>{Object.keys(spec.estimators).join(', ') || '—'}</dd>
        </div>
        <div>
          <dt>Search</dt>
          <dd>
            {spec.search.algorithm}, {spec.search.num_samples} samples, {spec.search.cpus_per_trial} CPU per trial
          </dd>
        </div>
      </dl>
      <details className="yaml">
        <summary>Show YAML</summary>
        <pre>{config.yaml}</pre>
      </details>
    </div>
  );
}

interface CustomFieldsProps {
  form: TrainForm;
  catalog: Catalog;
  problems: Record<string, string>;
  onChange: (next: TrainForm) => void;
}

function CustomFields({ form, catalog, problems, onChange }: CustomFieldsProps) {
  const set = (patch: Partial<TrainForm>) => onChange({ ...form, ...patch });
  const families = catalog.families[form.task] ?? [];
  const metrics = catalog.metrics[form.task] ?? [];

  const chooseBuiltin = (name: string) => {
    const dataset = catalog.builtin_datasets.find((d) => d.name === name);
    if (!dataset) {
      set({ builtin: name });
      return;
    }
    const taskFamilies = catalog.families[dataset.task] ?? [];
    const kept = form.families.filter((f) => taskFamilies.includes(f));
    set({
      builtin: name,
      task: dataset.task,
      target: dataset.target,
      families: kept.length ? kept : taskFamilies.slice(0, 2),
      metric: dataset.task === form.task ? form.metric : '',
    });
  };

  const chooseTask = (task: Task) => {
    const taskFamilies = catalog.families[task] ?? [];
    set({ task, families: form.families.filter((f) => taskFamilies.includes(f)), metric: '' });
  };

  const toggleFamily = (family: string, on: boolean) =>
    set({ families: on ? [...form.families, family] : form.families.filter((f) => f !== family) });

  const describe = (field: string) => (problems[field] ? `${field}-error` : undefined);

  return (
    <div className="form-grid">
      <div className="field span-2">
        <label htmlFor="model-name">Model name</label>
        <input
          id="model-name"
          value={form.modelName}
          onChange={(e) => set({ modelName: e.target.value })}
          aria-invalid={problems.modelName ? true : undefined}
          aria-describedby={describe('modelName')}
          autoComplete="off"
          spellCheck={false}
        />
        <FieldError id="modelName-error" message={problems.modelName} />
      </div>

      <fieldset className="field span-2">
        <legend>Dataset source</legend>
        <div className="radio-row">
          <label className="check">
            <input
              type="radio"
              name="source-kind"
              checked={form.sourceKind === 'builtin'}
              onChange={() => set({ sourceKind: 'builtin' })}
            />
            Built-in dataset
          </label>
          <label className="check">
            <input
              type="radio"
              name="source-kind"
              checked={form.sourceKind === 'path'}
              onChange={() => set({ sourceKind: 'path' })}
            />
            File path or S3 URI
          </label>
        </div>
        {form.sourceKind === 'builtin' ? (
          <div className="field">
            <label htmlFor="builtin-dataset">Built-in dataset name</label>
            <select
              id="builtin-dataset"
              value={form.builtin}
              onChange={(e) => chooseBuiltin(e.target.value)}
              aria-describedby={describe('source')}
            >
              {catalog.builtin_datasets.map((d) => (
                <option key={d.name} value={d.name}>
                  {d.name} ({d.task})
                </option>
              ))}
            </select>
          </div>
        ) : (
          <div className="field">
            <label htmlFor="dataset-path">Path or URI</label>
            <input
              id="dataset-path"
              value={form.path}
              placeholder="/data/houses.parquet or s3://bucket/houses.csv"
              onChange={(e) => set({ path: e.target.value })}
              aria-invalid={problems.source ? true : undefined}
              aria-describedby={describe('source')}
              spellCheck={false}
            />
          </div>
        )}
        <FieldError id="source-error" message={problems.source} />
      </fieldset>

      <div className="field">
        <label htmlFor="task">Task</label>
        <select
          id="task"
          value={form.task}
          onChange={(e) => chooseTask(e.target.value as Task)}
          disabled={form.sourceKind === 'builtin'}
        >
          <option value="classification">classification</option>
          <option value="regression">regression</option>
        </select>
      </div>

      <div className="field">
        <label htmlFor="target">Target column</label>
        <input
          id="target"
          value={form.target}
          onChange={(e) => set({ target: e.target.value })}
          aria-invalid={problems.target ? true : undefined}
          aria-describedby={describe('target')}
          spellCheck={false}
        />
        <FieldError id="target-error" message={problems.target} />
      </div>

      <fieldset className="field span-2" aria-describedby={describe('families')}>
        <legend>Estimator families</legend>
        {families.length ? (
          <div className="check-grid">
            {families.map((family) => (
              <label key={family} className="check">
                <input
                  type="checkbox"
                  checked={form.families.includes(family)}
                  onChange={(e) => toggleFamily(family, e.target.checked)}
                />
                {family}
              </label>
            ))}
          </div>
        ) : (
          <p className="muted small">The catalog lists no estimator family for {form.task}.</p>
        )}
        <FieldError id="families-error" message={problems.families} />
      </fieldset>

      <div className="field">
        <label htmlFor="num-samples">Number of samples</label>
        <input
          id="num-samples"
          type="number"
          min={1}
          step={1}
          inputMode="numeric"
          value={form.numSamples}
          onChange={(e) => set({ numSamples: e.target.value })}
          aria-invalid={problems.numSamples ? true : undefined}
          aria-describedby={describe('numSamples')}
        />
        <FieldError id="numSamples-error" message={problems.numSamples} />
      </div>

      <div className="field">
        <label htmlFor="cpus-per-trial">CPUs per trial</label>
        <input
          id="cpus-per-trial"
          type="number"
          min={0.25}
          step={0.25}
          inputMode="decimal"
          value={form.cpusPerTrial}
          onChange={(e) => set({ cpusPerTrial: e.target.value })}
          aria-invalid={problems.cpusPerTrial ? true : undefined}
          aria-describedby={describe('cpusPerTrial')}
        />
        <FieldError id="cpusPerTrial-error" message={problems.cpusPerTrial} />
      </div>

      <div className="field">
        <label htmlFor="algorithm">Search algorithm</label>
        <select id="algorithm" value={form.algorithm} onChange={(e) => set({ algorithm: e.target.value as SearchAlgorithm })}>
          <option value="random">random</option>
          <option value="grid">grid</option>
        </select>
      </div>

      <div className="field">
        <label htmlFor="metric">Metric</label>
        <select id="metric" value={form.metric} onChange={(e) => set({ metric: e.target.value })}>
          <option value="">default for {form.task}</option>
          {metrics.map((m) => (
            <option key={m} value={m}>
              {m}
            </option>
          ))}
        </select>
      </div>
    </div>
  );
}

export default function Training() {
  usePageTitle('Training');
  const api = useApi();
  const navigate = useNavigate();
  const fetchConfigs = useCallback((signal: AbortSignal) => api.configs(signal), [api]);
  const fetchCatalog = useCallback((signal: AbortSignal) => api.catalog(signal), [api]);
  const fetchJobs = useCallback((signal: AbortSignal) => api.jobs(signal), [api]);
  const configs = useResource(fetchConfigs);
  const catalog = useResource(fetchCatalog);
  const jobs = useResource(fetchJobs, { pollMs: 5000 });

  const [configName, setConfigName] = useState('');
  // null until the user edits: the defaults follow the catalog once it arrives.
  const [edited, setEdited] = useState<TrainForm | null>(null);
  const form = useMemo(() => edited ?? initialForm(catalog.data), [edited, catalog.data]);
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [submitError, setSubmitError] = useState<unknown>(null);
  const [submitting, setSubmitting] = useState(false);

  const selected = configs.data?.find((c) => c.name === configName);

  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setSubmitError(null);
    let body: { config: string } | { spec: TrainSpec };
    if (selected) {
      body = { config: selected.name };
    } else {
      const found = validateForm(form);
      setProblems(found);
      if (Object.keys(found).length) return;
      body = { spec: specFromForm(form) };
    }
    setSubmitting(true);
    try {
      const { job_id } = await api.submitJob(body);
      void navigate(jobPath(job_id));
    } catch (err) {
      setSubmitError(err);
      setSubmitting(false);
    }
  };

  const editCopy = () => {
    if (!selected) return;
    setEdited(formFromSpec(selected.spec, catalog.data));
    setConfigName('');
  };

  const recentJobs = jobs.data?.slice(0, 15) ?? [];

  return (
    <div className="page">
      <PageHeader
        title="Training"
        subtitle="Run a hyperparameter sweep as a Ray Job. The best model is registered in MLflow with the alias challenger."
      />
      <div className="two-col wide-left">
        <Card id="new-job-h" title="New training job">
          <form onSubmit={(e) => void onSubmit(e)} noValidate>
            <div className="field">
              <label htmlFor="config">Config</label>
              <select id="config" value={configName} onChange={(e) => setConfigName(e.target.value)} disabled={configs.loading}>
                <option value="">Custom: fill in the form</option>
                {(configs.data ?? []).map((c) => (
                  <option key={c.name} value={c.name}>
                    {c.name}
                  </option>
                ))}
              </select>
              <p className="hint">A shipped sweep from configs/train/, or your own settings below.</p>
            </div>
            {configs.error ? <ErrorState error={configs.error} onRetry={configs.reload} what="the shipped sweeps" compact /> : null}

            {selected ? (
              <>
                <ConfigSummary config={selected} />
                <button type="button" className="btn btn-small" onClick={editCopy} disabled={!catalog.data}>
                  Edit a copy in the form
                </button>
              </>
            ) : catalog.loading ? (
              <Loading label="Loading the estimator catalog…" />
            ) : catalog.error ? (
              <ErrorState error={catalog.error} onRetry={catalog.reload} what="the estimator catalog" />
            ) : catalog.data ? (
              <CustomFields form={form} catalog={catalog.data} problems={problems} onChange={setEdited} />
            ) : null}

            {submitError ? <ErrorState error={submitError} /> : null}
            {!selected && Object.keys(problems).length ? (
              <p className="field-error" role="alert">
                Fix the highlighted fields, then submit again.
              </p>
            ) : null}
            <FormActions label="Submit job" busyLabel="Submitting…" busy={submitting} disabled={!selected && !catalog.data} />
          </form>
        </Card>

        <Card id="recent-h" title="Recent jobs">
          {jobs.loading ? <Loading label="Loading jobs…" /> : null}
          {jobs.error ? <ErrorState error={jobs.error} onRetry={jobs.reload} what="jobs" compact /> : null}
          {jobs.data && recentJobs.length === 0 ? (
            <EmptyState title="No jobs yet.">Submit one with the form.</EmptyState>
          ) : null}
          {recentJobs.length ? <JobsTable jobs={recentJobs} caption="Recent Ray jobs" compact /> : null}
        </Card>
      </div>
    </div>
  );
}
