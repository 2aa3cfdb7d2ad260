// The runs aggregate: a run (one point of a pipeline's grid), its units of work, their node-level
// effects and the run's detections. A unit's effects commit together with its completion marker,
// so a process killed at any point leaves either the whole unit or nothing, and re-running a
// pipeline redoes only the units that never committed.
import { UserError } from '../core/errors.js';
import { type Connection, insertRows, type SqlValue } from './connection.js';
import { EffectTable } from './effects.js';
import { canonicalJson, parseJson } from './json.js';
import { detailProblem, StageDetailSchema, type StageDetail, withStage } from './stage-detail.js';
import type { Detection } from '../core/vocabulary.js';
import type { EffectRow, MeanEffect, OpenedRun, RunDetail, RunFinish, RunRequest, RunStatus, RunSummary } from './types.js';

const DETECTION_BATCH = 500;
const NOW = `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`;

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

const isInt = (v: unknown): v is number => Number.isInteger(v);
const isIntOrNull = (v: unknown): boolean => v === null || Number.isInteger(v);

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

export class RunStore {
  private readonly effects: EffectTable;
  /** Code version this process opened each run with: units record who wrote them (a resumed run may mix versions). */
  private readonly codeVersions = new Map<number, string>();

  constructor(private readonly conn: Connection) {
    this.effects = new EffectTable(conn);
  }

