// Small SVG charts: line charts (curves) and heatmaps (effects), drawn with DOM calls only, every
// label a text node. Hover titles are SVG <title> children.
import { h, s } from './dom.js';
import { diverging } from './palette.js';
import { fmt } from './text.js';

export interface Series {
  readonly label: string;
  readonly color: string;
  readonly points: readonly (readonly [number, number])[];
  readonly dashed?: boolean;
}

export interface LineChartOptions {
  readonly width?: number;
  readonly height?: number;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  readonly logX?: boolean;
  /** A vertical marker line (the current size). */
  readonly marker?: { readonly x: number; readonly label: string };
  readonly xDomain?: readonly [number, number];
  readonly yDomain?: readonly [number, number];
  /** Draw the y = x diagonal (ROC). */
  readonly diagonal?: boolean;
  /** x values are integers (layers): no fractional ticks. */
  readonly integerX?: boolean;
}

/** About `count` round tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const step0 = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s2) => s2 >= step0) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

/** Powers of ten in [lo, hi], with 2x and 5x steps added when the range spans little more than a decade. */
export function logTicks(lo: number, hi: number): number[] {
  // Only positive, finite ranges have a log scale (an empty circuit's size 0 does not).
  if (!(lo > 0) || !(hi >= lo) || !Number.isFinite(hi)) return [];
  const out: number[] = [];
  const mult = Math.log10(hi / lo) < 1.5 ? [1, 2, 5] : [1];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of mult) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
    }
  }
  return out.length >= 2 ? out : [lo, hi];
}

function extent(values: readonly number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) return [lo - 1, hi + 1];
  return [lo, hi];
}

/** A positive range for a log axis: one value v spans [v / 2, v * 2]; none spans [1, 10]. */
function logExtent(values: readonly number[]): [number, number] {
  const pos = values.filter((v) => v > 0 && Number.isFinite(v));
  if (pos.length === 0) return [1, 10];
  const lo = Math.min(...pos);
  const hi = Math.max(...pos);
  return lo === hi ? [lo / 2, hi * 2] : [lo, hi];
}

