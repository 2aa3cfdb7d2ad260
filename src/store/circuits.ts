// The circuits aggregate: a discovered or imported circuit with every scored or in-circuit edge,
// saved and loaded bit for bit, and named by (pipeline, key) so saving again replaces it in place.
import { Circuit, forEachEdge } from '../circuits/circuit.js';
import { UserError } from '../core/errors.js';
import { ComponentGraph } from '../graph/component-graph.js';
import type { Connection, SqlValue } from './connection.js';
import { canonicalJson, isJsonObject, parseJson } from './json.js';
import type { CircuitFilter, CircuitSummary, SaveCircuitRequest } from './types.js';

/** circuit_edges rows per INSERT: 4 variables a row plus the circuit id, 20,001 in all. */
const CIRCUIT_EDGE_BATCH = 5000;

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

export class CircuitStore {
  constructor(private readonly conn: Connection) {}

  /**
   * Saves a circuit and every scored or in-circuit edge, in one transaction. A circuit already
   * saved under (pipeline, key) is replaced atomically and keeps its id. Returns the id.
   */
  async save(req: SaveCircuitRequest): Promise<number> {
    const { pipeline, key, circuit: c } = req;
    if (typeof pipeline !== 'string' || pipeline === '') throw new Error('circuits.save: pipeline must be a non-empty string');
    if (typeof key !== 'string' || key === '') throw new Error('circuits.save: key must be a non-empty string');
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
        if (run === undefined) throw new Error(`circuits.save: no run ${runId} in ${this.conn.path}`);
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
        [runId, pipeline, key, m.method, m.metric, m.corruption, m.direction, m.threshold, size, nScored, m.faithfulness, g.nLayers, g.nHeads, m.model.fingerprint, m.model.name, settings, meta],
      );
      if (row === undefined) throw new Error(`circuits.save ${pipeline}/${key}: INSERT ... RETURNING gave no row`);
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
  async load(idOrKey: number | string): Promise<Circuit> {
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
          throw new Error(`circuit ${r.id} in ${this.conn.path} has edge ${e.sender}->${e.receiver}, not an edge of ${r.n_layers} layers x ${r.n_heads} heads`);
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

  /** A circuit's stored row (settings included) by id or key, as load resolves them. */
  async get(idOrKey: number | string): Promise<CircuitSummary> {
    return this.conn.lock(async () => circuitSummary(await this.circuitRow(idOrKey)));
  }

  async list(filter: CircuitFilter = {}): Promise<CircuitSummary[]> {
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
      if (r === undefined) throw new UserError(`no circuit ${idOrKey} in ${this.conn.path}`);
      return r;
    }
    const exact = await this.conn.all<CircuitRow>('SELECT * FROM circuits WHERE key = ? ORDER BY id', [idOrKey]);
    const matches = exact.length > 0 ? exact : await this.conn.all<CircuitRow>('SELECT * FROM circuits WHERE substr(key, 1, ?) = ? ORDER BY id', [idOrKey.length, idOrKey]);
    const [first, ...rest] = matches;
    if (first === undefined) throw new UserError(`no circuit with key "${idOrKey}" in ${this.conn.path}`);
    if (rest.length > 0) {
      const which = matches.map((m) => `${m.id} (${m.pipeline}/${m.key})`).join(', ');
      throw new UserError(`circuit key "${idOrKey}" matches circuits ${which} in ${this.conn.path}; give the circuit id`);
    }
    return first;
  }
}
