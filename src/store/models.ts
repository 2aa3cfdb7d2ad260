// The models table: one row per model content fingerprint.
import type { Connection } from './connection.js';
import { canonicalJson, parseJson } from './json.js';
import type { ModelRecord, StoredModel } from './types.js';

export class ModelStore {
  constructor(private readonly conn: Connection) {}

  /** The model's id; a model seen before (same fingerprint) keeps its id, with name and path updated to the latest. */
  async upsert(m: ModelRecord): Promise<number> {
    const config = canonicalJson(m.config, 'model config');
    return this.conn.transaction(async () => {
      const row = await this.conn.get<{ id: number }>(
        `INSERT INTO models (fingerprint, name, path, architecture, config) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (fingerprint) DO UPDATE SET name = excluded.name, path = excluded.path
         RETURNING id`,
        [m.fingerprint, m.name, m.path, m.architecture, config],
      );
      if (row === undefined) throw new Error(`models.upsert ${m.fingerprint}: INSERT ... RETURNING gave no row`);
      return row.id;
    });
  }

  /** The model stored under this fingerprint, if any. */
  async find(fingerprint: string): Promise<StoredModel | undefined> {
    const r = await this.conn.lock(() =>
      this.conn.get<{ id: number; fingerprint: string; name: string; path: string; architecture: string; config: string }>(
        'SELECT id, fingerprint, name, path, architecture, config FROM models WHERE fingerprint = ?',
        [fingerprint],
      ),
    );
    return r === undefined ? undefined : { ...r, config: parseJson(r.config) };
  }
}
