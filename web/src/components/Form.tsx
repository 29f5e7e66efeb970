/** Form parts shared by the pages: a labelled select and the row with the submit button. */

interface SelectFieldProps {
  id: string;
  label: string;
  value: string;
  options: string[];
  onChange: (value: string) => void;
  /** The text of an option; the option's value by default. */
  text?: (option: string, index: number) => string;
  disabled?: boolean;
  className?: string;
}

/** A labelled select over a list of string options. */
export function SelectField({ id, label, value, options, onChange, text = (option) => option, disabled, className = 'field' }: SelectFieldProps) {
  return (
    <div className={className}>
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)} disabled={disabled}>
        {options.map((option, i) => (
          <option key={option} value={option}>
            {text(option, i)}
          </option>
        ))}
      </select>
    </div>
  );
}

interface FormActionsProps {
  label: string;
  /** The button's text while the form is being sent, e.g. "Submitting…". */
  busyLabel: string;
  busy: boolean;
  disabled?: boolean;
}

/** The form's submit button; disabled and reading `busyLabel` while the form is being sent. */
export function FormActions({ label, busyLabel, busy, disabled = false }: FormActionsProps) {
  return (
    <div className="form-actions">
      <button type="submit" className="btn btn-primary" disabled={busy || disabled}>
        {busy ? busyLabel : label}
      </button>
    </div>
  );
}
