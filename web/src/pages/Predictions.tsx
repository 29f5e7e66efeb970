/**
 * Predictions: pick a model and alias; a form generated from the model signature (one typed,
 * labelled field per feature) or a CSV upload; results with class probabilities as bars.
 */
import { useCallback, useMemo, useState, type FormEvent } from 'react';
import type { ModelSchema, PredictResponse, RegisteredModel } from '../api/types';
import { useApi } from '../auth/context';
import { Card } from '../components/Card';
import { DataTable } from '../components/DataTable';
import { EmptyState, ErrorState, Loading } from '../components/Feedback';
import { FormActions, SelectField } from '../components/Form';
import { PageHeader } from '../components/Layout';
import { ProbabilityBars } from '../components/ProbabilityBars';
import { useResource } from '../hooks/useResource';
import { usePageTitle } from '../hooks/usePageTitle';
import {
  buildInstance,
  csvHeader,
  csvRowCount,
  emptyValues,
  exampleValues,
  placeholderFor,
  type FieldValues,
} from '../lib/features';
import { formatValue } from '../lib/format';
import { pickModel } from '../lib/models';

const MAX_ROWS_SHOWN = 200;

type Mode = 'form' | 'csv';

function readFile(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(typeof reader.result === 'string' ? reader.result : '');
    reader.onerror = () => reject(reader.error ?? new Error(`Could not read ${file.name}.`));
    reader.readAsText(file);
  });
}

function aliasesOf(model: RegisteredModel | undefined): string[] {
  const names = Object.keys(model?.aliases ?? {});
  if (!names.length) return ['champion'];
  return [...names].sort((a, b) => (a === 'champion' ? -1 : b === 'champion' ? 1 : a.localeCompare(b)));
}

const TYPE_HINT: Record<string, string> = {
  double: 'number',
  long: 'whole number',
  string: 'text',
  boolean: 'true / false',
};

interface FeatureFormProps {
  schema: ModelSchema;
  values: FieldValues;
  problems: Record<string, string>;
  onChange: (values: FieldValues) => void;
}

function FeatureForm({ schema, values, problems, onChange }: FeatureFormProps) {
  return (
    <div className="feature-grid">
      {schema.inputs.map((feature, index) => {
        const id = `feature-${index}`;
        const hintId = `${id}-hint`;
        const errorId = `${id}-error`;
        const value = values[feature.name];
        const problem = problems[feature.name];
        const describedBy = problem ? `${hintId} ${errorId}` : hintId;
        if (feature.type === 'boolean') {
          return (
            <div key={feature.name} className="field field-check">
              <label className="check" htmlFor={id}>
                <input
                  id={id}
                  type="checkbox"
                  checked={value === true}
                  onChange={(e) => onChange({ ...values, [feature.name]: e.target.checked })}
                  aria-describedby={describedBy}
                />
                {feature.name}
              </label>
              <span id={hintId} className="hint">
                {TYPE_HINT.boolean}
                {schema.input_example[feature.name] != null ? `, e.g. ${String(schema.input_example[feature.name])}` : ''}
              </span>
            </div>
          );
        }
        const numeric = feature.type === 'double' || feature.type === 'long';
        return (
          <div key={feature.name} className="field">
            <label htmlFor={id}>{feature.name}</label>
            <input
              id={id}
              type={numeric ? 'number' : 'text'}
              step={feature.type === 'long' ? 1 : numeric ? 'any' : undefined}
              inputMode={feature.type === 'long' ? 'numeric' : numeric ? 'decimal' : undefined}
              value={typeof value === 'string' ? value : ''}
              placeholder={placeholderFor(schema, feature)}
              required={feature.required}
              onChange={(e) => onChange({ ...values, [feature.name]: e.target.value })}
              aria-invalid={problem ? true : undefined}
              aria-describedby={describedBy}
              autoComplete="off"
            />
            <span id={hintId} className="hint">
              {TYPE_HINT[feature.type] ?? feature.type}
              {feature.required ? <span className="required"> · required</span> : null}
            </span>
            {problem ? (
              <span id={errorId} className="field-error">
                {problem}
              </span>
            ) : null}
          </div>
        );
      })}
    </div>
  );
}

