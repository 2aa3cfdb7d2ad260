// The results database: models, datasets, runs, their units of work, node-level effects and
// detections, in one SQLite file. Every write is one transaction, and a unit's effects commit
// together with its completion marker, so a process killed at any point leaves either the whole
// unit or nothing, and re-running a pipeline redoes only the units that never committed.
import { Circuit, forEachEdge } from '../circuits/circuit.js';
import { UserError } from '../core/errors.js';
import { ComponentGraph } from '../graph/component-graph.js';
import { canonicalJson, isJsonObject, parseJson, type Json } from './json.js';
import { migrate } from './migrations.js';
import { BUSY_TIMEOUT_MS, Connection, SqliteError, type SqlValue } from './sqlite.js';
import type { ComponentCoords, CurvePoint, Detection } from '../core/vocabulary.js';
import type {
  CircuitFilter,
  CircuitSummary,
  CurveFilter,
  CurveRecord,
  CurveRequest,
  DatasetRecord,
  EffectRow,
  MeanEffect,
  ModelRecord,
  OpenedRun,
  RunDetail,
  RunRequest,
  RunStatus,
  RunSummary,
  SaveCircuitRequest,
  StoredModel,
} from './types.js';

/** Rows per multi-row INSERT of effects: 3 variables a row, so 3000 rows bind 9,002 (limit 32,766). */
const EFFECT_BATCH = 3000;
const COMPONENT_BATCH = 500;
const DETECTION_BATCH = 500;
/** circuit_edges rows per INSERT: 4 variables a row plus the circuit id, 20,001 in all. */
const CIRCUIT_EDGE_BATCH = 5000;
const CURVE_BATCH = 500;

interface CircuitRow {
  id: number;
  run_id: number | null;
  pipeline: string;
  key: string;
  method: string;
  metric: string | null;
  corruption: string | null;
  direction: string | null;
  threshold: number | null;
  size: number;
  n_scored: number;
  faithfulness: number | null;
  n_layers: number;
  n_heads: number;
  model_fingerprint: string | null;
  model_name: string | null;
  settings: string;
  meta: string;
  created_at: string;
}

function circuitSummary(r: CircuitRow): CircuitSummary {
  return {
    id: r.id,
    runId: r.run_id,
    pipeline: r.pipeline,
    key: r.key,
    method: r.method,
    metric: r.metric,
    corruption: r.corruption,
    direction: r.direction,
    threshold: r.threshold,
    size: r.size,
    nScored: r.n_scored,
    faithfulness: r.faithfulness,
    nLayers: r.n_layers,
    nHeads: r.n_heads,
    modelFingerprint: r.model_fingerprint,
    modelName: r.model_name,
    settings: parseJson(r.settings),
    createdAt: r.created_at,
  };
}

/** `(?1,?2,?3,?4,?5),(?1,?6,...)`: the circuit id is bound once per statement. */
function circuitEdgePlaceholders(rows: number): string {
  const parts: string[] = [];
  for (let i = 0; i < rows; i++) {
    const b = 2 + 4 * i;
    parts.push(`(?1,?${b},?${b + 1},?${b + 2},?${b + 3})`);
  }
  return parts.join(',');
}

function finiteOrNull(v: number | null | undefined, what: string): number | null {
  if (v === null || v === undefined) return null;
  if (!Number.isFinite(v)) throw new Error(`${what} must be a finite number or null, got ${v}`);
  return v;
}

export interface OpenOptions {
  /** Create the file (and its directory) when missing. Default true; readers pass false. */
  readonly create?: boolean;
}

interface RunRow {
  id: number;
  pipeline: string;
  key: string;
  status: RunStatus;
  model: string;
  task: string;
  settings: string;
  code_version: string;
  created_at: string;
  finished_at: string | null;
  seconds: number | null;
  units: number;
  detections: number;
}

const RUN_SUMMARY_SQL = `
  SELECT r.id, r.pipeline, r.key, r.status, m.name AS model, d.task, r.settings, r.code_version,
         r.created_at, r.finished_at, r.seconds,
         (SELECT count(*) FROM units u WHERE u.run_id = r.id) AS units,
         (SELECT count(*) FROM detections x WHERE x.run_id = r.id) AS detections
  FROM runs r JOIN models m ON m.id = r.model_id JOIN datasets d ON d.id = r.dataset_id`;

