/**
 * The two drift charts, plain HTML and CSS (a few bars need no canvas): drift per column as
 * horizontal bars with each column's threshold marked, and one column's reference-vs-live
 * histogram over its bins. Each chart is an image with a name; the numbers behind it are in
 * a description (bars) or a table (histogram) that screen readers get instead.
 */
import { useId } from 'react';
import type { ColumnDrift } from '../api/types';
import { describeDrift, driftStrength, driftValue, formatShare, isTest } from '../lib/monitoring';
import { DataTable } from './DataTable';

interface DriftBarsProps {
  /** In the order to draw them (see `sortDrift`). */
  columns: ColumnDrift[];
  /** The chart's accessible name, e.g. "Feature drift". */
  label: string;
  selected?: string | null;
  /** Clicking a bar picks its column. A pointer shortcut: the page offers the same as buttons. */
  onSelect?: (name: string) => void;
}

export function DriftBars({ columns, label, selected = null, onSelect }: DriftBarsProps) {
  const summaryId = useId();
  const rows = columns.map((column) => ({ column, ...driftStrength(column) }));
  // One axis for every row, with room past the largest bar or threshold.
  const top = Math.max(1e-9, ...rows.map((r) => Math.max(r.value, r.threshold))) * 1.1;
  const at = (v: number) => `${Math.min(100, Math.max(0, (v / top) * 100))}%`;
  const drifted = columns.filter((c) => c.drifted);
  const summary = `${drifted.length} of ${columns.length} drifted. ${columns.map(describeDrift).join('. ')}.`;
  return (
    <>
      <div className="drift-bars" role="img" aria-label={label} aria-describedby={summaryId}>
        {rows.map(({ column, value, threshold }) => (
          <div
            key={column.name}
            className={`drift-row${column.drifted ? ' drifted' : ''}${column.name === selected ? ' selected' : ''}${onSelect ? ' pickable' : ''}`}
            data-column={column.name}
            title={describeDrift(column)}
            onClick={onSelect ? () => onSelect(column.name) : undefined}
          >
            <span className="drift-name">{column.name}</span>
            <span className="drift-track">
              <span className="drift-fill" style={{ width: at(value) }} />
              <span className="drift-threshold" style={{ left: at(threshold) }} />
            </span>
            <span className="drift-value">{driftValue(column)}</span>
          </div>
        ))}
      </div>
      <p id={summaryId} className="sr-only">
        {summary}
      </p>
    </>
  );
}

/** The legend of the drift bars: colours, the threshold mark, and what a bar measures. */
export function DriftLegend({ columns }: { columns: ColumnDrift[] }) {
  const tests = columns.some(isTest);
  const distances = columns.some((c) => !isTest(c));
  const measure = [
    distances ? 'distance from the training data' : null,
    tests ? '−log10 of the test’s p-value (small windows)' : null,
  ].filter(Boolean);
  return (
    <p className="chart-legend muted small">
      <span className="legend-swatch drifted" aria-hidden="true" /> drifted
      <span className="legend-swatch steady" aria-hidden="true" /> within threshold
      <span className="legend-mark" aria-hidden="true" /> threshold · bars: {measure.join('; ')}
    </p>
  );
}

interface HistogramProps {
  column: ColumnDrift;
  /** The chart's accessible name, e.g. "Reference vs live: petal length (cm)". */
  label: string;
}

export function Histogram({ column, label }: HistogramProps) {
  const top = Math.max(1e-9, ...column.reference, ...column.live);
  const height = (share: number | undefined) => `${Math.max(0, ((share ?? 0) / top) * 100)}%`;
  return (
    <figure className="histogram">
      <figcaption className="chart-title">
        {label}
        <span className="chart-legend muted small">
          <span className="legend-swatch reference" aria-hidden="true" /> training reference
          <span className="legend-swatch live" aria-hidden="true" /> live window
        </span>
      </figcaption>
      <div className="histogram-plot" role="img" aria-label={label}>
        {column.bins.map((bin, i) => (
          <div key={`${bin}-${i}`} className="histogram-bin" title={`${bin}: training ${formatShare(column.reference[i] ?? 0)}, live ${formatShare(column.live[i] ?? 0)}`}>
            <div className="histogram-bars">
              <span className="histogram-bar reference" style={{ height: height(column.reference[i]) }} />
              <span className="histogram-bar live" style={{ height: height(column.live[i]) }} />
            </div>
            <span className="histogram-label">{bin}</span>
          </div>
        ))}
      </div>
      <div className="sr-only">
        <DataTable caption={`Share of rows per bin of ${column.name}`} columns={['Bin', 'Training', 'Live']}>
          {column.bins.map((bin, i) => (
            <tr key={`${bin}-${i}`}>
              <td>{bin}</td>
              <td>{formatShare(column.reference[i] ?? 0)}</td>
              <td>{formatShare(column.live[i] ?? 0)}</td>
            </tr>
          ))}
        </DataTable>
      </div>
    </figure>
  );
}