function Results({ result, rowCount }: { result: PredictResponse; rowCount: number }) {
  const { predictions, probabilities, classes } = result;
  const shown = predictions.slice(0, MAX_ROWS_SHOWN);
  const single = predictions.length === 1;
  return (
    <Card
      id="results-h"
      title="Result"
      aside={
        <p className="answered-by" data-testid="answered-by">
          Answered by <strong>{result.model}</strong> version <strong>{result.version}</strong>{' '}
          <span className="muted">(alias {result.alias})</span>
        </p>
      }
    >
      {single ? (
        <div className="single-result">
          <div className="prediction-big">
            <span className="stat-label">Prediction</span>
            <output className="stat-value">{formatValue(predictions[0])}</output>
          </div>
          {probabilities?.[0] && classes ? (
            <ProbabilityBars classes={classes} probabilities={probabilities[0]} label="Class probabilities" />
          ) : null}
        </div>
      ) : (
        <>
          <p className="muted small">
            {predictions.length} predictions
            {predictions.length > MAX_ROWS_SHOWN ? `; the first ${MAX_ROWS_SHOWN} are shown` : ''}
            {rowCount && rowCount !== predictions.length ? ` (the file had ${rowCount} data rows)` : ''}.
          </p>
          <DataTable caption="Predictions" columns={['Row', 'Prediction', probabilities && classes ? 'Class probabilities' : null]}>
            {shown.map((p, i) => (
              <tr key={i}>
                <td>{i + 1}</td>
                <td className="cell-main">{formatValue(p)}</td>
                {probabilities && classes ? (
                  <td className="prob-cell">
                    {probabilities[i] ? (
                      <ProbabilityBars classes={classes} probabilities={probabilities[i]} label={`Class probabilities, row ${i + 1}`} compact />
                    ) : null}
                  </td>
                ) : null}
              </tr>
            ))}
          </DataTable>
        </>
      )}
    </Card>
  );
}

function ServingState({ model, alias }: { model: string; alias: string }) {
  const api = useApi();
  const fetchReady = useCallback((signal: AbortSignal) => api.ready(signal), [api]);
  const ready = useResource(fetchReady, { pollMs: 10000 });
  const entry = ready.data?.models.find((m) => m.name === model && m.alias === alias);
  if (!entry) return null;
  const text =
    entry.status === 'ready'
      ? `Serving version ${entry.version}`
      : entry.status === 'loading'
        ? `Loading version ${entry.version}…`
        : `Failed to load${entry.error ? `: ${entry.error}` : ''}`;
  return (
    <p className={`serving-state serving-${entry.status}`} role="status">
      <span className="dot" aria-hidden="true" /> {text}
    </p>
  );
}

interface PredictPanelProps {
  model: string;
  alias: string;
  schema: ModelSchema;
}

