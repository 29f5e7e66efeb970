interface Props {
  label: string;
  value: number;
  max: number;
  /** Visible text next to the bar, e.g. "7 / 20 trials". */
  text?: string;
}

/** An accessible progress bar (role=progressbar with its values), drawn with CSS. */
export function ProgressBar({ label, value, max, text }: Props) {
  const safeMax = max > 0 ? max : 0;
  const clamped = safeMax ? Math.min(Math.max(value, 0), safeMax) : 0;
  const percent = safeMax ? (clamped / safeMax) * 100 : 0;
  return (
    <div className="progress">
      <div
        className="progress-track"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={safeMax}
        aria-valuenow={clamped}
        aria-valuetext={text ?? `${clamped} of ${safeMax}`}
      >
        <div className="progress-fill" style={{ width: `${percent}%` }} />
      </div>
      {text ? <span className="progress-text">{text}</span> : null}
    </div>
  );
}

/** A small used/total gauge for cluster resources. */
export function Gauge({ label, used, total, text }: { label: string; used: number; total: number; text: string }) {
  const percent = total > 0 ? Math.min(100, (used / total) * 100) : 0;
  const tone = percent >= 90 ? 'bad' : percent >= 70 ? 'warn' : 'ok';
  return (
    <div className="gauge">
      <div className="gauge-head">
        <span className="gauge-label">{label}</span>
        <span className="gauge-text">{text}</span>
      </div>
      <div
        className={`gauge-track gauge-${tone}`}
        role="meter"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={total}
        aria-valuenow={Math.min(used, total)}
        aria-valuetext={text}
      >
        <div className="gauge-fill" style={{ width: `${percent}%` }} />
      </div>
    </div>
  );
}
