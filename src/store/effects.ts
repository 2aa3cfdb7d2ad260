// Node-level effects of a run's units: rows checked, component coordinates interned (so the large
// effects table holds one integer per component), inserted in multi-row batches, and aggregated per
// component in SQL. Part of the runs aggregate: RunStore calls it inside its transactions.
import { type Connection, insertRows, SqliteError, type SqlValue } from './connection.js';
import type { EffectRow, MeanEffect } from './types.js';

/** Rows per multi-row INSERT of effects: 3 variables a row, so 3000 rows bind 9,002 (limit 32,766). */
const EFFECT_BATCH = 3000;
const COMPONENT_BATCH = 500;

const isInt = (v: unknown): v is number => Number.isInteger(v);
const isIntOrNull = (v: unknown): boolean => v === null || Number.isInteger(v);

/** Why an effect row cannot be stored, or undefined when it can. */
function invalidEffect(e: EffectRow): string | undefined {
  if (typeof e.component !== 'string' || e.component === '') return 'component must be a non-empty string';
  if (typeof e.kind !== 'string' || e.kind === '') return 'kind must be a non-empty string';
  if (!isInt(e.layer) || e.layer < 0) return `layer must be a non-negative integer, got ${e.layer}`;
  if (!isIntOrNull(e.head)) return `head must be an integer or null, got ${e.head}`;
  if (!isIntOrNull(e.position)) return `position must be an integer or null, got ${e.position}`;
  if (!isInt(e.window) || e.window < 1) return `window must be a positive integer, got ${e.window}`;
  if (!isInt(e.prompt) || e.prompt < 0) return `prompt must be a non-negative integer, got ${e.prompt}`;
  if (typeof e.value !== 'number' || !Number.isFinite(e.value)) return `value must be a finite number, got ${e.value}`;
  return undefined;
}

function componentKey(c: EffectRow): string {
  return JSON.stringify([c.component, c.kind, c.layer, c.head, c.position, c.window]);
}

/**
 * `(?1, ?3, ?4, ?2, ?5), (?1, ?6, ?7, ?2, ?8), ...`: run and unit ids are bound once per statement
 * and each row binds only (component, prompt, value); binding values is most of the cost of a save.
 */
function effectPlaceholders(rows: number): string {
  const parts: string[] = [];
  for (let i = 0; i < rows; i++) {
    const b = 3 + 3 * i;
    parts.push(`(?1,?${b},?${b + 1},?2,?${b + 2})`);
  }
  return parts.join(',');
}

export class EffectTable {
  /**
   * Component key -> id for components known to be committed. Components are never deleted, so
   * entries stay valid; ids interned by a transaction join the map only after it commits.
   */
  private readonly componentIds = new Map<string, number>();

  constructor(private readonly conn: Connection) {}

  /**
   * Inserts one unit's effects; call inside the unit's write transaction and pass `interned` to
   * `committed` once it commits. Rows are checked batch by batch as they are written; a bad row late
   * in the unit throws and the transaction rolls back the batches before it.
   */
  async insert(runId: number, unitId: number, where: string, effects: readonly EffectRow[], interned: Map<string, number>): Promise<void> {
    for (let start = 0; start < effects.length; start += EFFECT_BATCH) {
      const batch = effects.slice(start, start + EFFECT_BATCH);
      batch.forEach((e, i) => {
        const why = invalidEffect(e);
        if (why !== undefined) throw new Error(`${where}: effect row ${start + i} (${String(e.component)}): ${why}`);
      });
      const keys = batch.map(componentKey);
      await this.intern(batch, keys, interned);
      const params: SqlValue[] = [runId, unitId];
      batch.forEach((e, i) => {
        const key = keys[i] as string;
        const cid = this.componentIds.get(key) ?? interned.get(key);
        if (cid === undefined) throw new Error(`component ${key} was not interned`);
        params.push(cid, e.prompt, e.value);
      });
      try {
        const sql = `INSERT INTO effects (run_id, component_id, prompt, unit_id, value) VALUES ${effectPlaceholders(batch.length)}`;
        if (batch.length === EFFECT_BATCH) await this.conn.runPrepared(sql, params);
        else await this.conn.run(sql, params);
      } catch (err) {
        if (err instanceof SqliteError && err.code === 'SQLITE_CONSTRAINT' && /UNIQUE|PRIMARY KEY/.test(err.message)) {
          throw new Error(`${where}: a (component, prompt) in rows ${start}..${start + batch.length - 1} is already stored for this run, by this unit or another`, {
            cause: err,
          });
        }
        throw err;
      }
    }
  }

  /** Records the component ids a committed transaction interned. */
  committed(interned: ReadonlyMap<string, number>): void {
    for (const [k, id] of interned) this.componentIds.set(k, id);
  }

  /** Ensures every component of `rows` (with `keys[i]` the key of `rows[i]`) has an id, in the current transaction; new ids go to `interned`. */
  private async intern(rows: readonly EffectRow[], keys: readonly string[], interned: Map<string, number>): Promise<void> {
    const missing = new Map<string, EffectRow>();
    rows.forEach((e, i) => {
      const key = keys[i] as string;
      if (!this.componentIds.has(key) && !interned.has(key) && !missing.has(key)) missing.set(key, e);
    });
    const list = [...missing];
    for (let start = 0; start < list.length; start += COMPONENT_BATCH) {
      const batch = list.slice(start, start + COMPONENT_BATCH);
      const params: SqlValue[] = [];
      for (const [key, e] of batch) params.push(key, e.component, e.kind, e.layer, e.head, e.position, e.window);
      await insertRows(this.conn, 'INSERT OR IGNORE INTO components (key, component, kind, layer, head, position, window_size)', 7, batch.length, COMPONENT_BATCH, params);
      const keys = batch.map(([k]) => k);
      const found = await this.conn.all<{ id: number; key: string }>(`SELECT id, key FROM components WHERE key IN (${keys.map(() => '?').join(',')})`, keys);
      for (const f of found) interned.set(f.key, f.id);
    }
  }

  /** Per-component mean and sample standard deviation of the run's effects over prompts; call under the lock. */
  async means(runId: number): Promise<MeanEffect[]> {
    // Two passes (mean, then squared deviations from it): avg(v*v) - avg(v)^2 loses precision
    // when the spread is small next to the mean. Both passes read the (run, component) key range.
    const rows = await this.conn.all<{
      component: string;
      kind: string;
      layer: number;
      head: number | null;
      position: number | null;
      window: number;
      mean: number;
      n: number;
      ss: number;
    }>(
      `WITH agg AS (
         SELECT component_id, count(*) AS n, avg(value) AS mean FROM effects WHERE run_id = ? GROUP BY component_id
       )
       SELECT c.component, c.kind, c.layer, c.head, c.position, c.window_size AS window, a.mean, a.n,
              (SELECT sum((e.value - a.mean) * (e.value - a.mean)) FROM effects e
               WHERE e.run_id = ? AND e.component_id = a.component_id) AS ss
       FROM agg a JOIN components c ON c.id = a.component_id
       ORDER BY c.layer, c.kind, c.head, c.position, c.window_size, c.component`,
      [runId, runId],
    );
    return rows.map((r) => ({
      component: r.component,
      kind: r.kind,
      layer: r.layer,
      head: r.head,
      position: r.position,
      window: r.window,
      mean: r.mean,
      std: r.n > 1 ? Math.sqrt(Math.max(0, r.ss) / (r.n - 1)) : 0,
      n: r.n,
    }));
  }
}
