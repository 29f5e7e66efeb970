/** The custom training form: its state, defaults, validation and the TrainSpec it sends. */
import type { Catalog, SearchAlgorithm, Task, TrainSpec } from '../api/types';

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export interface TrainForm {
  modelName: string;
  sourceKind: 'builtin' | 'path';
  builtin: string;
  path: string;
  task: Task;
  target: string;
  families: string[];
  algorithm: SearchAlgorithm;
  numSamples: string;
  cpusPerTrial: string;
  metric: string;
}

export function initialForm(catalog: Catalog | undefined): TrainForm {
  const first = catalog?.builtin_datasets[0];
  const task: Task = first?.task ?? 'classification';
  return {
    modelName: first ? first.name : '',
    sourceKind: 'builtin',
    builtin: first?.name ?? '',
    path: '',
    task,
    target: first?.target ?? 'target',
    families: (catalog?.families[task] ?? []).slice(0, 2),
    algorithm: 'random',
    numSamples: '8',
    cpusPerTrial: '1',
    metric: '',
  };
}

export function formFromSpec(spec: TrainSpec, catalog: Catalog | undefined): TrainForm {
  const builtin = catalog?.builtin_datasets.find((d) => d.name === spec.dataset.source);
  return {
    modelName: spec.name,
    sourceKind: builtin ? 'builtin' : 'path',
    builtin: builtin?.name ?? catalog?.builtin_datasets[0]?.name ?? '',
    path: builtin ? '' : spec.dataset.source,
    task: spec.dataset.task,
    target: spec.dataset.target,
    families: Object.keys(spec.estimators),
    algorithm: spec.search.algorithm,
    numSamples: String(spec.search.num_samples),
    cpusPerTrial: String(spec.search.cpus_per_trial),
    metric: spec.search.metric ?? '',
  };
}

/** Checks the form; returns field → message for every problem, empty when it can be sent. */
export function validateForm(form: TrainForm): Record<string, string> {
  const problems: Record<string, string> = {};
  if (!form.modelName.trim()) problems.modelName = 'Enter a model name.';
  else if (!MODEL_NAME.test(form.modelName.trim()))
    problems.modelName = 'Use letters, digits, "-", "_" or "." (no spaces), starting with a letter or digit.';
  if (form.sourceKind === 'builtin' && !form.builtin) problems.source = 'Choose a built-in dataset.';
  if (form.sourceKind === 'path' && !form.path.trim())
    problems.source = 'Enter a CSV or Parquet path, or an s3:// URI.';
  if (!form.target.trim()) problems.target = 'Enter the name of the target column.';
  if (form.families.length === 0) problems.families = 'Choose at least one estimator family.';
  const samples = Number(form.numSamples);
  if (!Number.isInteger(samples) || samples < 1) problems.numSamples = 'Enter a whole number of at least 1.';
  const cpus = Number(form.cpusPerTrial);
  if (!Number.isFinite(cpus) || cpus <= 0) problems.cpusPerTrial = 'Enter a positive number of CPUs (e.g. 1 or 0.5).';
  return problems;
}

export function specFromForm(form: TrainForm): TrainSpec {
  return {
    name: form.modelName.trim(),
    dataset: {
      source: form.sourceKind === 'builtin' ? form.builtin : form.path.trim(),
      target: form.target.trim(),
      task: form.task,
    },
    search: {
      algorithm: form.algorithm,
      num_samples: Number(form.numSamples),
      cpus_per_trial: Number(form.cpusPerTrial),
      metric: form.metric || null,
    },
    // `{}` asks for each family's default search space.
    estimators: Object.fromEntries(form.families.map((family): [string, Record<string, unknown>] => [family, {}])),
  };
}

