// The datasets table: one row per dataset content fingerprint, with its prompt pairs.
import { UserError } from '../core/errors.js';
import type { Connection } from './connection.js';
import { canonicalJson, parseJson } from './json.js';
import type { DatasetRecord, StoredDataset } from './types.js';

export class DatasetStore {
  constructor(private readonly conn: Connection) {}

  /** The dataset's id; a dataset seen before (same fingerprint) keeps its id and stored content. */
  async upsert(d: DatasetRecord): Promise<number> {
    const settings = canonicalJson(d.settings, 'dataset settings');
    const pairs = canonicalJson(d.pairs, 'dataset pairs');
    const nPairs = Array.isArray(d.pairs) ? d.pairs.length : null;
    return this.conn.transaction(async () => {
      const found = await this.conn.get<{ id: number }>('SELECT id FROM datasets WHERE fingerprint = ?', [d.fingerprint]);
      if (found) return found.id;
      const r = await this.conn.run('INSERT INTO datasets (fingerprint, task, settings, pairs, n_pairs) VALUES (?, ?, ?, ?, ?)', [d.fingerprint, d.task, settings, pairs, nPairs]);
      return r.lastID;
    });
  }

  /** The dataset with this id, its prompt pairs included. UserError when there is none. */
  async get(id: number): Promise<StoredDataset> {
    const r = await this.conn.lock(() =>
      this.conn.get<{ id: number; fingerprint: string; task: string; settings: string; pairs: string }>('SELECT id, fingerprint, task, settings, pairs FROM datasets WHERE id = ?', [id]),
    );
    if (r === undefined) throw new UserError(`no dataset ${id} in ${this.conn.path}`);
    return { id: r.id, fingerprint: r.fingerprint, task: r.task, settings: parseJson(r.settings), pairs: parseJson(r.pairs) };
  }
}
