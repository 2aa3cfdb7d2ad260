// The results database: one SQLite file behind one connection, with one part per aggregate:
// `models`, `datasets`, `runs` (units, effects, detections), `circuits`, `curves`, `agreements`
// (estimated against exact effects) and `acdcCheckpoints` (ACDC's progress inside a threshold).
// Every write is one transaction on the shared connection, whichever part makes it.
import { AcdcCheckpointStore } from './acdc-checkpoints.js';
import { AgreementStore } from './agreements.js';
import { CircuitStore } from './circuits.js';
import { Connection, type SqlValue } from './connection.js';
import { CurveStore } from './curves.js';
import { DatasetStore } from './datasets.js';
import type { Json } from './json.js';
import { ModelStore } from './models.js';
import { RunStore } from './runs.js';

export interface OpenOptions {
  /** Create the file (and its directory) when missing. Default true; readers pass false. */
  readonly create?: boolean;
}

export class Store {
  readonly models: ModelStore;
  readonly datasets: DatasetStore;
  readonly runs: RunStore;
  readonly circuits: CircuitStore;
  readonly curves: CurveStore;
  readonly acdcCheckpoints: AcdcCheckpointStore;
  readonly agreements: AgreementStore;

  private constructor(private readonly conn: Connection) {
    this.models = new ModelStore(conn);
    this.datasets = new DatasetStore(conn);
    this.runs = new RunStore(conn);
    this.circuits = new CircuitStore(conn);
    this.curves = new CurveStore(conn);
    this.acdcCheckpoints = new AcdcCheckpointStore(conn);
    this.agreements = new AgreementStore(conn);
  }

  /**
   * Opens the database (creating it unless `create: false`), after checking that an existing file
   * is a sound patchwise (or empty) SQLite database; sets WAL, busy timeout and foreign keys, and
   * migrates. A file that fails a check is a UserError naming it, and is left unmodified.
   */
  static async open(path: string, options: OpenOptions = {}): Promise<Store> {
    return new Store(await Connection.open(path, { create: options.create ?? true }));
  }

  /** The database file, as given to open (used in messages). */
  get path(): string {
    return this.conn.path;
  }

  close(): Promise<void> {
    return this.conn.close();
  }

  /** The connection, for store modules kept in files of their own (leases.ts). */
  get connection(): Connection {
    return this.conn;
  }

  /** Runs `sql` under the store's lock and returns its rows: for diagnostics and tests (integrity checks, counts), not for features. */
  async query<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.conn.lock(() => this.conn.all<T>(sql, params));
  }
}

/** The store's JSON type, re-exported for readers of settings. */
export type { Json };
