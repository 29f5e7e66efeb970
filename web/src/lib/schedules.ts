/** Schedules: the new-schedule form (state, checks, the spec it sends), server errors mapped to
 * its fields, and small helpers about runs shared by the Schedules page and the dashboard. */
import { ApiError } from '../api/client';
import type { MissedPolicy, Schedule, ScheduleConcurrency, ScheduleRun, ScheduleSpec } from '../api/types';

const NAME = /^[a-z0-9][a-z0-9_-]{0,47}$/;
const EVERY = /^\s*(\d+)\s*([smhd])\s*$/;
const EVERY_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

export type TriggerKind = 'cron' | 'every' | 'on_new_data';

export interface ScheduleForm {
  name: string;
  config: string;
  trigger: TriggerKind;
  cron: string;
  timezone: string;
  every: string;
  dataSource: string;
  settleS: string;
  concurrency: ScheduleConcurrency;
  missed: MissedPolicy;
  maxRetries: string;
  timeoutS: string;
  webhookUrl: string;
}

export type ScheduleField = keyof ScheduleForm;
export type FormProblems = Partial<Record<ScheduleField, string>>;

export function initialScheduleForm(): ScheduleForm {
  return {
    name: '',
    config: '',
    trigger: 'cron',
    cron: '0 2 * * *',
    timezone: 'UTC',
    every: '1h',
    dataSource: '',
    settleS: '30',
    concurrency: 'forbid',
    missed: 'run_once',
    maxRetries: '0',
    timeoutS: '',
    webhookUrl: '',
  };
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && Boolean(url.host);
  } catch {
    return false;
  }
}

/** Checks what the server would refuse anyway, so the common slips are named before a round trip. */
export function validateScheduleForm(form: ScheduleForm): FormProblems {
  const problems: FormProblems = {};
  const name = form.name.trim();
  if (!name) problems.name = 'Enter a schedule name.';
  else if (!NAME.test(name))
    problems.name = 'Use 1-48 lowercase letters, digits, "_" or "-", starting with a letter or digit.';
  if (!form.config) problems.config = 'Choose the training config to run.';
  if (form.trigger === 'cron') {
    const cron = form.cron.trim();
    if (!/^@\w+$/.test(cron) && cron.split(/\s+/).length !== 5)
      problems.cron = 'Enter five fields: minute hour day-of-month month day-of-week (e.g. 0 2 * * *).';
    if (!form.timezone.trim()) problems.timezone = 'Enter an IANA time zone such as UTC or Europe/Madrid.';
  } else if (form.trigger === 'every') {
    const match = EVERY.exec(form.every);
    const seconds = match ? Number(match[1]) * (EVERY_SECONDS[match[2] ?? ''] ?? 0) : 0;
    if (seconds < 60) problems.every = 'Use a whole number and a unit s, m, h or d (e.g. 30m), at least 60 s.';
  } else {
    const settle = Number(form.settleS);
    if (form.settleS.trim() === '' || !Number.isFinite(settle) || settle < 0)
      problems.settleS = 'Enter a number of seconds, 0 or more.';
  }
  const retries = Number(form.maxRetries);
  if (form.maxRetries.trim() === '' || !Number.isInteger(retries) || retries < 0 || retries > 10)
    problems.maxRetries = 'Enter a whole number from 0 to 10.';
  if (form.timeoutS.trim()) {
    const timeout = Number(form.timeoutS);
    if (!Number.isFinite(timeout) || timeout <= 0) problems.timeoutS = 'Enter a positive number of seconds, or leave empty for no limit.';
  }
  if (form.webhookUrl.trim() && !isHttpUrl(form.webhookUrl.trim()))
    problems.webhookUrl = 'Use an http:// or https:// URL with a host, or leave empty.';
  return problems;
}

