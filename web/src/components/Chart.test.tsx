import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { livePlots, plotTitled } from '../test/uplotMock';
import { Chart } from './Chart';

describe('Chart', () => {
  it('shows the empty text and draws nothing without data', () => {
    render(<Chart title="Latency" x={[]} series={[{ label: 'p50', color: '#000', values: [] }]} emptyText="No requests yet." />);
    expect(screen.getByText('No requests yet.')).toBeInTheDocument();
    expect(livePlots).toHaveLength(0);
  });

  it('feeds new data to the same plot and rebuilds it only when its shape changes', () => {
    const series = (values: number[]) => [{ label: 'rps', color: '#111', values }];
    const { rerender, unmount } = render(<Chart title="Rate" x={[1, 2]} series={series([3, 4])} xKind="time" />);
    const first = plotTitled('Rate');
    expect(first.data).toEqual([[1, 2], [3, 4]]);
    expect(first.opts.scales?.x?.time).toBe(true);

    rerender(<Chart title="Rate" x={[1, 2, 3]} series={series([3, 4, 5])} xKind="time" />);
    expect(plotTitled('Rate')).toBe(first);
    expect(first.data).toEqual([[1, 2, 3], [3, 4, 5]]);

    rerender(<Chart title="Rate" x={[1, 2, 3]} series={series([3, 4, 5])} xKind="time" kind="bars" />);
    expect(first.destroyed).toBe(true);
    expect(plotTitled('Rate')).not.toBe(first);

    unmount();
    expect(livePlots).toHaveLength(0);
  });

  it('names categories on the x axis of bar charts', () => {
    render(<Chart title="Latency" x={[0, 1, 2]} categories={['p50', 'p90', 'p99']} xKind="category" kind="bars" series={[{ label: 'ms', color: '#222', values: [1, 2, 3] }]} />);
    const plot = plotTitled('Latency');
    const xAxis = plot.opts.axes?.[0] as { values: (u: unknown, splits: number[]) => string[] };
    expect(xAxis.values(null, [0, 1, 2])).toEqual(['p50', 'p90', 'p99']);
  });
});