/** Ticks whose labels differ (rounding can print two ticks alike). */
function distinctTicks(ts: readonly number[]): number[] {
  const seen = new Set<string>();
  return ts.filter((t) => {
    const k = fmt(t);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export function lineChart(o: LineChartOptions): HTMLElement {
  const W = o.width ?? 420;
  const H = o.height ?? 240;
  const m = { l: 52, r: 12, t: 10, b: 40 };
  const xs = o.series.flatMap((se) => se.points.map((p) => p[0])).filter((x) => !o.logX || x > 0);
  const ys = o.series.flatMap((se) => se.points.map((p) => p[1]));
  const [x0, x1] = o.xDomain ?? (o.logX ? logExtent(xs) : extent(xs));
  const [y0, y1] = o.yDomain ?? extent(ys);
  const lx = (x: number): number => (o.logX ? Math.log10(Math.max(x, 1e-12)) : x);
  const px = (x: number): number => m.l + ((lx(x) - lx(x0)) / (lx(x1) - lx(x0) || 1)) * (W - m.l - m.r);
  const py = (y: number): number => H - m.b - ((y - y0) / (y1 - y0 || 1)) * (H - m.t - m.b);
  const svg = s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img' });
  const axis = s('g', { class: 'axis' });
  for (const t of distinctTicks(o.logX ? logTicks(x0, x1) : ticks(x0, x1).filter((v) => !o.integerX || Number.isInteger(v)))) {
    axis.append(s('line', { x1: px(t), x2: px(t), y1: m.t, y2: H - m.b, class: 'grid' }), s('text', { x: px(t), y: H - m.b + 14, 'text-anchor': 'middle' }, fmt(t)));
  }
  for (const t of distinctTicks(ticks(y0, y1))) {
    axis.append(s('line', { x1: m.l, x2: W - m.r, y1: py(t), y2: py(t), class: 'grid' }), s('text', { x: m.l - 4, y: py(t) + 4, 'text-anchor': 'end' }, fmt(t)));
  }
  axis.append(
    s('text', { x: (m.l + W - m.r) / 2, y: H - 6, 'text-anchor': 'middle', class: 'axis-label' }, o.xLabel),
    s('text', { x: 12, y: (m.t + H - m.b) / 2, 'text-anchor': 'middle', class: 'axis-label', transform: `rotate(-90 12 ${(m.t + H - m.b) / 2})` }, o.yLabel),
    s('rect', { x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b, class: 'frame' }),
  );
  svg.append(axis);
  if (o.diagonal) svg.append(s('line', { x1: px(x0), y1: py(y0), x2: px(x1), y2: py(y1), class: 'diagonal' }));
  if (o.marker) {
    svg.append(s('line', { x1: px(o.marker.x), x2: px(o.marker.x), y1: m.t, y2: H - m.b, class: 'marker' }, s('title', {}, o.marker.label)));
  }
  for (const se of o.series) {
    const pts = se.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!o.logX || p[0] > 0));
    if (pts.length === 0) continue;
    const d = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join('');
    svg.append(s('path', { d, fill: 'none', stroke: se.color, 'stroke-width': 1.6, 'stroke-dasharray': se.dashed ? '4 3' : 'none' }));
    const g = s('g', { fill: se.color });
    for (const p of pts) g.append(s('circle', { cx: px(p[0]), cy: py(p[1]), r: 2.2 }, s('title', {}, `${se.label}: (${fmt(p[0])}, ${fmt(p[1])})`)));
    svg.append(g);
  }
  const legend = h(
    'div',
    { class: 'legend' },
    ...o.series.map((se) => {
      const sw = h('span', { class: se.dashed ? 'swatch dashed' : 'swatch' });
      sw.style.borderColor = se.color;
      if (!se.dashed) sw.style.background = se.color;
      return h('span', { class: 'legend-item' }, sw, se.label);
    }),
  );
  return h('div', { class: 'line-chart' }, svg, legend);
}

export interface HeatmapOptions {
  readonly rows: number;
  readonly cols: number;
  readonly value: (r: number, c: number) => number | undefined;
  readonly rowLabel: (r: number) => string;
  readonly colLabel: (c: number) => string;
  readonly rowTitle: string;
  readonly colTitle: string;
  readonly outlined: (r: number, c: number) => boolean;
  readonly cellTitle: (r: number, c: number) => string;
  /** Symmetric colour scale: -max .. +max. */
  readonly max: number;
  readonly cell?: number;
  /** Print each cell's value in it (values readable without hovering). */
  readonly showValues?: boolean;
  /** Row 0 at the bottom (layers going up, as in per-position views); default: at the top. */
  readonly layersUp?: boolean;
  /** Column labels slanted (tokens); default: horizontal. */
  readonly slantColLabels?: boolean;
}

export function heatmap(o: HeatmapOptions): SVGSVGElement {
  const cell = o.cell ?? Math.max(o.showValues ? 30 : 9, Math.min(34, Math.floor(320 / Math.max(o.cols, o.rows, 1))));
  // The row title sits above the row labels, horizontally, so no map is too short for it.
  const longest = o.slantColLabels ? Math.max(0, ...Array.from({ length: o.cols }, (_, c) => o.colLabel(c).length)) : 0;
  // Row labels are layer numbers in most maps; sender names (a10.h11) in path-patching maps.
  const longestRow = Math.max(0, ...Array.from({ length: o.rows }, (_, r) => o.rowLabel(r).length));
  const m = { l: Math.max(34, Math.ceil(longest * 4.4), 8 + Math.ceil(longestRow * 6.2)), t: 20, r: o.slantColLabels ? 30 : 8, b: o.slantColLabels ? 26 + Math.ceil(longest * 4.6) : 34 };
  const W = Math.max(m.l + o.cols * cell + m.r, 8 + 6.2 * o.rowTitle.length);
  const rowY = (r: number): number => m.t + (o.layersUp ? o.rows - 1 - r : r) * cell;
  const H = m.t + o.rows * cell + m.b;
  const svg = s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: 'heatmap', role: 'img' });
  const cells = s('g');
  const outlines = s('g', { class: 'detected' });
  const values = s('g', { class: 'values', 'text-anchor': 'middle' });
  for (let r = 0; r < o.rows; r++) {
    for (let c = 0; c < o.cols; c++) {
      const v = o.value(r, c);
      const x = m.l + c * cell;
      const y = rowY(r);
      cells.append(s('rect', { x, y, width: cell, height: cell, fill: v === undefined ? '#eeeeee' : diverging(v, o.max), class: 'cell' }, s('title', {}, o.cellTitle(r, c))));
      if (o.outlined(r, c)) outlines.append(s('rect', { x: x + 1, y: y + 1, width: cell - 2, height: cell - 2, class: 'outline' }, s('title', {}, `detected: ${o.cellTitle(r, c)}`)));
      if (o.showValues && v !== undefined) {
        // Dark cells (beyond about 60% of the scale) take white text.
        const t = s('text', { x: x + cell / 2, y: y + cell / 2 + 3, class: Math.abs(v) > 0.6 * o.max ? 'value light' : 'value' }, fmt(v, 2));
        values.append(t);
      }
    }
  }
  svg.append(cells, outlines, values);
  const every = (n: number): number => Math.max(1, Math.ceil(n / Math.floor(300 / 14)));
  for (let r = 0; r < o.rows; r += every(o.rows)) svg.append(s('text', { x: m.l - 3, y: rowY(r) + cell / 2 + 4, 'text-anchor': 'end' }, o.rowLabel(r)));
  for (let c = 0; c < o.cols; c += o.slantColLabels ? 1 : every(o.cols)) {
    const x = m.l + c * cell + cell / 2;
    const y = m.t + o.rows * cell + 12;
    svg.append(
      o.slantColLabels
        ? s('text', { x, y, 'text-anchor': 'end', class: 'col-label', transform: `rotate(-45 ${x} ${y})` }, o.colLabel(c))
        : s('text', { x, y, 'text-anchor': 'middle', class: 'col-label' }, o.colLabel(c)),
    );
  }
  svg.append(
    s('text', { x: m.l + (o.cols * cell) / 2, y: H - 4, 'text-anchor': 'middle', class: 'axis-label' }, o.colTitle),
    s('text', { x: 2, y: 12, 'text-anchor': 'start', class: 'axis-label' }, `${o.rowTitle} ${o.layersUp ? '↑' : '↓'}`),
  );
  return svg;
}

/** A horizontal colour bar for a symmetric diverging scale, with the unit it is in. */
export function colorBar(max: number, unit: string, width = 160): HTMLElement {
  const svg = s('svg', { width, height: 12, class: 'colorbar' });
  const n = 40;
  for (let i = 0; i < n; i++) svg.append(s('rect', { x: (i * width) / n, y: 0, width: width / n + 0.5, height: 12, fill: diverging(-max + (2 * max * (i + 0.5)) / n, max) }));
  return h('div', { class: 'colorbar-wrap' }, h('span', {}, fmt(-max)), svg, h('span', {}, fmt(max)), h('span', { class: 'unit', data: { testid: 'colorbar-unit' } }, unit));
}
