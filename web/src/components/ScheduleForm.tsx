/** The "New schedule" form: a shipped training config, one trigger and the run policies. */
import { memo, useState, type FormEvent, type ReactNode } from 'react';
import type { MissedPolicy, Schedule, ScheduleConcurrency, ShippedConfig } from '../api/types';
import { useApi } from '../auth/context';
import type { Resource } from '../hooks/useResource';
import {
  initialScheduleForm,
  serverProblems,
  specFromScheduleForm,
  validateScheduleForm,
  type FormProblems,
  type ScheduleField,
  type ScheduleForm as Form,
  type TriggerKind,
} from '../lib/schedules';
import { ErrorState } from './Feedback';
import { FormActions } from './Form';

const TIME_ZONES: string[] = [
  'UTC',
  ...(typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone').filter((zone) => zone !== 'UTC') : []),
];
const BROWSER_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

/** Suggestions for the time zone input; several hundred options, so rendered once. */
const ZoneSuggestions = memo(function ZoneSuggestions({ id }: { id: string }) {
  return (
    <datalist id={id}>
      {TIME_ZONES.map((zone) => (
        <option key={zone} value={zone} />
      ))}
    </datalist>
  );
});

interface FieldProps {
  field: ScheduleField;
  label: string;
  problems: FormProblems;
  hint?: ReactNode;
  className?: string;
  children: (control: { id: string; 'aria-invalid': true | undefined; 'aria-describedby': string | undefined }) => ReactNode;
}

/** A labelled control with its hint and its problem; the control gets the ids that tie them. */
function Field({ field, label, problems, hint, className, children }: FieldProps) {
  const id = `schedule-${field}`;
  const problem = problems[field];
  const described = [hint ? `${id}-hint` : null, problem ? `${id}-error` : null].filter(Boolean).join(' ');
  return (
    <div className={className ? `field ${className}` : 'field'}>
      <label htmlFor={id}>{label}</label>
      {children({ id, 'aria-invalid': problem ? true : undefined, 'aria-describedby': described || undefined })}
      {hint ? (
        <p id={`${id}-hint`} className="hint">
          {hint}
        </p>
      ) : null}
      {problem ? (
        <p id={`${id}-error`} className="field-error">
          {problem}
        </p>
      ) : null}
    </div>
  );
}

interface Props {
  configs: Resource<ShippedConfig[]>;
  onCreated: (schedule: Schedule) => void;
}

export function ScheduleForm({ configs, onCreated }: Props) {
  const api = useApi();
  const [form, setForm] = useState<Form>(initialScheduleForm);
  const [problems, setProblems] = useState<FormProblems>({});
  const [error, setError] = useState<unknown>(null);
  const [submitting, setSubmitting] = useState(false);
  const set = (patch: Partial<Form>) => setForm((prev) => ({ ...prev, ...patch }));

  const fromServer = serverProblems(error);
  const shown: FormProblems = { ...problems, ...fromServer?.fields };

  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setError(null);
    const found = validateScheduleForm(form);
    setProblems(found);
    if (Object.keys(found).length) return;
    setSubmitting(true);
    try {
      const created = await api.createSchedule(specFromScheduleForm(form));
      setForm(initialScheduleForm());
      onCreated(created);
    } catch (err) {
      setError(err);
    } finally {
      setSubmitting(false);
    }
  };

  return (
    <form onSubmit={(e) => void onSubmit(e)} noValidate aria-labelledby="new-schedule-h">
      <div className="form-grid">
        <Field field="name" label="Schedule name" problems={shown} hint="Lowercase letters, digits, - and _; it prefixes the Ray job ids.">
          {(control) => (
            <input {...control} value={form.name} onChange={(e) => set({ name: e.target.value })} autoComplete="off" spellCheck={false} />
          )}
        </Field>
        <Field field="config" label="Training config" problems={shown} hint="A shipped sweep from configs/train/.">
          {(control) => (
            <select {...control} value={form.config} onChange={(e) => set({ config: e.target.value })} disabled={configs.loading}>
              <option value="">{configs.loading ? 'Loading…' : 'Choose a config'}</option>
              {(configs.data ?? []).map((c) => (
                <option key={c.name} value={c.name}>
                  {c.name}
                </option>
              ))}
            </select>
          )}
        </Field>
        {configs.error ? (
          <div className="span-2">
            <ErrorState error={configs.error} onRetry={configs.reload} what="the shipped sweeps" compact />
          </div>
        ) : null}

        <Field field="trigger" label="Trigger" problems={shown}>
          {(control) => (
            <select {...control} value={form.trigger} onChange={(e) => set({ trigger: e.target.value as TriggerKind })}>
              <option value="cron">cron</option>
              <option value="every">every</option>
              <option value="on_new_data">on new data</option>
            </select>
          )}
        </Field>

        {form.trigger === 'cron' ? (
          <>
            <Field field="cron" label="Cron" problems={shown} hint="minute hour day-of-month month day-of-week, e.g. 0 2 * * * (02:00 every day)">
              {(control) => (
                <input {...control} className="mono" value={form.cron} onChange={(e) => set({ cron: e.target.value })} autoComplete="off" spellCheck={false} />
              )}
            </Field>
            <Field field="timezone" label="Time zone" problems={shown} hint={`IANA name; this browser is in ${BROWSER_ZONE}.`}>
              {(control) => (
                <>
                  <input
                    {...control}
                    list="schedule-zones"
                    value={form.timezone}
                    onChange={(e) => set({ timezone: e.target.value })}
                    autoComplete="off"
                    spellCheck={false}
                  />
                  <ZoneSuggestions id="schedule-zones" />
                </>
              )}
            </Field>
          </>
        ) : form.trigger === 'every' ? (
          <Field field="every" label="Every" problems={shown} hint="A whole number and s, m, h or d: 30m, 2h, 1d (at least 60 s).">
            {(control) => (
              <input {...control} className="mono" value={form.every} onChange={(e) => set({ every: e.target.value })} autoComplete="off" spellCheck={false} />
            )}
          </Field>
        ) : (
          <>
            <Field field="dataSource" label="Data source" problems={shown} hint="A file, folder or s3:// URI; empty: the config's dataset.">
              {(control) => (
                <input
                  {...control}
                  value={form.dataSource}
                  placeholder="s3://bucket/houses/"
                  onChange={(e) => set({ dataSource: e.target.value })}
                  spellCheck={false}
                />
              )}
            </Field>
            <Field field="settleS" label="Settle time (s)" problems={shown} hint="Fire once the data stayed unchanged this long.">
              {(control) => (
                <input {...control} type="number" min={0} step={1} inputMode="numeric" value={form.settleS} onChange={(e) => set({ settleS: e.target.value })} />
              )}
            </Field>
          </>
        )}

        <Field field="concurrency" label="Concurrency" problems={shown} hint="When the previous run is still going.">
          {(control) => (
            <select {...control} value={form.concurrency} onChange={(e) => set({ concurrency: e.target.value as ScheduleConcurrency })}>
              <option value="forbid">forbid: skip the new run</option>
              <option value="replace">replace: stop the old run</option>
              <option value="allow">allow: run both</option>
            </select>
          )}
        </Field>
        <Field field="missed" label="Missed runs" problems={shown} hint="After the scheduler was down.">
          {(control) => (
            <select {...control} value={form.missed} onChange={(e) => set({ missed: e.target.value as MissedPolicy })}>
              <option value="run_once">run once for the latest</option>
              <option value="skip">skip them</option>
            </select>
          )}
        </Field>
        <Field field="maxRetries" label="Max retries" problems={shown}>
          {(control) => (
            <input {...control} type="number" min={0} max={10} step={1} inputMode="numeric" value={form.maxRetries} onChange={(e) => set({ maxRetries: e.target.value })} />
          )}
        </Field>
        <Field field="timeoutS" label="Timeout (s)" problems={shown} hint="Empty: no limit.">
          {(control) => (
            <input {...control} type="number" min={1} step={1} inputMode="numeric" value={form.timeoutS} onChange={(e) => set({ timeoutS: e.target.value })} />
          )}
        </Field>
        <Field field="webhookUrl" label="Webhook URL" problems={shown} hint="Receives a POST when a run ends." className="span-2">
          {(control) => (
            <input {...control} type="url" value={form.webhookUrl} placeholder="https://hooks.example.com/rayline" onChange={(e) => set({ webhookUrl: e.target.value })} spellCheck={false} />
          )}
        </Field>
      </div>

      {fromServer?.rest.length ? (
        <div className="notice notice-error compact" role="alert">
          <div>
            <strong className="notice-title">The server refused the schedule</strong>
            {fromServer.rest.map((line) => (
              <p key={line} className="notice-body">
                {line}
              </p>
            ))}
          </div>
        </div>
      ) : fromServer ? (
        <p className="field-error" role="alert">
          The server refused the schedule: fix the highlighted fields.
        </p>
      ) : error ? (
        <ErrorState error={error} />
      ) : Object.keys(problems).length ? (
        <p className="field-error" role="alert">
          Fix the highlighted fields, then create again.
        </p>
      ) : null}
      <FormActions label="Create schedule" busyLabel="Creating…" busy={submitting} />
    </form>
  );
}
