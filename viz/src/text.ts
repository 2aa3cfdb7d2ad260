// Number formatting and the short labels the viewer shows for circuits and runs.
import type { VizCircuitInfo, VizRunInfo } from '../../src/viz-export/format.js';

/** Three significant digits; exponent form for very small or large magnitudes. */
export function fmt(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '-';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e5) return v.toExponential(digits - 1);
  return String(Number(v.toPrecision(digits)));
}

export const fmtInt = (n: number): string => n.toLocaleString('en-US');

/** The shortest decimal that reads back as the same float32 (thresholds in URLs). */
export function float32Text(v: number): string {
  const f = Math.fround(v);
  for (let p = 1; p < 10; p++) {
    const x = Number(f.toPrecision(p));
    if (Math.fround(x) === f) return String(x);
  }
  return String(f);
}

const parts = (xs: readonly (string | null | undefined)[]): string => xs.filter((x): x is string => typeof x === 'string' && x !== '').join(' · ');

export function circuitLabel(c: VizCircuitInfo): string {
  return `#${c.id} ${c.pipeline}/${c.key} (${parts([c.method, c.metric, c.corruption, c.modelName])})`;
}

export function circuitShortLabel(c: VizCircuitInfo): string {
  return `#${c.id} ${parts([c.method, c.metric, c.corruption]) || c.key}`;
}

export function runLabel(r: VizRunInfo): string {
  return `run ${r.id}: ${parts([r.corruption, r.direction, r.metric, r.granularity, r.window !== null && r.window > 1 ? `w${r.window}` : null])}`;
}
