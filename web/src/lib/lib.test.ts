import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/client';
import { catalog, configs, hourly, irisVersions, models, nightly, onNewData, schema } from '../test/fixtures';
import { describeError } from './errors';
import { buildInstance, csvHeader, csvRowCount, exampleValues } from './features';
import { formatBytes, formatDuration, formatMs, formatNumber, formatRelative, formatScore } from './format';
import { defaultCandidate, pickModel } from './models';
import { initialScheduleForm, serverProblems, specFromScheduleForm, upcoming, validateScheduleForm } from './schedules';
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

  it('says how far a time is from now, coarsely', () => {
    const now = 1_000_000;
    expect(formatRelative(now + 45.6, now)).toBe('in 45 s');
    expect(formatRelative(now + 3599, now)).toBe('in 59 min');
    expect(formatRelative(now + 3600, now)).toBe('in 1 h');
    expect(formatRelative(now + 2 * 3600 + 20 * 60, now)).toBe('in 2 h 20 min');
    expect(formatRelative(now - 3 * 86_400 - 4 * 3600, now)).toBe('3 d 4 h ago');
    expect(formatRelative(now + 0.2, now)).toBe('now');
    expect(formatRelative(null, now)).toBe('—');
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

  it('offers the chosen model, else the first with a champion, else the first', () => {
    const untagged = { name: 'wine', description: '', aliases: {}, latest_version: '1', updated_at: 0 };
    expect(pickModel(models, 'diabetes')?.name).toBe('diabetes');
    expect(pickModel(models, null)?.name).toBe('iris');
    expect(pickModel([untagged, ...models], 'gone')?.name).toBe('iris');
    expect(pickModel([untagged], null)?.name).toBe('wine');
    expect(pickModel([], null)).toBeUndefined();
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

describe('schedules', () => {
  const filled = { ...initialScheduleForm(), name: 'nightly', config: 'iris' };

  it('sends the chosen trigger only, and optional fields when they are set', () => {
    expect(specFromScheduleForm({ ...filled, cron: ' 0  2 * * * ', timezone: 'Europe/Madrid' })).toEqual({
      name: 'nightly',
      config: 'iris',
      cron: '0 2 * * *',
      timezone: 'Europe/Madrid',
      concurrency: 'forbid',
      missed: 'run_once',
      max_retries: 0,
    });
    expect(specFromScheduleForm({ ...filled, trigger: 'every', every: '2h', timeoutS: '600' })).toMatchObject({ every: '2h', timeout_s: 600 });
    const onData = specFromScheduleForm({ ...filled, trigger: 'on_new_data', dataSource: '', settleS: '0' });
    expect(onData.on_new_data).toEqual({ settle_s: 0 });
    expect(onData).not.toHaveProperty('cron');
  });

  it('names what the server would refuse', () => {
    expect(validateScheduleForm(filled)).toEqual({});
    expect(Object.keys(validateScheduleForm({ ...filled, name: 'Nightly', config: '', cron: '0 2 * *' }))).toEqual(['name', 'config', 'cron']);
    expect(validateScheduleForm({ ...filled, cron: '@daily' })).toEqual({});
    expect(validateScheduleForm({ ...filled, trigger: 'every', every: '59s' }).every).toMatch(/at least 60 s/);
    expect(validateScheduleForm({ ...filled, trigger: 'every', every: '90s' })).toEqual({});
    expect(validateScheduleForm({ ...filled, maxRetries: '11', timeoutS: '-1', webhookUrl: 'ftp://x' })).toEqual({
      maxRetries: expect.any(String) as unknown,
      timeoutS: expect.any(String) as unknown,
      webhookUrl: expect.any(String) as unknown,
    });
  });

  it('maps the lines of a 422 to the fields they name, and a 409 to the name', () => {
    const detail =
      "invalid request: cron: Value error, cron field 2 (hour) '25': use 0-23; on_new_data.settle_s: must be >= 0; " +
      "timezone: unknown time zone 'Mars/Olympus'; use an IANA name such as UTC\ngive exactly one of config and spec";
    expect(serverProblems(new ApiError(422, detail))).toEqual({
      fields: {
        cron: "cron: cron field 2 (hour) '25': use 0-23",
        settleS: 'on_new_data.settle_s: must be >= 0',
        timezone: "timezone: unknown time zone 'Mars/Olympus'; use an IANA name such as UTC",
      },
      rest: ['give exactly one of config and spec'],
    });
    expect(serverProblems(new ApiError(409, 'schedule nightly already exists'))).toEqual({
      fields: { name: 'schedule nightly already exists' },
      rest: [],
    });
    expect(serverProblems(new ApiError(403, 'admin role required'))).toBeNull();
    expect(serverProblems(new Error('boom'))).toBeNull();
  });

  it('orders upcoming fires soonest first, leaving out paused and data-triggered schedules', () => {
    expect(upcoming([nightly, onNewData, hourly], 5).map((s) => s.name)).toEqual(['hourly-wine', 'nightly-iris']);
    expect(upcoming([nightly, hourly], 1).map((s) => s.name)).toEqual(['hourly-wine']);
  });
});