function summary(r: RunRow): RunSummary {
  return {
    id: r.id,
    pipeline: r.pipeline,
    key: r.key,
    status: r.status,
    model: r.model,
    task: r.task,
    settings: parseJson(r.settings),
    codeVersion: r.code_version,
    createdAt: r.created_at,
    finishedAt: r.finished_at,
    seconds: r.seconds,
    units: r.units,
    detections: r.detections,
  };
}

function componentKey(c: ComponentCoords & { kind: string }): string {
  return JSON.stringify([c.component, c.kind, c.layer, c.head, c.position, c.window]);
}

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

function invalidDetection(d: Detection): string | undefined {
  if (typeof d.component !== 'string' || d.component === '') return 'component must be a non-empty string';
  if (!isInt(d.layer) || d.layer < 0) return `layer must be a non-negative integer, got ${d.layer}`;
  if (!isIntOrNull(d.head)) return `head must be an integer or null, got ${d.head}`;
  if (!isIntOrNull(d.position)) return `position must be an integer or null, got ${d.position}`;
  if (!isInt(d.window) || d.window < 1) return `window must be a positive integer, got ${d.window}`;
  for (const f of ['mean', 'std', 'zscore'] as const) {
    if (typeof d[f] !== 'number' || !Number.isFinite(d[f])) return `${f} must be a finite number, got ${d[f]}`;
  }
  if (d.sign !== 1 && d.sign !== -1) return `sign must be 1 or -1, got ${String(d.sign)}`;
  return undefined;
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

function placeholders(rows: number, cols: number): string {
  const one = `(${new Array<string>(cols).fill('?').join(',')})`;
  return new Array<string>(rows).fill(one).join(',');
}

export class Store {
  /**
   * Component key -> id for components known to be committed. Components are never deleted, so
   * entries stay valid; ids interned by a transaction join the map only after it commits.
   */
  private readonly componentIds = new Map<string, number>();
  /** Code version this process opened each run with: units record who wrote them (a resumed run may mix versions). */
  private readonly codeVersions = new Map<number, string>();

  private constructor(
    private readonly conn: Connection,
    /** The database file, as given to open (used in messages). */
    readonly path: string,
  ) {}

  /** Opens the database (creating it unless `create: false`), sets WAL, busy timeout and foreign keys, and migrates. */
  static async open(path: string, options: OpenOptions = {}): Promise<Store> {
    const conn = await Connection.open(path, { create: options.create ?? true });
    try {
      // The busy timeout first: switching to WAL needs a lock another process may hold.
      await conn.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      const memory = path === ':memory:' || path === '';
      const mode = await conn.get<{ journal_mode: string }>('PRAGMA journal_mode = WAL');
      if (!memory && mode?.journal_mode !== 'wal') {
        throw new UserError(`cannot put ${path} in WAL mode (journal mode stays '${mode?.journal_mode}'); keep the database on a local file system`);
      }
      // In WAL mode NORMAL loses no committed transaction when the process dies (only on power
      // loss, and then the database is still consistent and resume redoes the lost units).
      await conn.exec('PRAGMA synchronous = NORMAL');
      await conn.exec('PRAGMA foreign_keys = ON');
      await migrate(conn);
      return new Store(conn, path);
    } catch (e) {
      await conn.close().catch(() => undefined);
      throw e;
    }
  }

  close(): Promise<void> {
    return this.conn.close();
  }

  /** The connection, for store modules kept in files of their own (leases.ts). */
  get connection(): Connection {
    return this.conn;
  }

  // ---- identity rows ----

  /** The model's id; a model seen before (same fingerprint) keeps its id, with name and path updated to the latest. */
  async upsertModel(m: ModelRecord): Promise<number> {
    const config = canonicalJson(m.config, 'model config');
    return this.conn.transaction(async () => {
      const row = await this.conn.get<{ id: number }>(
        `INSERT INTO models (fingerprint, name, path, architecture, config) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (fingerprint) DO UPDATE SET name = excluded.name, path = excluded.path
         RETURNING id`,
        [m.fingerprint, m.name, m.path, m.architecture, config],
      );
      if (row === undefined) throw new Error(`upsertModel ${m.fingerprint}: INSERT ... RETURNING gave no row`);
      return row.id;
    });
  }

  /** The dataset's id; a dataset seen before (same fingerprint) keeps its id and stored content. */
  async upsertDataset(d: DatasetRecord): Promise<number> {
    const settings = canonicalJson(d.settings, 'dataset settings');
    const pairs = canonicalJson(d.pairs, 'dataset pairs');
    const nPairs = Array.isArray(d.pairs) ? d.pairs.length : null;
    return this.conn.transaction(async () => {
      const found = await this.conn.get<{ id: number }>('SELECT id FROM datasets WHERE fingerprint = ?', [d.fingerprint]);
      if (found) return found.id;
      const r = await this.conn.run('INSERT INTO datasets (fingerprint, task, settings, pairs, n_pairs) VALUES (?, ?, ?, ?, ?)', [
        d.fingerprint,
        d.task,
        settings,
        pairs,
        nPairs,
      ]);
      return r.lastID;
    });
  }

  // ---- runs and units ----

  /**
   * Finds or creates the run (pipeline, key). A run that exists and is done is returned as is;
   * otherwise it is marked running (error cleared, attempts + 1) and its completed units are kept.
   * The key must determine the settings, model and dataset: a key that names a run with different
   * ones would mix units of different experiments, so it is an error.
   */
  async openRun(r: RunRequest): Promise<OpenedRun> {
    const settings = canonicalJson(r.settings, `settings of run ${r.key}`);
    return this.conn.transaction(async () => {
      const old = await this.conn.get<{ id: number; status: RunStatus; settings: string; model_id: number; dataset_id: number }>(
        'SELECT id, status, settings, model_id, dataset_id FROM runs WHERE pipeline = ? AND key = ?',
        [r.pipeline, r.key],
      );
      if (old === undefined) {
        const ins = await this.conn.run(
          `INSERT INTO runs (pipeline, key, model_id, dataset_id, settings, code_version, status, attempts)
           VALUES (?, ?, ?, ?, ?, ?, 'running', 1)`,
          [r.pipeline, r.key, r.modelId, r.datasetId, settings, r.codeVersion],
        );
        this.codeVersions.set(ins.lastID, r.codeVersion);
        return { id: ins.lastID, status: 'running', resumed: false };
      }
      const clash =
        old.settings !== settings
          ? `settings ${old.settings} (now ${settings})`
          : old.model_id !== r.modelId
            ? `model ${old.model_id} (now ${r.modelId})`
            : old.dataset_id !== r.datasetId
              ? `dataset ${old.dataset_id} (now ${r.datasetId})`
              : undefined;
      if (clash !== undefined) {
        throw new Error(`run key "${r.key}" of pipeline ${r.pipeline} already names run ${old.id} with ${clash}; the key must determine the run's settings`);
      }
      if (old.status === 'done') return { id: old.id, status: 'done', resumed: true };
      await this.conn.run(
        `UPDATE runs SET status = 'running', error = NULL, attempts = attempts + 1, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?`,
        [old.id],
      );
      this.codeVersions.set(old.id, r.codeVersion);
      return { id: old.id, status: 'running', resumed: true };
    });
  }

  /** Names of the run's committed units. */
  async completedUnits(runId: number): Promise<Set<string>> {
    return this.conn.lock(async () => {
      const rows = await this.conn.all<{ name: string }>('SELECT name FROM units WHERE run_id = ?', [runId]);
      return new Set(rows.map((r) => r.name));
    });
  }

  /**
   * Saves one unit's effects and its completion marker in one transaction. Returns false, writing
   * nothing, when the unit was already saved (e.g. by a concurrent process running the same run).
   * An invalid row (a non-finite value, a non-integer index), or a (component, prompt) the run
   * already has, throws and rolls back the whole unit.
   */
  async saveUnit(runId: number, unit: string, effects: readonly EffectRow[], seconds: number): Promise<boolean> {
    if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`saveUnit: seconds must be a non-negative finite number, got ${seconds}`);
    const interned = new Map<string, number>();
    return this.conn
      .transaction(async () => {
        const run = await this.conn.get<{ code_version: string }>('SELECT code_version FROM runs WHERE id = ?', [runId]);
        if (run === undefined) throw new Error(`saveUnit: no run ${runId} in ${this.path}`);
        const done = await this.conn.get<{ id: number }>('SELECT id FROM units WHERE run_id = ? AND name = ?', [runId, unit]);
        if (done !== undefined) return false;
        const marker = await this.conn.run('INSERT INTO units (run_id, name, n_rows, seconds, code_version) VALUES (?, ?, ?, ?, ?)', [
          runId,
          unit,
          effects.length,
          seconds,
          this.codeVersions.get(runId) ?? run.code_version,
        ]);
        const unitId = marker.lastID;
        // Rows are checked batch by batch as they are written; a bad row late in the unit rolls back the batches before it.
        for (let start = 0; start < effects.length; start += EFFECT_BATCH) {
          const batch = effects.slice(start, start + EFFECT_BATCH);
          batch.forEach((e, i) => {
            const why = invalidEffect(e);
            if (why !== undefined) throw new Error(`saveUnit run ${runId} unit ${unit}: effect row ${start + i} (${String(e.component)}): ${why}`);
          });
          const keys = batch.map(componentKey);
          await this.internComponents(batch, keys, interned);
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
              throw new Error(
                `saveUnit run ${runId} unit ${unit}: a (component, prompt) in rows ${start}..${start + batch.length - 1} is already stored for this run, by this unit or another`,
                { cause: err },
              );
            }
            throw err;
          }
        }
        return true;
      })
      .then((saved) => {
        for (const [k, id] of interned) this.componentIds.set(k, id);
        return saved;
      });
  }

  /** Ensures every component of `rows` (with `keys[i]` the key of `rows[i]`) has an id, in the current transaction; new ids go to `interned`. */
  private async internComponents(rows: readonly EffectRow[], keys: readonly string[], interned: Map<string, number>): Promise<void> {
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
      await this.insertRows(
        'INSERT OR IGNORE INTO components (key, component, kind, layer, head, position, window_size)',
        7,
        batch.length,
        COMPONENT_BATCH,
        params,
      );
      const keys = batch.map(([k]) => k);
      const found = await this.conn.all<{ id: number; key: string }>(
        `SELECT id, key FROM components WHERE key IN (${keys.map(() => '?').join(',')})`,
        keys,
      );
      for (const f of found) interned.set(f.key, f.id);
    }
  }

  /**
   * One multi-row INSERT of `rows` rows. Full batches reuse a prepared statement; the shorter last
   * batch of a list prepares its own, so the statement cache holds one entry per table.
   */
  private async insertRows(insert: string, cols: number, rows: number, fullBatch: number, params: SqlValue[]): Promise<void> {
    const sql = `${insert} VALUES ${placeholders(rows, cols)}`;
    if (rows === fullBatch) await this.conn.runPrepared(sql, params);
    else await this.conn.run(sql, params);
  }

  /** Marks the run done, with the finishing invocation's wall-clock seconds and an optional JSON detail. */
  async finishRun(runId: number, s: { seconds: number; detail?: unknown }): Promise<void> {
    const detail = s.detail === undefined ? null : canonicalJson(s.detail, `detail of run ${runId}`);
    return this.conn.transaction(async () => {
      const r = await this.conn.run(
        `UPDATE runs SET status = 'done', error = NULL, seconds = ?, detail = ?,
           finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE id = ?`,
        [s.seconds, detail, runId],
      );
      if (r.changes === 0) throw new Error(`finishRun: no run ${runId} in ${this.path}`);
    });
  }

  /** Marks the run failed with its error; its completed units stay for the next attempt. */
  async failRun(runId: number, error: string): Promise<void> {
    return this.conn.transaction(async () => {
      const r = await this.conn.run(
        `UPDATE runs SET status = 'failed', error = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?`,
        [error, runId],
      );
      if (r.changes === 0) throw new Error(`failRun: no run ${runId} in ${this.path}`);
    });
  }

  /** Replaces the run's detections, in one transaction. */
  async saveDetections(runId: number, rows: readonly Detection[]): Promise<void> {
    rows.forEach((d, i) => {
      const why = invalidDetection(d);
      if (why !== undefined) throw new Error(`saveDetections run ${runId}: row ${i} (${String(d.component)}): ${why}`);
    });
    return this.conn.transaction(async () => {
      const run = await this.conn.get<{ id: number }>('SELECT id FROM runs WHERE id = ?', [runId]);
      if (run === undefined) throw new Error(`saveDetections: no run ${runId} in ${this.path}`);
      await this.conn.run('DELETE FROM detections WHERE run_id = ?', [runId]);
      for (let start = 0; start < rows.length; start += DETECTION_BATCH) {
        const batch = rows.slice(start, start + DETECTION_BATCH);
        const params: SqlValue[] = [];
        for (const d of batch) params.push(runId, d.component, d.layer, d.head, d.position, d.window, d.mean, d.std, d.zscore, d.sign);
        await this.insertRows(
          'INSERT INTO detections (run_id, component, layer, head, position, window_size, mean, std, zscore, sign)',
          10,
          batch.length,
          DETECTION_BATCH,
          params,
        );
      }
    });
  }

  // ---- reads ----

  async listRuns(filter: { pipeline?: string } = {}): Promise<RunSummary[]> {
    return this.conn.lock(async () => {
      const rows =
        filter.pipeline === undefined
          ? await this.conn.all<RunRow>(`${RUN_SUMMARY_SQL} ORDER BY r.id`)
          : await this.conn.all<RunRow>(`${RUN_SUMMARY_SQL} WHERE r.pipeline = ? ORDER BY r.id`, [filter.pipeline]);
      return rows.map(summary);
    });
  }

  /**
   * A run by id (a number) or by key (a string): the exact key, or else a prefix of exactly one
   * run's key. UserError when there is no such run or the key is ambiguous.
   */
  async getRun(idOrKey: number | string): Promise<RunDetail> {
    return this.conn.lock(async () => {
      const id = typeof idOrKey === 'number' ? idOrKey : await this.idForKey(idOrKey);
      const r = await this.conn.get<
        RunRow & {
          model_id: number;
          model_fingerprint: string;
          model_path: string;
          architecture: string;
          dataset_id: number;
          dataset_fingerprint: string;
          dataset_settings: string;
          n_pairs: number | null;
          attempts: number;
          error: string | null;
          detail: string | null;
          updated_at: string;
          unit_seconds: number;
          n_effects: number;
        }
      >(
        `SELECT r.id, r.pipeline, r.key, r.status, m.name AS model, d.task, r.settings, r.code_version,
                r.created_at, r.finished_at, r.seconds, r.model_id, m.fingerprint AS model_fingerprint,
                m.path AS model_path, m.architecture, r.dataset_id, d.fingerprint AS dataset_fingerprint,
                d.settings AS dataset_settings, d.n_pairs, r.attempts, r.error, r.detail, r.updated_at,
                (SELECT count(*) FROM units u WHERE u.run_id = r.id) AS units,
                (SELECT count(*) FROM detections x WHERE x.run_id = r.id) AS detections,
                (SELECT coalesce(sum(u.seconds), 0) FROM units u WHERE u.run_id = r.id) AS unit_seconds,
                (SELECT coalesce(sum(u.n_rows), 0) FROM units u WHERE u.run_id = r.id) AS n_effects
         FROM runs r JOIN models m ON m.id = r.model_id JOIN datasets d ON d.id = r.dataset_id
         WHERE r.id = ?`,
        [id],
      );
      if (r === undefined) throw new UserError(`no run ${id} in ${this.path}`);
      const versions = await this.conn.all<{ code_version: string }>(
        'SELECT code_version FROM units WHERE run_id = ? GROUP BY code_version ORDER BY min(id)',
        [id],
      );
      return {
        ...summary(r),
        modelId: r.model_id,
        modelFingerprint: r.model_fingerprint,
        modelPath: r.model_path,
        architecture: r.architecture,
        datasetId: r.dataset_id,
        datasetFingerprint: r.dataset_fingerprint,
        datasetSettings: parseJson(r.dataset_settings),
        pairs: r.n_pairs,
        attempts: r.attempts,
        error: r.error,
        detail: r.detail === null ? null : parseJson(r.detail),
        updatedAt: r.updated_at,
        unitSeconds: r.unit_seconds,
        effects: r.n_effects,
        unitCodeVersions: versions.map((v) => v.code_version),
      } satisfies RunDetail;
    });
  }

  private async idForKey(key: string): Promise<number> {
    const exact = await this.conn.all<{ id: number; pipeline: string }>('SELECT id, pipeline FROM runs WHERE key = ? ORDER BY id', [key]);
    const matches =
      exact.length > 0
        ? exact
        : await this.conn.all<{ id: number; pipeline: string }>('SELECT id, pipeline FROM runs WHERE substr(key, 1, ?) = ? ORDER BY id', [
            key.length,
            key,
          ]);
    const [first, ...rest] = matches;
    if (first === undefined) throw new UserError(`no run with key "${key}" in ${this.path}`);
    if (rest.length > 0) {
      const which = matches.map((m) => `${m.id} (${m.pipeline})`).join(', ');
      throw new UserError(`run key "${key}" matches runs ${which} in ${this.path}; give the run id`);
    }
    return first.id;
  }

  /** Per-component mean and sample standard deviation of the run's effects over prompts, aggregated in SQL. */
  async meanEffects(runId: number): Promise<MeanEffect[]> {
    return this.conn.lock(async () => {
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
    });
  }

  /** The run's detections, in the order they were saved. */
  async detections(runId: number): Promise<Detection[]> {
    return this.conn.lock(() =>
      this.conn.all<Detection>(
        `SELECT component, layer, head, position, window_size AS window, mean, std, zscore, sign
         FROM detections WHERE run_id = ? ORDER BY id`,
        [runId],
      ),
    );
  }

  // ---- circuits ----

  /**
   * Saves a circuit and every scored or in-circuit edge, in one transaction. A circuit already
   * saved under (pipeline, key) is replaced atomically and keeps its id. Returns the id.
   */
  async saveCircuit(req: SaveCircuitRequest): Promise<number> {
    const { pipeline, key, circuit: c } = req;
    if (typeof pipeline !== 'string' || pipeline === '') throw new Error('saveCircuit: pipeline must be a non-empty string');
    if (typeof key !== 'string' || key === '') throw new Error('saveCircuit: key must be a non-empty string');
    const runId = req.runId ?? null;
    const settings = canonicalJson(req.settings ?? {}, `settings of circuit ${key}`);
    const meta = canonicalJson({ dModel: c.meta.model.dModel, extra: c.meta.extra }, `meta of circuit ${key}`);
    const g = c.graph;
    const R = g.nReceivers;
    // Rows built before taking the write lock: (sender, receiver, score, in_circuit) flattened.
    const rows: SqlValue[] = [];
    let nScored = 0;
    let size = 0;
    forEachEdge(g, (s, r) => {
      const i = s * R + r;
      const score = c.scores[i]!;
      const inCircuit = c.mask[i]!;
      if (Number.isNaN(score) && inCircuit === 0) return;
      if (!Number.isNaN(score)) nScored++;
      size += inCircuit;
      // NaN binds as NULL in SQLite anyway; say so explicitly.
      rows.push(g.senders[s]!.name, g.receivers[r]!.name, Number.isNaN(score) ? null : score, inCircuit);
    });
    const m = c.meta;
    return this.conn.transaction(async () => {
      if (runId !== null) {
        const run = await this.conn.get<{ id: number }>('SELECT id FROM runs WHERE id = ?', [runId]);
        if (run === undefined) throw new Error(`saveCircuit: no run ${runId} in ${this.path}`);
      }
      const row = await this.conn.get<{ id: number }>(
        `INSERT INTO circuits (run_id, pipeline, key, method, metric, corruption, direction, threshold, size, n_scored,
                               faithfulness, n_layers, n_heads, model_fingerprint, model_name, settings, meta)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (pipeline, key) DO UPDATE SET
           run_id = excluded.run_id, method = excluded.method, metric = excluded.metric, corruption = excluded.corruption,
           direction = excluded.direction, threshold = excluded.threshold, size = excluded.size, n_scored = excluded.n_scored,
           faithfulness = excluded.faithfulness, n_layers = excluded.n_layers, n_heads = excluded.n_heads,
           model_fingerprint = excluded.model_fingerprint, model_name = excluded.model_name, settings = excluded.settings,
           meta = excluded.meta, created_at = excluded.created_at
         RETURNING id`,
        [runId, pipeline, key, m.method, m.metric, m.corruption, m.direction, m.threshold, size, nScored, m.faithfulness,
          g.nLayers, g.nHeads, m.model.fingerprint, m.model.name, settings, meta],
      );
      if (row === undefined) throw new Error(`saveCircuit ${pipeline}/${key}: INSERT ... RETURNING gave no row`);
      await this.conn.run('DELETE FROM circuit_edges WHERE circuit_id = ?', [row.id]);
      const nRows = rows.length / 4;
      for (let start = 0; start < nRows; start += CIRCUIT_EDGE_BATCH) {
        const n = Math.min(CIRCUIT_EDGE_BATCH, nRows - start);
        const params: SqlValue[] = [row.id, ...rows.slice(4 * start, 4 * (start + n))];
        const sql = `INSERT INTO circuit_edges (circuit_id, sender, receiver, score, in_circuit) VALUES ${circuitEdgePlaceholders(n)}`;
        if (n === CIRCUIT_EDGE_BATCH) await this.conn.runPrepared(sql, params);
        else await this.conn.run(sql, params);
      }
      return row.id;
    });
  }

  /**
   * A circuit by id (a number) or key (a string: the exact key, or a prefix of exactly one
   * circuit's key), equal to the one saved: scores and mask bit for bit, and its metadata.
   */
  async loadCircuit(idOrKey: number | string): Promise<Circuit> {
    return this.conn.lock(async () => {
      const r = await this.circuitRow(idOrKey);
      const edges = await this.conn.all<{ sender: string; receiver: string; score: number | null; in_circuit: number }>(
        'SELECT sender, receiver, score, in_circuit FROM circuit_edges WHERE circuit_id = ?',
        [r.id],
      );
      const graph = new ComponentGraph({ nLayers: r.n_layers, nHeads: r.n_heads });
      const R = graph.nReceivers;
      const senderIdx = new Map(graph.senders.map((s) => [s.name, s.index]));
      const receiverIdx = new Map(graph.receivers.map((x) => [x.name, x.index]));
      const scores = new Float32Array(graph.nSenders * R).fill(NaN);
      const mask = new Uint8Array(graph.nSenders * R);
      for (const e of edges) {
        const s = senderIdx.get(e.sender);
        const x = receiverIdx.get(e.receiver);
        if (s === undefined || x === undefined || !graph.hasEdge(s, x)) {
          throw new Error(`circuit ${r.id} in ${this.path} has edge ${e.sender}->${e.receiver}, not an edge of ${r.n_layers} layers x ${r.n_heads} heads`);
        }
        const i = s * R + x;
        scores[i] = e.score === null ? NaN : e.score;
        mask[i] = e.in_circuit;
      }
      const meta = parseJson(r.meta);
      const dModel = isJsonObject(meta) && typeof meta.dModel === 'number' ? meta.dModel : null;
      const extra = isJsonObject(meta) && isJsonObject(meta.extra) ? meta.extra : {};
      return new Circuit(graph, {
        scores,
        mask,
        meta: {
          method: r.method,
          metric: r.metric,
          corruption: r.corruption,
          direction: r.direction === 'denoising' || r.direction === 'noising' ? r.direction : null,
          threshold: r.threshold,
          faithfulness: r.faithfulness,
          model: { fingerprint: r.model_fingerprint, name: r.model_name, dModel },
          extra,
        },
      });
    });
  }

  /** A circuit's stored row (settings included) by id or key, as loadCircuit resolves them. */
  async getCircuit(idOrKey: number | string): Promise<CircuitSummary> {
    return this.conn.lock(async () => circuitSummary(await this.circuitRow(idOrKey)));
  }

  async listCircuits(filter: CircuitFilter = {}): Promise<CircuitSummary[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    const add = (col: string, v: string | number | undefined): void => {
      if (v === undefined) return;
      where.push(`${col} = ?`);
      params.push(v);
    };
    add('pipeline', filter.pipeline);
    add('run_id', filter.runId);
    add('method', filter.method);
    add('model_fingerprint', filter.modelFingerprint);
    return this.conn.lock(async () => {
      const rows = await this.conn.all<CircuitRow>(`SELECT * FROM circuits ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id`, params);
      return rows.map(circuitSummary);
    });
  }

  private async circuitRow(idOrKey: number | string): Promise<CircuitRow> {
    if (typeof idOrKey === 'number') {
      const r = await this.conn.get<CircuitRow>('SELECT * FROM circuits WHERE id = ?', [idOrKey]);
      if (r === undefined) throw new UserError(`no circuit ${idOrKey} in ${this.path}`);
      return r;
    }
    const exact = await this.conn.all<CircuitRow>('SELECT * FROM circuits WHERE key = ? ORDER BY id', [idOrKey]);
    const matches =
      exact.length > 0
        ? exact
        : await this.conn.all<CircuitRow>('SELECT * FROM circuits WHERE substr(key, 1, ?) = ? ORDER BY id', [idOrKey.length, idOrKey]);
    const [first, ...rest] = matches;
    if (first === undefined) throw new UserError(`no circuit with key "${idOrKey}" in ${this.path}`);
    if (rest.length > 0) {
      const which = matches.map((m) => `${m.id} (${m.pipeline}/${m.key})`).join(', ');
      throw new UserError(`circuit key "${idOrKey}" matches circuits ${which} in ${this.path}; give the circuit id`);
    }
    return first;
  }

  /** Saves a curve's points, replacing any earlier points of the same (pipeline, key, kind). */
  async saveCurve(req: CurveRequest): Promise<void> {
    const where = `curve ${req.pipeline}/${req.key}/${req.kind}`;
    for (const [f, v] of [['pipeline', req.pipeline], ['key', req.key], ['kind', req.kind]] as const) {
      if (typeof v !== 'string' || v === '') throw new Error(`saveCurve: ${f} must be a non-empty string`);
    }
    const params: SqlValue[] = [];
    req.points.forEach((p, i) => {
      const size = p.size ?? null;
      if (size !== null && !(Number.isInteger(size) && size >= 0)) throw new Error(`saveCurve ${where}: point ${i}: size must be a non-negative integer or null, got ${size}`);
      params.push(
        req.pipeline,
        req.key,
        req.kind,
        i,
        req.runId ?? null,
        req.circuitId ?? null,
        finiteOrNull(p.threshold, `saveCurve ${where}: point ${i}: threshold`),
        size,
        finiteOrNull(p.faithfulness, `saveCurve ${where}: point ${i}: faithfulness`),
        finiteOrNull(p.tpr, `saveCurve ${where}: point ${i}: tpr`),
        finiteOrNull(p.fpr, `saveCurve ${where}: point ${i}: fpr`),
      );
    });
    const cols = 11;
    return this.conn.transaction(async () => {
      await this.conn.run('DELETE FROM circuit_curves WHERE pipeline = ? AND key = ? AND kind = ?', [req.pipeline, req.key, req.kind]);
      for (let start = 0; start < req.points.length; start += CURVE_BATCH) {
        const n = Math.min(CURVE_BATCH, req.points.length - start);
        await this.insertRows(
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
  async listCurves(filter: CurveFilter = {}): Promise<CurveRecord[]> {
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

  /** The model stored under this fingerprint, if any. */
  async findModel(fingerprint: string): Promise<StoredModel | undefined> {
    const r = await this.conn.lock(() =>
      this.conn.get<{ id: number; fingerprint: string; name: string; path: string; architecture: string; config: string }>(
        'SELECT id, fingerprint, name, path, architecture, config FROM models WHERE fingerprint = ?',
        [fingerprint],
      ),
    );
    return r === undefined ? undefined : { ...r, config: parseJson(r.config) };
  }

  /** Runs `sql` read-only under the store's lock: for diagnostics and tests (integrity checks, counts). */
  async query<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.conn.lock(() => this.conn.all<T>(sql, params));
  }
}

/** The store's JSON type, re-exported for readers of settings. */
export type { Json };
