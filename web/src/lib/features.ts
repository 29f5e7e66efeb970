/** Turning a model signature into form values and back into a typed instance for /predict. */
import type { FeatureSpec, FeatureValue, ModelSchema } from '../api/types';

export type FieldValue = string | boolean;
export type FieldValues = Record<string, FieldValue>;

export function emptyValues(inputs: FeatureSpec[]): FieldValues {
  return Object.fromEntries(inputs.map((f): [string, FieldValue] => [f.name, f.type === 'boolean' ? false : '']));
}

export function exampleValues(schema: ModelSchema): FieldValues {
  return Object.fromEntries(
    schema.inputs.map((f): [string, FieldValue] => {
      const example = schema.input_example[f.name];
      if (f.type === 'boolean') return [f.name, example === true || example === 'true'];
      return [f.name, example == null ? '' : String(example)];
    }),
  );
}

export function placeholderFor(schema: ModelSchema, feature: FeatureSpec): string | undefined {
  const example = schema.input_example[feature.name];
  return example == null ? undefined : String(example);
}

export interface BuiltInstance {
  instance: Record<string, FeatureValue>;
  /** feature name → what is wrong with its value */
  problems: Record<string, string>;
}

/** Converts form values to typed JSON values, checking numbers and required fields. */
export function buildInstance(inputs: FeatureSpec[], values: FieldValues): BuiltInstance {
  const instance: Record<string, FeatureValue> = {};
  const problems: Record<string, string> = {};
  for (const feature of inputs) {
    const raw = values[feature.name];
    if (feature.type === 'boolean') {
      instance[feature.name] = raw === true;
      continue;
    }
    const text = typeof raw === 'string' ? raw.trim() : '';
    if (text === '') {
      if (feature.required) problems[feature.name] = 'Enter a value.';
      else instance[feature.name] = null;
      continue;
    }
    if (feature.type === 'string') {
      instance[feature.name] = text;
    } else if (feature.type === 'long') {
      const n = Number(text);
      if (!Number.isInteger(n)) problems[feature.name] = 'Enter a whole number.';
      else instance[feature.name] = n;
    } else {
      const n = Number(text);
      if (!Number.isFinite(n)) problems[feature.name] = 'Enter a number.';
      else instance[feature.name] = n;
    }
  }
  return { instance, problems };
}

/** The header row of a CSV text (simple split; quoted commas in headers are rare). */
export function csvHeader(text: string): string[] {
  const first = text.split(/\r?\n/, 1)[0] ?? '';
  return first
    .split(',')
    .map((h) => h.trim().replace(/^"(.*)"$/, '$1'))
    .filter(Boolean);
}

export function csvRowCount(text: string): number {
  return Math.max(0, text.split(/\r?\n/).filter((line) => line.trim() !== '').length - 1);
}
