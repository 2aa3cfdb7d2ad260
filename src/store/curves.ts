// Curves over a sweep of cuts (faithfulness against size, ROC against a ground truth), one row per
// point, named by (pipeline, key, kind) and optionally tied to a run and a circuit.
import { type Connection, insertRows, type SqlValue } from './connection.js';
import type { CurvePoint } from '../core/vocabulary.js';
import type { CurveFilter, CurveRecord, CurveRequest } from './types.js';

const CURVE_BATCH = 500;

function finiteOrNull(v: number | null | undefined, what: string): number | null {
  if (v === null || v === undefined) return null;
  if (!Number.isFinite(v)) throw new Error(`${what} must be a finite number or null, got ${v}`);
  return v;
}

export class CurveStore {
  constructor(private readonly conn: Connection) {}

  /** Saves a curve's points, replacing any earlier points of the same (pipeline, key, kind). */
  async save(req: CurveRequest): Promise<void> {
    const where = `curve ${req.pipeline}/${req.key}/${req.kind}`;
    for (const [f, v] of [
      ['pipeline', req.pipeline],
      ['key', req.key],
      ['kind', req.kind],
    ] as const) {
      if (typeof v !== 'string' || v === '') throw new Error(`curves.save: ${f} must be a non-empty string`);
    }
    const params: SqlValue[] = [];
    req.points.forEach((p, i) => {
      const size = p.size ?? null;
      if (size !== null && !(Number.isInteger(size) && size >= 0)) throw new Error(`curves.save ${where}: point ${i}: size must be a non-negative integer or null, got ${size}`);
      params.push(
        req.pipeline,
        req.key,
        req.kind,
        i,
        req.runId ?? null,
        req.circuitId ?? null,
        finiteOrNull(p.threshold, `curves.save ${where}: point ${i}: threshold`),
        size,
        finiteOrNull(p.faithfulness, `curves.save ${where}: point ${i}: faithfulness`),
        finiteOrNull(p.tpr, `curves.save ${where}: point ${i}: tpr`),
        finiteOrNull(p.fpr, `curves.save ${where}: point ${i}: fpr`),
      );
    });
    const cols = 11;
    return this.conn.transaction(async () => {
      await this.conn.run('DELETE FROM circuit_curves WHERE pipeline = ? AND key = ? AND kind = ?', [req.pipeline, req.key, req.kind]);
      for (let start = 0; start < req.points.length; start += CURVE_BATCH) {
        const n = Math.min(CURVE_BATCH, req.points.length - start);
        await insertRows(
          this.conn,
          'INSERT INTO circuit_curves (pipeline, key, kind, point, run_id, circuit_id, threshold, size, faithfulness, tpr, fpr)',
          cols,
          n,
          CURVE_BATCH,
          params.slice(cols * start, cols * (start + n)),
        );
      }
    });
  }

  /** Curves matching the filter, ordered by pipeline, key and kind, points in saved order. */
  async list(filter: CurveFilter = {}): Promise<CurveRecord[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    for (const [col, v] of [
      ['pipeline', filter.pipeline],
      ['key', filter.key],
      ['kind', filter.kind],
      ['run_id', filter.runId],
      ['circuit_id', filter.circuitId],
    ] as const) {
      if (v === undefined) continue;
      where.push(`${col} = ?`);
      params.push(v);
    }
    const rows = await this.conn.lock(() =>
      this.conn.all<{
        pipeline: string;
        key: string;
        kind: string;
        run_id: number | null;
        circuit_id: number | null;
        threshold: number | null;
        size: number | null;
        faithfulness: number | null;
        tpr: number | null;
        fpr: number | null;
      }>(
        `SELECT pipeline, key, kind, run_id, circuit_id, threshold, size, faithfulness, tpr, fpr FROM circuit_curves
         ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY pipeline, key, kind, point`,
        params,
      ),
    );
    const out: { pipeline: string; key: string; kind: string; runId: number | null; circuitId: number | null; points: Required<CurvePoint>[] }[] = [];
    for (const r of rows) {
      let cur = out[out.length - 1];
      if (cur === undefined || cur.pipeline !== r.pipeline || cur.key !== r.key || cur.kind !== r.kind) {
        cur = { pipeline: r.pipeline, key: r.key, kind: r.kind, runId: r.run_id, circuitId: r.circuit_id, points: [] };
        out.push(cur);
      }
      cur.points.push({ threshold: r.threshold, size: r.size, faithfulness: r.faithfulness, tpr: r.tpr, fpr: r.fpr });
    }
    return out;
  }
}
