import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/client';
import { catalog, configs, irisVersions, schema } from '../test/fixtures';
import { describeError } from './errors';
import { buildInstance, csvHeader, csvRowCount, exampleValues } from './features';
import { formatBytes, formatDuration, formatMs, formatNumber, formatScore } from './format';
import { defaultCandidate } from './models';
import { formFromSpec, initialForm, specFromForm, validateForm } from './trainForm';

describe('format', () => {
  it('formats bytes, numbers, scores, latencies and durations', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(24 * 1024 ** 3)).toBe('24.0 GiB');
    expect(formatBytes(null)).toBe('—');
    expect(formatNumber(1234)).toBe('1,234');
    expect(formatNumber(0.000012)).toBe('1.20e-5');
    expect(formatScore(0.96666)).toBe('0.9667');
    expect(formatMs(4.25)).toBe('4.3 ms');
    expect(formatMs(250)).toBe('250 ms');
    expect(formatDuration(0.25)).toBe('250 ms');
    expect(formatDuration(75)).toBe('1 min 15 s');
    expect(formatDuration(7260)).toBe('2 h 1 min');
  });
});

describe('features', () => {
  it('types each value by the signature and reports what is wrong', () => {
    const { instance, problems } = buildInstance(schema.inputs, {
      'sepal length (cm)': ' 5.5 ',
      'petal count': '2',
      colour: '',
      wild: true,
    });
    expect(problems).toEqual({});
    expect(instance).toEqual({ 'sepal length (cm)': 5.5, 'petal count': 2, colour: null, wild: true });

    const bad = buildInstance(schema.inputs, { 'sepal length (cm)': 'abc', 'petal count': '', colour: 'x', wild: false });
    expect(bad.problems).toEqual({ 'sepal length (cm)': 'Enter a number.', 'petal count': 'Enter a value.' });
  });

  it('turns the input example into form values', () => {
    expect(exampleValues(schema)).toEqual({ 'sepal length (cm)': '5.1', 'petal count': '3', colour: 'blue', wild: true });
  });

  it('reads a CSV header and counts data rows', () => {
    expect(csvHeader('"a b",c\r\n1,2\r\n')).toEqual(['a b', 'c']);
    expect(csvRowCount('a,b\n1,2\n\n3,4\n')).toBe(2);
    expect(csvRowCount('a,b\n')).toBe(0);
  });
});

describe('trainForm', () => {
  it('starts from the first built-in dataset and two families of its task', () => {
    const form = initialForm(catalog);
    expect(form).toMatchObject({ builtin: 'iris', task: 'classification', target: 'target', families: ['random_forest', 'gradient_boosting'] });
    expect(validateForm(form)).toEqual({});
  });

  it('round-trips a shipped spec through the form (search spaces become family defaults)', () => {
    const spec = configs[0]!.spec;
    const form = formFromSpec(spec, catalog);
    expect(form.sourceKind).toBe('builtin');
    const back = specFromForm(form);
    expect(back.dataset).toEqual(spec.dataset);
    expect(back.search).toEqual(spec.search);
    expect(back.estimators).toEqual({ random_forest: {}, logistic_regression: {} });
  });

  it('treats an unknown source as a path', () => {
    const spec = { ...configs[0]!.spec, dataset: { source: '/data/x.csv', target: 'y', task: 'regression' as const } };
    expect(formFromSpec(spec, catalog)).toMatchObject({ sourceKind: 'path', path: '/data/x.csv', task: 'regression' });
  });

  it('rejects bad CPUs and a missing path', () => {
    const form = { ...initialForm(catalog), sourceKind: 'path' as const, path: ' ', cpusPerTrial: '0' };
    expect(Object.keys(validateForm(form)).sort()).toEqual(['cpusPerTrial', 'source']);
  });
});

describe('models', () => {
  it('offers the challenger for promotion, else the newest non-champion', () => {
    expect(defaultCandidate(irisVersions, { champion: '2', challenger: '3' })).toBe('3');
    expect(defaultCandidate(irisVersions, { champion: '3', challenger: '3' })).toBe('2');
    expect(defaultCandidate(irisVersions, { champion: '3' })).toBe('2');
    expect(defaultCandidate(irisVersions.slice(0, 1), { champion: '1' })).toBe('1');
    expect(defaultCandidate([], {})).toBe('');
  });
});

describe('describeError', () => {
  it('maps statuses to what a person should read', () => {
    expect(describeError(new ApiError(0, 'x')).title).toBe('Cannot reach the Rayline ingress');
    expect(describeError(new ApiError(503, 'model iris@champion is loading'))).toEqual({
      title: 'Not ready yet',
      message: 'model iris@champion is loading',
    });
    expect(describeError(new ApiError(500, 'boom')).title).toBe('Server error (500)');
    expect(describeError(new ApiError(413, 'body over 1 MiB')).title).toBe('Request too large');
    expect(describeError(new Error('oops')).message).toBe('oops');
  });
});
