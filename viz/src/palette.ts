// Colours: one diverging palette for signed values (blue positive, red negative, white zero) used
// by edges and heatmaps alike, and fixed colours for node kinds and circuit membership.

export const POSITIVE = '#2166ac';
export const NEGATIVE = '#c0392b';
export const UNSCORED = '#9e9e9e';

// Node kinds and the compare view's diff share no hue: MLPs brown, q/k/v ports cyan, pink and green;
// "only in A" orange and "only in B" purple appear nowhere else (nor do the edges' blue and red).
export const NODE_COLORS = {
  input: '#333333',
  head: '#4a4a4a',
  mlp: '#8c6d31',
  logits: '#333333',
  q: '#17a2b8',
  k: '#e7298a',
  v: '#66a61e',
  inactive: '#d9d9d9',
} as const;

/** Compare view: edges only in A, only in B, in both. */
export const DIFF_COLORS = { a: '#e66101', b: '#5e3c99', both: '#555555' } as const;

/** Text on white or near-white at >= 4.5:1 (hints, secondary labels). */
export const HINT_TEXT = '#595959';

// RdBu (ColorBrewer, 11 classes), red (negative) to blue (positive).
const RDBU = ['#67001f', '#b2182b', '#d6604d', '#f4a582', '#fddbc7', '#f7f7f7', '#d1e5f0', '#92c5de', '#4393c3', '#2166ac', '#053061'];

function hexToRgb(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

const STOPS = RDBU.map(hexToRgb);

/** Colour of v on a scale symmetric about 0: -max -> dark red, 0 -> white, +max -> dark blue. */
export function diverging(v: number, max: number): string {
  if (!Number.isFinite(v)) return '#bdbdbd';
  const t = max > 0 ? Math.max(-1, Math.min(1, v / max)) : 0;
  const x = ((t + 1) / 2) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const a = STOPS[i]!;
  const b = STOPS[i + 1]!;
  const c = a.map((av, j) => Math.round(av + (b[j]! - av) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** A qualitative colour for the i-th line of a chart. */
export function series(i: number): string {
  const c = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02', '#a6761d', '#666666'];
  return c[i % c.length]!;
}
