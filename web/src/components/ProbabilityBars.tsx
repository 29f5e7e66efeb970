/** Class probabilities as horizontal bars, the most likely class highlighted. */
import { formatValue } from '../lib/format';

interface Props {
  classes: (string | number)[];
  probabilities: number[];
  /** Accessible name of the list, e.g. "Class probabilities for row 1". */
  label: string;
  compact?: boolean;
}

export function ProbabilityBars({ classes, probabilities, label, compact = false }: Props) {
  const best = probabilities.reduce((bi, p, i, all) => (p > (all[bi] ?? -Infinity) ? i : bi), 0);
  return (
    <ul className={compact ? 'prob-bars compact' : 'prob-bars'} aria-label={label}>
      {probabilities.map((p, i) => {
        const cls = classes[i] ?? i;
        const name = formatValue(cls);
        const percent = Math.max(0, Math.min(1, p)) * 100;
        return (
          <li key={`${name}-${i}`} className={i === best ? 'prob-row best' : 'prob-row'}>
            <span className="prob-class" title={name}>
              {name}
            </span>
            <div
              className="prob-track"
              role="meter"
              aria-label={`P(${name})`}
              aria-valuemin={0}
              aria-valuemax={1}
              aria-valuenow={p}
              aria-valuetext={`${percent.toFixed(1)}%`}
            >
              <div className="prob-fill" style={{ width: `${percent}%` }} />
            </div>
            <span className="prob-value">{percent.toFixed(1)}%</span>
          </li>
        );
      })}
    </ul>
  );
}
