/**
 * A small dependency-free SVG line and scatter plot for benchmark results: linear or log axes with
 * round tick values, one colour per series, a legend. The output is a standalone SVG document that
 * GitHub and browsers render as it is.
 */

export interface PlotSeries {
  name: string;
  /** [x, y] pairs; drawn in the order given. */
  points: readonly (readonly [number, number])[];
  /** Connect the points (default) or draw markers only. */
  line?: boolean;
  /** CSS colour; the palette's next one by default. */
  color?: string;
  dashed?: boolean;
  /** Stroke width of the line (default 2); thin lines make a background for highlighted series. */
  width?: number;
}

export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly PlotSeries[];
  xLog?: boolean;
  yLog?: boolean;
  width?: number;
  height?: number;
  /** Series left out of the legend (e.g. a grey background of many grid points), by name. */
  hideInLegend?: (name: string) => boolean;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];

const MARGIN = { left: 70, right: 20, top: 40, bottom: 50 };
const LEGEND_ROW = 16;

/** Escapes text for SVG element content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Round tick values from at or below `min` to at or above `max`: steps of 1, 2 or 5 times a power of ten. */
export function linearTicks(min: number, max: number, target = 6): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) throw new RangeError(`bad axis range [${min}, ${max}]`);
  if (min === max) return [min];
  const raw = (max - min) / Math.max(1, target - 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw * (1 - 1e-9))!;
  const ticks: number[] = [];
  // Integer multiples of the step, so that 0.1 + 0.2 style drift never shows in a label.
  for (let k = Math.floor(min / step + 1e-9); k <= Math.ceil(max / step - 1e-9); k++) ticks.push(Number((k * step).toPrecision(12)));
  return ticks;
}

/** Powers of ten covering [min, max] (both > 0) on a log axis. */
export function logTicks(min: number, max: number): number[] {
  if (!(min > 0) || !(max >= min)) throw new RangeError(`a log axis needs 0 < min ≤ max, got [${min}, ${max}]`);
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) ticks.push(Number((10 ** e).toPrecision(12)));
  return ticks;
}

/** A tick label: thousands as k, millions as M, otherwise as few digits as the value needs. */
export function formatTick(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${Number((value / 1e6).toPrecision(3))}M`;
  if (abs >= 1e4) return `${Number((value / 1e3).toPrecision(3))}k`;
  return String(Number(value.toPrecision(3)));
}

interface Axis {
  ticks: number[];
  map: (v: number) => number;
}

function axis(values: number[], log: boolean, from: number, to: number): Axis {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (log) {
    const ticks = logTicks(lo, hi);
    lo = ticks[0]!;
    hi = ticks[ticks.length - 1]!;
    if (lo === hi) hi = lo * 10;
    const span = Math.log10(hi) - Math.log10(lo);
    return { ticks, map: (v) => from + ((Math.log10(v) - Math.log10(lo)) / span) * (to - from) };
  }
  // Linear axes start at zero when the data are all positive: a latency or a rate read from zero.
  if (lo > 0) lo = 0;
  if (lo === hi) hi = lo + 1;
  const ticks = linearTicks(lo, hi);
  lo = ticks[0]!;
  hi = ticks[ticks.length - 1]!;
  return { ticks, map: (v) => from + ((v - lo) / (hi - lo)) * (to - from) };
}

/** Renders the plot as an SVG document. Throws on a point an axis cannot show (NaN, or ≤ 0 on a log axis). */
export function plotSvg(o: PlotOptions): string {
  const width = o.width ?? 800;
  const hidden = o.hideInLegend ?? (() => false);
  const legendNames = o.series.filter((s) => !hidden(s.name)).map((s) => s.name);
  const plotHeight = o.height ?? 450;
  const height = plotHeight + legendNames.length * LEGEND_ROW + (legendNames.length > 0 ? 10 : 0);
  const points = o.series.flatMap((s) => s.points);
  if (points.length === 0) throw new RangeError(`plot "${o.title}" has no points`);
  for (const s of o.series) {
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !Number.isFinite(y)) throw new RangeError(`series "${s.name}" has a non-finite point (${x}, ${y})`);
      if ((o.xLog && x <= 0) || (o.yLog && y <= 0)) throw new RangeError(`series "${s.name}" has a point (${x}, ${y}) a log axis cannot show`);
    }
  }
  const x = axis(points.map((p) => p[0]), o.xLog ?? false, MARGIN.left, width - MARGIN.right);
  const y = axis(points.map((p) => p[1]), o.yLog ?? false, plotHeight - MARGIN.bottom, MARGIN.top);
  const r = (v: number) => Math.round(v * 10) / 10;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="15">${escapeXml(o.title)}</text>`);
  const [top, bottom, left, right] = [MARGIN.top, plotHeight - MARGIN.bottom, MARGIN.left, width - MARGIN.right];
  for (const t of x.ticks) {
    const px = r(x.map(t));
    out.push(`<line x1="${px}" y1="${top}" x2="${px}" y2="${bottom}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${px}" y="${bottom + 16}" text-anchor="middle">${escapeXml(formatTick(t))}</text>`);
  }
  for (const t of y.ticks) {
    const py = r(y.map(t));
    out.push(`<line x1="${left}" y1="${py}" x2="${right}" y2="${py}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${left - 6}" y="${py + 4}" text-anchor="end">${escapeXml(formatTick(t))}</text>`);
  }
  out.push(`<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${(left + right) / 2}" y="${plotHeight - 12}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  out.push(`<text x="16" y="${(top + bottom) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(top + bottom) / 2})">${escapeXml(o.yLabel)}</text>`);

  let legendRow = 0;
  o.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const coords = s.points.map(([px, py]) => `${r(x.map(px))},${r(y.map(py))}`);
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(`<g><title>${escapeXml(s.name)}</title>`);
    if (s.line !== false && coords.length > 1) {
      out.push(`<polyline points="${coords.join(' ')}" fill="none" stroke="${color}" stroke-width="${s.width ?? 2}"${dash}/>`);
    }
    for (const c of coords) {
      const [cx, cy] = c.split(',');
      out.push(`<circle cx="${cx}" cy="${cy}" r="${s.line === false ? 3.5 : 2.5}" fill="${color}"/>`);
    }
    out.push('</g>');
    if (!hidden(s.name)) {
      const ly = plotHeight + 4 + legendRow++ * LEGEND_ROW;
      out.push(`<line x1="${left}" y1="${ly}" x2="${left + 24}" y2="${ly}" stroke="${color}" stroke-width="${s.width ?? 2}"${dash}/>`);
      out.push(`<text x="${left + 30}" y="${ly + 4}">${escapeXml(s.name)}</text>`);
    }
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
