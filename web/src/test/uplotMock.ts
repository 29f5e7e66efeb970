/** A stand-in for uPlot in jsdom (no canvas): records what each chart was asked to draw. */
import type uPlot from 'uplot';

export class FakePlot {
  static readonly paths = { bars: () => () => null };
  opts: uPlot.Options;
  data: uPlot.AlignedData;
  root: HTMLElement;
  destroyed = false;

  constructor(opts: uPlot.Options, data: uPlot.AlignedData, root: HTMLElement) {
    this.opts = opts;
    this.data = data;
    this.root = root;
    livePlots.push(this);
  }

  setData(data: uPlot.AlignedData): void {
    this.data = data;
  }

  setSize(): void {}

  destroy(): void {
    this.destroyed = true;
    const i = livePlots.indexOf(this);
    if (i >= 0) livePlots.splice(i, 1);
  }

  /** The chart's title, read from the <figure> it is drawn in. */
  get title(): string {
    return this.root.closest('figure')?.querySelector('figcaption')?.textContent ?? '';
  }
}

export const livePlots: FakePlot[] = [];

export function plotTitled(title: string): FakePlot {
  const plot = livePlots.find((p) => p.title === title);
  if (!plot) throw new Error(`no chart titled "${title}"; charts: ${livePlots.map((p) => p.title).join(', ')}`);
  return plot;
}
