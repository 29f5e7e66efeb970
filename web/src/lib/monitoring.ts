/** Monitoring helpers: how a column's drift is drawn and named, and what a quality verdict says. */
import type { ColumnDrift, DriftMethod, Quality } from '../api/types';
import { formatDuration, formatScore } from './format';

export const METHOD_NAME: Record<DriftMethod, string> = {
  psi: 'PSI',
  wasserstein: 'Wasserstein',
  js: 'Jensen-Shannon',
  ks: 'KS test',
  chi2: 'chi-square test',
};

/** The names a bar's value uses, short enough to sit beside it. */
const METHOD_SHORT: Record<DriftMethod, string> = { psi: 'PSI', wasserstein: 'Wasserstein', js: 'JS', ks: 'KS', chi2: 'χ²' };

/** A p-value of 0 would put a bar at infinity; tests this strong all read the same. */
const P_FLOOR = 1e-12;

/** Small windows are judged by a test (p-value against the threshold), larger ones by a distance. */
export function isTest(column: ColumnDrift): boolean {
  return column.p_value !== null;
}

/**
 * A column's bar and its threshold on one axis, larger meaning further from the reference:
 * the distance for a distance; for a test, the evidence −log10(p) against −log10(threshold).
 */
export function driftStrength(column: ColumnDrift): { value: number; threshold: number } {
  if (column.p_value !== null) {
    return {
      value: -Math.log10(Math.max(column.p_value, P_FLOOR)),
      threshold: -Math.log10(Math.max(column.threshold, P_FLOOR)),
    };
  }
  return { value: column.score, threshold: column.threshold };
}

/** Drifted columns first, then the furthest from the reference (the API's order, enforced). */
export function sortDrift(columns: ColumnDrift[]): ColumnDrift[] {
  return [...columns].sort(
    (a, b) => Number(b.drifted) - Number(a.drifted) || driftStrength(b).value - driftStrength(a).value,
  );
}

/** "PSI 0.4120" or "KS p = 0.0030": what a bar's number is. */
export function driftValue(column: ColumnDrift): string {
  if (column.p_value !== null) return `${METHOD_SHORT[column.method]} p = ${formatP(column.p_value)}`;
  return `${METHOD_SHORT[column.method]} ${formatScore(column.score)}`;
}

/** One sentence per column, for screen readers and tooltips. */
export function describeDrift(column: ColumnDrift): string {
  const verdict = column.drifted ? 'drifted' : 'no drift';
  if (column.p_value !== null) {
    return `${column.name}: ${METHOD_NAME[column.method]} p = ${formatP(column.p_value)}, drifted below ${column.threshold}; ${verdict}`;
  }
  return `${column.name}: ${METHOD_NAME[column.method]} ${formatScore(column.score)}, drifted above ${column.threshold}; ${verdict}`;
}

export function formatP(p: number): string {
  return p < 0.0001 ? p.toExponential(1) : p.toFixed(4);
}

/** A share (0..1) as a percentage with one decimal: "12.5%". */
export function formatShare(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

/** A window length: "1 h", "30 min", else a duration. */
export function formatWindow(seconds: number): string {
  if (seconds >= 3600 && seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds >= 60 && seconds % 60 === 0) return `${seconds / 60} min`;
  return formatDuration(seconds);
}

export const QUALITY_METRICS: Record<Quality['task'], { key: 'accuracy' | 'f1_macro' | 'rmse' | 'mae'; label: string }[]> = {
  classification: [
    { key: 'accuracy', label: 'Accuracy' },
    { key: 'f1_macro', label: 'F1 (macro)' },
  ],
  regression: [
    { key: 'rmse', label: 'RMSE' },
    { key: 'mae', label: 'MAE' },
  ],
};

/** The quality verdict as a status for the badge: alarm, ok, or why there is none yet. */
export function qualityStatus(quality: Quality): 'quality_alarm' | 'quality_ok' | 'awaiting_labels' | 'not_compared' {
  if (quality.alarm === true) return 'quality_alarm';
  if (quality.alarm === false) return 'quality_ok';
  return quality.labelled < quality.min_labels ? 'awaiting_labels' : 'not_compared';
}

/** How much worse live quality is than at training, and where the alarm starts. */
export function describeDrop(quality: Quality): string | null {
  const { drop, max_drop: max } = quality;
  if (drop === null) return null;
  if (quality.task === 'classification') {
    const points = (v: number) => `${(Math.abs(v) * 100).toFixed(1)} points`;
    return `Accuracy ${drop >= 0 ? 'down' : 'up'} ${points(drop)} on training (alarm above ${points(max)}).`;
  }
  return `RMSE ${drop >= 0 ? 'up' : 'down'} ${formatShare(Math.abs(drop))} on training (alarm above ${formatShare(max)}).`;
}