function PredictPanel({ model, alias, schema }: PredictPanelProps) {
  const api = useApi();
  const [mode, setMode] = useState<Mode>('form');
  const [values, setValues] = useState<FieldValues>(() => emptyValues(schema.inputs));
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [csv, setCsv] = useState<{ name: string; text: string } | null>(null);
  const [csvProblem, setCsvProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [result, setResult] = useState<{ response: PredictResponse; rows: number } | null>(null);

  const missingColumns = useMemo(() => {
    if (!csv) return [];
    const header = new Set(csvHeader(csv.text));
    return schema.inputs.filter((f) => f.required && !header.has(f.name)).map((f) => f.name);
  }, [csv, schema.inputs]);

  const onFile = async (file: File | undefined) => {
    setCsvProblem(null);
    if (!file) {
      setCsv(null);
      return;
    }
    try {
      setCsv({ name: file.name, text: await readFile(file) });
    } catch (err) {
      setCsv(null);
      setCsvProblem(err instanceof Error ? err.message : String(err));
    }
  };

  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setError(null);
    let request: () => Promise<PredictResponse>;
    let rows = 1;
    if (mode === 'form') {
      const built = buildInstance(schema.inputs, values);
      setProblems(built.problems);
      if (Object.keys(built.problems).length) return;
      request = () => api.predict(model, alias, [built.instance]);
    } else {
      if (!csv || !csv.text.trim()) {
        setCsvProblem('Choose a CSV file with a header row.');
        return;
      }
      rows = csvRowCount(csv.text);
      if (rows === 0) {
        setCsvProblem('The file has a header but no data rows.');
        return;
      }
      const text = csv.text;
      request = () => api.predictCsv(model, alias, text);
    }
    setBusy(true);
    try {
      setResult({ response: await request(), rows });
    } catch (err) {
      setError(err);
      setResult(null);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <Card
        id="input-h"
        title="Input"
        aside={
          <span className="muted small">
            {schema.task} · version {schema.version} · {schema.inputs.length} features
          </span>
        }
      >
        <form onSubmit={(e) => void onSubmit(e)} noValidate>
          <fieldset className="field">
            <legend className="sr-only">Input mode</legend>
            <div className="segmented">
              <label className={mode === 'form' ? 'seg active' : 'seg'}>
                <input type="radio" name="mode" checked={mode === 'form'} onChange={() => setMode('form')} />
                One row
              </label>
              <label className={mode === 'csv' ? 'seg active' : 'seg'}>
                <input type="radio" name="mode" checked={mode === 'csv'} onChange={() => setMode('csv')} />
                CSV batch
              </label>
            </div>
          </fieldset>

          {mode === 'form' ? (
            <>
              <div className="form-toolbar">
                <button type="button" className="btn btn-small" onClick={() => setValues(exampleValues(schema))}>
                  Fill with example
                </button>
                <button
                  type="button"
                  className="btn btn-small btn-ghost-dark"
                  onClick={() => {
                    setValues(emptyValues(schema.inputs));
                    setProblems({});
                  }}
                >
                  Clear
                </button>
              </div>
              {schema.inputs.length ? (
                <FeatureForm schema={schema} values={values} problems={problems} onChange={setValues} />
              ) : (
                <EmptyState title="This model's signature lists no input columns." />
              )}
            </>
          ) : (
            <div className="field">
              <label htmlFor="csv-file">CSV file</label>
              <input id="csv-file" type="file" accept=".csv,text/csv" onChange={(e) => void onFile(e.target.files?.[0])} aria-describedby="csv-hint" />
              <p id="csv-hint" className="hint">
                A header row naming the columns ({schema.inputs.map((f) => f.name).join(', ')}), then one row per
                instance.
              </p>
              {csv ? (
                <p className="muted small">
                  {csv.name}: {csvRowCount(csv.text)} rows.
                </p>
              ) : null}
              {missingColumns.length ? (
                <p className="field-error" role="alert">
                  Missing required column{missingColumns.length > 1 ? 's' : ''}: {missingColumns.join(', ')}.
                </p>
              ) : null}
              {csvProblem ? (
                <p className="field-error" role="alert">
                  {csvProblem}
                </p>
              ) : null}
            </div>
          )}

          {mode === 'form' && Object.keys(problems).length ? (
            <p className="field-error" role="alert">
              Some values are missing or not valid; see the highlighted fields.
            </p>
          ) : null}
          {error ? <ErrorState error={error} /> : null}
          <FormActions label="Predict" busyLabel="Predicting…" busy={busy} />
        </form>
      </Card>
      {result ? <Results result={result.response} rowCount={mode === 'csv' ? result.rows : 0} /> : null}
    </>
  );
}

/** Loads the signature of model@alias and renders the input form generated from it. */
function SchemaSection({ model, alias }: { model: string; alias: string }) {
  const api = useApi();
  const fetchSchema = useCallback((signal: AbortSignal) => api.schema(model, alias, signal), [api, model, alias]);
  const schema = useResource(fetchSchema);
  return (
    <>
      {schema.loading ? <Loading label="Loading the model signature…" /> : null}
      {schema.error ? <ErrorState error={schema.error} onRetry={schema.reload} what="the model signature" /> : null}
      {schema.data ? (
        <PredictPanel
          key={`${schema.data.name}@${schema.data.alias}#${schema.data.version}`}
          model={model}
          alias={alias}
          schema={schema.data}
        />
      ) : null}
    </>
  );
}

export default function Predictions() {
  usePageTitle('Predictions');
  const api = useApi();
  const fetchModels = useCallback((signal: AbortSignal) => api.models(signal), [api]);
  const models = useResource(fetchModels);
  const list = useMemo(() => models.data ?? [], [models.data]);
  const [chosenModel, setChosenModel] = useState<string | null>(null);
  const [chosenAlias, setChosenAlias] = useState<string | null>(null);

  const model = pickModel(list, chosenModel);
  const aliases = aliasesOf(model);
  const alias = chosenAlias && aliases.includes(chosenAlias) ? chosenAlias : (aliases[0] ?? 'champion');

  return (
    <div className="page">
      <PageHeader title="Predictions" subtitle="Ask a served model for predictions, one row from a form or a CSV batch." />
      {models.loading ? <Loading label="Loading models…" /> : null}
      {models.error ? <ErrorState error={models.error} onRetry={models.reload} what="the registered models" /> : null}
      {models.data && list.length === 0 ? (
        <EmptyState title="No registered model to ask yet.">Train one first; it appears here once registered.</EmptyState>
      ) : null}

      {model ? (
        <>
          <Card id="target-h" title="Model and alias" hideTitle>
            <div className="inline-form">
              <SelectField
                id="predict-model"
                label="Model"
                value={model.name}
                options={list.map((m) => m.name)}
                onChange={(name) => {
                  setChosenModel(name);
                  setChosenAlias(null);
                }}
              />
              <SelectField
                id="predict-alias"
                label="Alias"
                value={alias}
                options={aliases}
                text={(a) => `${a}${model.aliases[a] ? ` (v${model.aliases[a]})` : ''}`}
                onChange={setChosenAlias}
              />
              <ServingState model={model.name} alias={alias} />
            </div>
          </Card>
          <SchemaSection model={model.name} alias={alias} />
        </>
      ) : null}
    </div>
  );
}
