/**
 * A thin React wrapper over uPlot (small, canvas-based). Line, point and bar charts share
 * one component; the plot is rebuilt when its shape changes and only re-fed when data does.
 */
import { useLayoutEffect, useMemo, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  color: string;
  values: (number | null)[];
  dash?: number[];
  /** Overrides the chart's `kind` for this series (e.g. points plus a best-so-far line). */
  kind?: 'line' | 'points' | 'bars';
}

export interface ChartProps {
  title: string;
  x: number[];
  series: ChartSeries[];
  kind?: 'line' | 'points' | 'bars';
  /** time: x is epoch seconds; category: x is 0..n-1 and `categories` names each bar. */
  xKind?: 'time' | 'number' | 'category';
  categories?: string[];
  xLabel?: string;
  yLabel?: string;
  height?: number;
  /** Unit appended to values in the legend, e.g. "ms". */
  unit?: string;
  emptyText?: string;
  /** Start the y axis at zero (rates, latencies, times). */
  yFromZero?: boolean;
}

const AXIS = { stroke: '#5b6474', grid: { stroke: '#e7eaf0', width: 1 }, ticks: { stroke: '#e7eaf0', width: 1 } };

function buildOptions(props: ChartProps, width: number): uPlot.Options {
  const { kind = 'line', xKind = 'number', categories = [], unit = '', height = 220 } = props;
  const bars = (kind === 'bars' || props.series.some((s) => s.kind === 'bars')) && typeof uPlot.paths.bars === 'function' ? uPlot.paths.bars({ size: [0.6, 64] }) : null;
  const fmt = (v: number | null | undefined) =>
    v == null ? '—' : `${Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toPrecision(4))}${unit ? ` ${unit}` : ''}`;

  const xSeries: uPlot.Series =
    xKind === 'category'
      ? { label: props.xLabel ?? '', value: (_u, v) => (v == null ? '—' : (categories[v] ?? String(v))) }
      : { label: props.xLabel ?? (xKind === 'time' ? 'Time' : 'x') };

  return {
    width,
    height,
    cursor: { drag: { x: false, y: false } },
    // Bars are labelled on their axis; a legend adds nothing there.
    legend: { show: kind !== 'bars' },
    scales: {
      x:
        xKind === 'time'
          ? { time: true }
          : xKind === 'category'
            ? // Fixed, so one bar sits in the middle instead of on the edge.
              {
                time: false,
                auto: false,
                min: -0.5,
                max: props.x.length - 0.5,
                range: (): uPlot.Range.MinMax => [-0.5, props.x.length - 0.5],
              }
            : { time: false },
      y: props.yFromZero
        ? { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] }
        : {},
    },
    axes: [
      {
        ...AXIS,
        ...(xKind === 'category'
          ? {
              splits: () => props.x.map((_, i) => i),
              values: (_u: uPlot, splits: number[]) => splits.map((i) => categories[i] ?? ''),
            }
          : {}),
        ...(props.xLabel ? { label: props.xLabel } : {}),
      },
      { ...AXIS, size: 56, ...(props.yLabel ? { label: props.yLabel } : {}) },
    ],
    series: [
      xSeries,
      ...props.series.map<uPlot.Series>((s) => {
        const style = s.kind ?? kind;
        return {
          label: s.label,
          stroke: s.color,
          width: style === 'points' ? 0 : 2,
          ...(s.dash ? { dash: s.dash } : {}),
          value: (_u: uPlot, v: number | null) => fmt(v),
          ...(style === 'bars'
            ? { fill: `${s.color}cc`, paths: bars ?? undefined, points: { show: false } }
            : style === 'points'
              ? { paths: () => null, points: { show: true, size: 7, fill: s.color, stroke: s.color } }
              : { spanGaps: true }),
        };
      }),
    ],
  };
}

export function Chart(props: ChartProps) {
  const { title, x, series, emptyText = 'No data yet.' } = props;
  const holder = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  // Layout effects: the plot is drawn in the same commit as its <figure>, so nothing (a test,
  // a screenshot) ever sees a chart's frame without its plot.
  // Rebuild only when the shape changes (series names, colours, kind, axes).
  const shape = JSON.stringify([
    props.xKind === 'category' ? x.length : null,
    props.kind,
    props.xKind,
    props.categories,
    props.xLabel,
    props.yLabel,
    props.height,
    props.unit,
    props.yFromZero,
    series.map((s) => [s.label, s.color, s.dash, s.kind]),
  ]);
  const data = useMemo<uPlot.AlignedData>(() => [x, ...series.map((s) => s.values)], [x, series]);
  const hasData = x.length > 0;

  const propsRef = useRef(props);
  const dataRef = useRef(data);
  useLayoutEffect(() => {
    propsRef.current = props;
    dataRef.current = data;
  });

  useLayoutEffect(() => {
    const el = holder.current;
    if (!el || !hasData) return undefined;
    const width = Math.max(240, el.clientWidth || 600);
    const instance = new uPlot(buildOptions(propsRef.current, width), dataRef.current, el);
    plot.current = instance;
    let observer: ResizeObserver | undefined;
    if (typeof ResizeObserver !== 'undefined') {
      observer = new ResizeObserver(() => {
        const w = Math.max(240, el.clientWidth);
        instance.setSize({ width: w, height: propsRef.current.height ?? 220 });
      });
      observer.observe(el);
    }
    return () => {
      observer?.disconnect();
      instance.destroy();
      plot.current = null;
    };
  }, [shape, hasData]);

  useLayoutEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  return (
    <figure className="chart">
      <figcaption className="chart-title">{title}</figcaption>
      {hasData ? (
        <div className="chart-canvas" ref={holder} data-testid={`chart-${title}`} />
      ) : (
        <div className="chart-empty">{emptyText}</div>
      )}
    </figure>
  );
}
