// The ACDC checkpoints aggregate: a threshold's progress while it runs (acdc_checkpoints: its key,
// starting and current scores, decision count and pruned set, one row per unit in progress) and its
// decisions (acdc_decisions, one row each in visiting order). A save appends only the decisions
// made since the last one and rewrites the small header, in one transaction, so a process killed at
// any point leaves a checkpoint whose header and decisions agree. runs.saveUnit deletes the header
// with the unit's completion marker; the decisions stay as the threshold's decision log.
import { z } from 'zod';
import type { AcdcDecision } from '../methods/acdc.js';
import type { AcdcCheckpointer, AcdcProgress } from '../methods/acdc-checkpoint.js';
import { issueLines } from '../core/zod-issues.js';
import { type Connection, insertRows, type SqlValue } from './connection.js';

/** acdc_decisions rows per INSERT (10 variables a row, under SQLite's 32,766). */
const DECISION_BATCH = 2000;
const NOW = `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`;

/** A REAL column that may hold NULL for NaN (SQLite stores NaN as NULL). */
const real = z
  .number()
  .nullable()
  .transform((v) => (v === null ? Number.NaN : v));

const HeaderRow = z.object({
  key: z.string().min(1),
  initial: real,
  current: real,
  decisions: z.number().int().nonnegative(),
  pruned: z.string(),
  cells: z.number().int().nonnegative(),
});

const DecisionRow = z.object({
  step: z.number().int().nonnegative(),
  name: z.string().min(1),
  sender: z.number().int().nonnegative(),
  receiver: z.number().int().nonnegative().nullable(),
  metric_before: real,
  metric_after: real,
  score: real,
  pruned: z.union([z.literal(0), z.literal(1)]),
});

/** [n] 0/1 cells as base64 of a bitset, little-endian within each byte. */
function packBits(cells: Uint8Array): string {
  const bytes = new Uint8Array(Math.ceil(cells.length / 8));
  cells.forEach((v, i) => {
    if (v) bytes[i >> 3]! |= 1 << (i & 7);
  });
  return Buffer.from(bytes).toString('base64');
}

function unpackBits(text: string, n: number): Uint8Array {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== Math.ceil(n / 8)) throw new Error(`pruned set of ${bytes.length} bytes, expected ${Math.ceil(n / 8)} for ${n} cells`);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (bytes[i >> 3]! >> (i & 7)) & 1;
  return out;
}

function problem(error: z.ZodError): string {
  const [first] = issueLines(error);
  return first ? `${first[0]}: ${first[1]}` : 'invalid';
}

export class AcdcCheckpointStore {
  constructor(private readonly conn: Connection) {}

  /** The unit's progress, or undefined when none is stored; a row that does not parse is an error naming it. */
  async load(runId: number, unit: string): Promise<AcdcProgress | undefined> {
    return this.conn.lock(async () => {
      const raw = await this.conn.get<unknown>('SELECT key, initial, current, decisions, pruned, cells FROM acdc_checkpoints WHERE run_id = ? AND unit = ?', [runId, unit]);
      if (raw === undefined) return undefined;
      const where = `${this.conn.path}: ACDC checkpoint of run ${runId} unit ${unit}`;
      const h = HeaderRow.safeParse(raw);
      if (!h.success) throw new Error(`${where}: ${problem(h.error)}`);
      const decisions = await this.readDecisions(runId, unit, h.data.decisions, where);
      return { key: h.data.key, initial: h.data.initial, current: h.data.current, decisions, pruned: unpackBits(h.data.pruned, h.data.cells) };
    });
  }

  /**
   * Stores the unit's progress in one transaction: the decisions from `stored` on are appended and
   * the header rewritten. With stored = 0 whatever the unit had is replaced; otherwise the header
   * must hold exactly `stored` decisions (else another writer advanced it: an error, nothing written).
   */
  async save(runId: number, unit: string, p: AcdcProgress, stored: number): Promise<void> {
    const rows: SqlValue[] = [];
    for (let step = stored; step < p.decisions.length; step++) {
      const d = p.decisions[step]!;
      rows.push(runId, unit, step, d.name, d.sender, d.receiver ?? null, d.before, d.after, d.score, d.pruned ? 1 : 0);
    }
    const pruned = packBits(p.pruned);
    await this.conn.transaction(async () => {
      const have = await this.conn.get<{ decisions: number }>('SELECT decisions FROM acdc_checkpoints WHERE run_id = ? AND unit = ?', [runId, unit]);
      if (stored === 0) {
        await this.conn.run('DELETE FROM acdc_decisions WHERE run_id = ? AND unit = ?', [runId, unit]);
      } else if (have?.decisions !== stored) {
        throw new Error(
          `acdcCheckpoints.save run ${runId} unit ${unit}: this writer stored ${stored} decisions, the checkpoint has ${have?.decisions ?? 'none'} (another process is running the unit)`,
        );
      }
      const n = rows.length / 10;
      for (let start = 0; start < n; start += DECISION_BATCH) {
        const k = Math.min(DECISION_BATCH, n - start);
        await insertRows(
          this.conn,
          'INSERT INTO acdc_decisions (run_id, unit, step, name, sender, receiver, metric_before, metric_after, score, pruned)',
          10,
          k,
          DECISION_BATCH,
          rows.slice(10 * start, 10 * (start + k)),
        );
      }
      await this.conn.run(
        `INSERT INTO acdc_checkpoints (run_id, unit, key, initial, current, decisions, pruned, cells) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (run_id, unit) DO UPDATE SET key = excluded.key, initial = excluded.initial, current = excluded.current,
           decisions = excluded.decisions, pruned = excluded.pruned, cells = excluded.cells, updated_at = ${NOW}`,
        [runId, unit, p.key, p.initial, p.current, p.decisions.length, pruned, p.pruned.length],
      );
    });
  }

  /** The unit's stored decisions in visiting order: its progress while it runs, its whole decision log once saved. */
  async decisions(runId: number, unit: string): Promise<AcdcDecision[]> {
    return this.conn.lock(() => this.readDecisions(runId, unit, undefined, `${this.conn.path}: ACDC decisions of run ${runId} unit ${unit}`));
  }

  /** The unit's checkpoint as the pipeline driver hands it to ACDC. */
  for(runId: number, unit: string): AcdcCheckpointer {
    return { load: () => this.load(runId, unit), save: (p, stored) => this.save(runId, unit, p, stored) };
  }

  private async readDecisions(runId: number, unit: string, expected: number | undefined, where: string): Promise<AcdcDecision[]> {
    const rows = await this.conn.all<unknown>('SELECT step, name, sender, receiver, metric_before, metric_after, score, pruned FROM acdc_decisions WHERE run_id = ? AND unit = ? ORDER BY step', [
      runId,
      unit,
    ]);
    if (expected !== undefined && rows.length !== expected) throw new Error(`${where}: ${rows.length} decisions stored, the header says ${expected}`);
    return rows.map((raw, i) => {
      const r = DecisionRow.safeParse(raw);
      if (!r.success) throw new Error(`${where}: decision ${i}: ${problem(r.error)}`);
      if (r.data.step !== i) throw new Error(`${where}: decision ${i} is stored as step ${r.data.step}`);
      const d = r.data;
      return { name: d.name, sender: d.sender, ...(d.receiver === null ? {} : { receiver: d.receiver }), before: d.metric_before, after: d.metric_after, score: d.score, pruned: d.pruned === 1 };
    });
  }
}