  /**
   * Finds or creates the run (pipeline, key). A run that exists and is done is returned as is;
   * otherwise it is marked running (error cleared, attempts + 1) and its completed units are kept.
   * The key must determine the settings, model and dataset: a key that names a run with different
   * ones would mix units of different experiments, so it is an error.
   */
  async open(r: RunRequest): Promise<OpenedRun> {
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
      await this.conn.run(`UPDATE runs SET status = 'running', error = NULL, attempts = attempts + 1, updated_at = ${NOW} WHERE id = ?`, [old.id]);
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
   * Saves one unit's effects and its completion marker in one transaction (deleting the unit's
   * ACDC checkpoint, now obsolete). Returns false, writing
   * nothing, when the unit was already saved (e.g. by a concurrent process running the same run).
   * An invalid row (a non-finite value, a non-integer index), or a (component, prompt) the run
   * already has, throws and rolls back the whole unit.
   */
  async saveUnit(runId: number, unit: string, effects: readonly EffectRow[], seconds: number): Promise<boolean> {
    if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`runs.saveUnit: seconds must be a non-negative finite number, got ${seconds}`);
    const interned = new Map<string, number>();
    const saved = await this.conn.transaction(async () => {
      const run = await this.conn.get<{ code_version: string }>('SELECT code_version FROM runs WHERE id = ?', [runId]);
      if (run === undefined) throw new Error(`runs.saveUnit: no run ${runId} in ${this.conn.path}`);
      const done = await this.conn.get<{ id: number }>('SELECT id FROM units WHERE run_id = ? AND name = ?', [runId, unit]);
      if (done !== undefined) return false;
      const marker = await this.conn.run('INSERT INTO units (run_id, name, n_rows, seconds, code_version) VALUES (?, ?, ?, ?, ?)', [
        runId,
        unit,
        effects.length,
        seconds,
        this.codeVersions.get(runId) ?? run.code_version,
      ]);
      await this.effects.insert(runId, marker.lastID, `runs.saveUnit run ${runId} unit ${unit}`, effects, interned);
      // The unit's in-progress checkpoint (ACDC) is obsolete once the unit is done; its decisions stay as the unit's log.
      await this.conn.run('DELETE FROM acdc_checkpoints WHERE run_id = ? AND unit = ?', [runId, unit]);
      return true;
    });
    this.effects.committed(interned);
    return saved;
  }

  /** Marks the run done, with the finishing invocation's wall-clock seconds and its stage's detail. */
  async finish(runId: number, f: RunFinish): Promise<void> {
    let detail: string | null = null;
    if (f.detail !== undefined) {
      const parsed = StageDetailSchema.safeParse(f.detail);
      if (!parsed.success) throw new Error(`runs.finish: detail of run ${runId}: ${detailProblem(parsed.error)}`);
      detail = canonicalJson(parsed.data, `detail of run ${runId}`);
    }
    return this.conn.transaction(async () => {
      const r = await this.conn.run(`UPDATE runs SET status = 'done', error = NULL, seconds = ?, detail = ?, finished_at = ${NOW}, updated_at = ${NOW} WHERE id = ?`, [f.seconds, detail, runId]);
      if (r.changes === 0) throw new Error(`runs.finish: no run ${runId} in ${this.conn.path}`);
    });
  }

  /** Marks the run failed with its error; its completed units stay for the next attempt. */
  async fail(runId: number, error: string): Promise<void> {
    return this.conn.transaction(async () => {
      const r = await this.conn.run(`UPDATE runs SET status = 'failed', error = ?, updated_at = ${NOW} WHERE id = ?`, [error, runId]);
      if (r.changes === 0) throw new Error(`runs.fail: no run ${runId} in ${this.conn.path}`);
    });
  }

  /** Replaces the run's detections, in one transaction. */
  async saveDetections(runId: number, rows: readonly Detection[]): Promise<void> {
    rows.forEach((d, i) => {
      const why = invalidDetection(d);
      if (why !== undefined) throw new Error(`runs.saveDetections run ${runId}: row ${i} (${String(d.component)}): ${why}`);
    });
    return this.conn.transaction(async () => {
      const run = await this.conn.get<{ id: number }>('SELECT id FROM runs WHERE id = ?', [runId]);
      if (run === undefined) throw new Error(`runs.saveDetections: no run ${runId} in ${this.conn.path}`);
      await this.conn.run('DELETE FROM detections WHERE run_id = ?', [runId]);
      for (let start = 0; start < rows.length; start += DETECTION_BATCH) {
        const batch = rows.slice(start, start + DETECTION_BATCH);
        const params: SqlValue[] = [];
        for (const d of batch) params.push(runId, d.component, d.layer, d.head, d.position, d.window, d.mean, d.std, d.zscore, d.sign);
        await insertRows(this.conn, 'INSERT INTO detections (run_id, component, layer, head, position, window_size, mean, std, zscore, sign)', 10, batch.length, DETECTION_BATCH, params);
      }
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

  /** Per-component mean and sample standard deviation of the run's effects over prompts, aggregated in SQL. */
  async meanEffects(runId: number): Promise<MeanEffect[]> {
    return this.conn.lock(() => this.effects.means(runId));
  }

  async list(filter: { pipeline?: string } = {}): Promise<RunSummary[]> {
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
  async get(idOrKey: number | string): Promise<RunDetail> {
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
      if (r === undefined) throw new UserError(`no run ${id} in ${this.conn.path}`);
      const versions = await this.conn.all<{ code_version: string }>('SELECT code_version FROM units WHERE run_id = ? GROUP BY code_version ORDER BY min(id)', [id]);
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
        detail: r.detail === null ? null : this.parseDetail(id, r.detail),
        updatedAt: r.updated_at,
        unitSeconds: r.unit_seconds,
        effects: r.n_effects,
        unitCodeVersions: versions.map((v) => v.code_version),
      } satisfies RunDetail;
    });
  }

  /** A stored detail through its stage's schema; one that fits none is a UserError naming the run. */
  private parseDetail(runId: number, text: string): StageDetail {
    const parsed = StageDetailSchema.safeParse(withStage(parseJson(text)));
    if (!parsed.success) throw new UserError(`${this.conn.path}: run ${runId}: stored detail does not fit its stage's schema: ${detailProblem(parsed.error)}`);
    return parsed.data;
  }

  private async idForKey(key: string): Promise<number> {
    const exact = await this.conn.all<{ id: number; pipeline: string }>('SELECT id, pipeline FROM runs WHERE key = ? ORDER BY id', [key]);
    const matches = exact.length > 0 ? exact : await this.conn.all<{ id: number; pipeline: string }>('SELECT id, pipeline FROM runs WHERE substr(key, 1, ?) = ? ORDER BY id', [key.length, key]);
    const [first, ...rest] = matches;
    if (first === undefined) throw new UserError(`no run with key "${key}" in ${this.conn.path}`);
    if (rest.length > 0) {
      const which = matches.map((m) => `${m.id} (${m.pipeline})`).join(', ');
      throw new UserError(`run key "${key}" matches runs ${which} in ${this.conn.path}; give the run id`);
    }
    return first.id;
  }
}