/** The POST /v1/schedules body: one config, the chosen trigger only, optional fields when set. */
export function specFromScheduleForm(form: ScheduleForm): ScheduleSpec {
  const spec: ScheduleSpec = {
    name: form.name.trim(),
    config: form.config,
    concurrency: form.concurrency,
    missed: form.missed,
    max_retries: Number(form.maxRetries),
  };
  if (form.trigger === 'cron') {
    spec.cron = form.cron.trim().replace(/\s+/g, ' ');
    spec.timezone = form.timezone.trim();
  } else if (form.trigger === 'every') {
    spec.every = form.every.replace(/\s+/g, '');
  } else {
    const source = form.dataSource.trim();
    spec.on_new_data = { settle_s: Number(form.settleS), ...(source ? { source } : {}) };
  }
  if (form.timeoutS.trim()) spec.timeout_s = Number(form.timeoutS);
  if (form.webhookUrl.trim()) spec.webhook_url = form.webhookUrl.trim();
  return spec;
}

// Server messages name the field first ("cron: field 2 (hour) ...", "on_new_data.settle_s: ...").
const FIELD_OF_KEY: Record<string, ScheduleField> = {
  name: 'name',
  config: 'config',
  spec: 'config',
  cron: 'cron',
  timezone: 'timezone',
  every: 'every',
  'on_new_data.source': 'dataSource',
  on_new_data: 'settleS',
  concurrency: 'concurrency',
  missed: 'missed',
  max_retries: 'maxRetries',
  timeout_s: 'timeoutS',
  webhook_url: 'webhookUrl',
};
const KEY = /(?:^|[\s'"(])(name|config|spec|cron|every|timezone|on_new_data(?:\.source)?|concurrency|missed|max_retries|timeout_s|webhook_url)(?:\.[\w.]+)?(?=:|\s+field\b)/;

export interface ServerProblems {
  /** Messages about one field of the form, shown under it. */
  fields: FormProblems;
  /** Everything else the server said, shown next to the submit button. */
  rest: string[];
}

/**
 * Splits a 422 (or 409) detail into per-field messages. Other errors (403, network, 5xx) are not
 * about the form: null, so the caller shows them whole.
 */
export function serverProblems(error: unknown): ServerProblems | null {
  if (!(error instanceof ApiError)) return null;
  if (error.status === 409) return { fields: { name: error.detail }, rest: [] };
  if (error.status !== 422) return null;
  const fields: FormProblems = {};
  const rest: string[] = [];
  const lines = error.detail
    .split(/\n|;\s+(?=[\w.]+:\s)/)
    .map((line) => line.replace(/^(?:invalid request|request body):\s*/i, '').replace(/\bValue error,\s*/g, '').trim())
    .filter(Boolean);
  for (const line of lines) {
    const key = KEY.exec(line)?.[1];
    const field = key ? FIELD_OF_KEY[key] : undefined;
    if (field) fields[field] = fields[field] ? `${fields[field]} ${line}` : line;
    else rest.push(line);
  }
  return { fields, rest };
}

// --- runs --------------------------------------------------------------------------------

export function isRunActive(run: ScheduleRun | null | undefined): boolean {
  return run?.status === 'pending' || run?.status === 'running';
}

/** Still worth polling: active, or succeeded a moment ago with its outcome not yet recorded. */
export function isRunSettling(run: ScheduleRun | null | undefined): boolean {
  return isRunActive(run) || (run?.status === 'succeeded' && run.outcome == null);
}

export function isRunFailed(run: ScheduleRun): boolean {
  return run.status === 'failed' || run.outcome === 'failed' || run.outcome === 'timeout';
}

export const TRIGGER_LABEL: Record<ScheduleRun['trigger'], string> = {
  cron: 'cron',
  every: 'every',
  new_data: 'new data',
  drift: 'drift',
  manual: 'manual',
  retry: 'retry',
};

/** Schedules that will fire, soonest first (paused ones and data triggers have no next fire). */
export function upcoming(schedules: Schedule[], count: number): Schedule[] {
  return schedules
    .filter((s) => !s.paused && s.next_fire != null)
    .sort((a, b) => (a.next_fire ?? 0) - (b.next_fire ?? 0))
    .slice(0, count);
}

export function schedulePath(name: string): string {
  return `/schedules/${encodeURIComponent(name)}`;
}
