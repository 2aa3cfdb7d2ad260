// Number formatting and the short labels the viewer shows for circuits and runs.
import type { VizCircuitInfo, VizCurve, VizIndex, VizRunInfo } from '../../src/viz-export/format.js';

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

/** The settings that tell circuits apart, most telling first: method, metric, corruption, direction, threshold. */
export function circuitSettings(c: VizCircuitInfo): string {
  return parts([c.method, c.metric, c.corruption, c.direction, c.threshold !== null ? `τ ${fmt(c.threshold)}` : null]);
}

/** Dropdown and title text: settings first (a cut-off end loses the least), then size, model and origin. */
export function circuitLabel(c: VizCircuitInfo): string {
  return `#${c.id} ${circuitSettings(c)} · ${fmtInt(c.size)} edges · ${c.modelName ?? 'model ?'} · ${c.pipeline}/${c.key}`;
}

/** Matrix headers: id, settings and size (threshold included, so two cuts of one run differ). */
export function circuitShortLabel(c: VizCircuitInfo): string {
  return `#${c.id} ${circuitSettings(c) || c.key} · ${fmtInt(c.size)} e`;
}

/** Rows of a circuit's description list. */
export function circuitMeta(c: VizCircuitInfo): [string, string][] {
  return [
    ['method', c.method],
    ['metric', c.metric ?? '-'],
    ['corruption', c.corruption ?? '-'],
    ['direction', c.direction ?? '-'],
    ['threshold', c.threshold !== null ? `|score| ≥ ${fmt(c.threshold)}` : '-'],
    ['model', c.modelName ?? '-'],
    ['graph', `${c.nLayers} layers × ${c.nHeads} heads, ${fmtInt(c.nEdges)} edges (${fmtInt(c.nScored)} scored)`],
    ['stored', `${fmtInt(c.size)} edges${c.faithfulness !== null ? `, faithfulness ${fmt(c.faithfulness)}` : ''}`],
    ['pipeline', `${c.pipeline} (key ${c.key})`],
  ];
}

/**
 * The circuit a curve belongs to: by id, else by pipeline and key; with `sameRun`, else a circuit
 * of the run that made the curve (a sweep over thresholds: same method and graph, another cut).
 */
export function curveCircuit(index: VizIndex, cv: VizCurve, sameRun = false): VizCircuitInfo | undefined {
  const own = index.circuits.find((x) => (cv.circuitId !== null ? x.id === cv.circuitId : x.pipeline === cv.pipeline && x.key === cv.key));
  if (own || !sameRun || cv.runId === null) return own;
  return index.circuits.find((x) => x.runId === cv.runId);
}

/** A curve's legend text: the settings of the circuit it belongs to, else of its run, else its key. */
export function curveLabel(index: VizIndex, cv: VizCurve): string {
  const c = curveCircuit(index, cv);
  if (c) return `#${c.id} ${circuitSettings(c)}`;
  const r = cv.runId !== null ? index.runs.find((x) => x.id === cv.runId) : undefined;
  if (r) return `${parts([curveCircuit(index, cv, true)?.method, r.metric, r.corruption, r.direction])} (run ${r.id})`;
  return cv.key;
}

export function runLabel(r: VizRunInfo): string {
  return `run ${r.id}: ${parts([r.method === 'attribution' ? 'AtP' : null, r.corruption, r.direction, r.metric, r.granularity, r.window !== null && r.window > 1 ? `w${r.window}` : null])}`;
}

/** An AtP run's agreement with its exact run, in one line. */
export function agreementLine(a: NonNullable<VizRunInfo['agreement']>): string {
  const m = a.agreement;
  const top = m.topK.map((t) => `top ${t.k} ${t.shared}/${t.k}`);
  return `vs exact run ${a.exactRunId}: ${parts([`Pearson ${fmt(m.pearson)}`, `Spearman ${fmt(m.spearman)}`, `same sign ${fmt(m.signAgreement)}`, ...top])}`;
}
