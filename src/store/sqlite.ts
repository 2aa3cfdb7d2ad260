// A promise-based connection over the callback API of the `sqlite3` package, with the two things
// that package leaves to its caller: one operation at a time (a lock), and write transactions that
// either commit whole or roll back.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import sqlite3 from 'sqlite3';
import { UserError } from '../core/errors.js';

export type SqlValue = string | number | null;
export type SqlParams = readonly SqlValue[];

/** How long a writer waits for another process's write transaction before giving up (ms). */
export const BUSY_TIMEOUT_MS = 30_000;

/** An sqlite3 error with the SQL that raised it in the message and the sqlite code kept. */
export class SqliteError extends Error {
  override readonly name = 'SqliteError';
  constructor(
    message: string,
    readonly code: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function wrap(err: Error, sql: string): SqliteError {
  const code = (err as Error & { code?: unknown }).code;
  const text = sql.replace(/\s+/g, ' ').trim();
  return new SqliteError(`${err.message} (in: ${text.length > 120 ? `${text.slice(0, 117)}...` : text})`, typeof code === 'string' ? code : undefined, {
    cause: err,
  });
}

export class Connection {
  /** Tail of the queue of locked operations; each starts when the previous one settles. */
  private tail: Promise<unknown> = Promise.resolve();
  private readonly statements = new Map<string, sqlite3.Statement>();

  private constructor(
    private readonly db: sqlite3.Database,
    readonly path: string,
  ) {}

  /**
   * Opens (and with `create`, creates along with its directory) the database at `path`. Missing
   * without `create` is a UserError.
   */
  static async open(path: string, options: { create: boolean }): Promise<Connection> {
    const memory = path === ':memory:' || path === '';
    if (!memory) {
      if (!options.create && !existsSync(path)) throw new UserError(`no database at ${path}`);
      if (options.create) mkdirSync(dirname(path), { recursive: true });
    }
    const mode = sqlite3.OPEN_READWRITE | (options.create ? sqlite3.OPEN_CREATE : 0);
    const db = await new Promise<sqlite3.Database>((resolve, reject) => {
      const d: sqlite3.Database = new sqlite3.Database(path, mode, (err) => {
        if (err) reject(new UserError(`cannot open database ${path}: ${err.message}`));
        else resolve(d);
      });
    });
    // Calls are awaited one by one anyway; serialize() also keeps any queued calls in order.
    db.serialize();
    return new Connection(db, path);
  }

  /** Runs `fn` once every earlier locked operation has settled, so operations never interleave. */
  lock<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /**
   * A write transaction, under the lock. BEGIN IMMEDIATE takes the write lock up front (waiting up
   * to the busy timeout for other processes), so the transaction cannot fail halfway with
   * SQLITE_BUSY when it first writes. Any error rolls the whole transaction back and is rethrown.
   */
  transaction<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock(async () => {
      try {
        await this.exec('BEGIN IMMEDIATE');
      } catch (e) {
        if (e instanceof SqliteError && e.code === 'SQLITE_BUSY') {
          throw new UserError(`${this.path} is locked by another process (waited ${BUSY_TIMEOUT_MS / 1000} s)`);
        }
        throw e;
      }
      try {
        const result = await fn();
        await this.exec('COMMIT');
        return result;
      } catch (e) {
        // SQLite may already have rolled back on its own (e.g. disk full); then ROLLBACK fails, and
        // the original error is the one worth reporting.
        await this.exec('ROLLBACK').catch(() => undefined);
        throw e;
      }
    });
  }

  exec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.db.exec(sql, (err) => (err ? reject(wrap(err, sql)) : resolve()));
    });
  }

  run(sql: string, params: SqlParams = []): Promise<{ changes: number; lastID: number }> {
    return new Promise((resolve, reject) => {
      this.db.run(sql, params, function (err) {
        if (err) reject(wrap(err, sql));
        else resolve({ changes: this.changes, lastID: this.lastID });
      });
    });
  }

  get<T>(sql: string, params: SqlParams = []): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      this.db.get<T>(sql, params, (err, row) => (err ? reject(wrap(err, sql)) : resolve(row)));
    });
  }

  all<T>(sql: string, params: SqlParams = []): Promise<T[]> {
    return new Promise((resolve, reject) => {
      this.db.all<T>(sql, params, (err, rows) => (err ? reject(wrap(err, sql)) : resolve(rows)));
    });
  }

  /**
   * Runs a write statement through a prepared statement kept for the connection's lifetime
   * (batched inserts reuse the same SQL text many times). Only for statements that return no rows:
   * a cached statement that stopped mid-result would hold a read snapshot open.
   */
  async runPrepared(sql: string, params: SqlParams): Promise<void> {
    let stmt = this.statements.get(sql);
    if (stmt === undefined) {
      stmt = await new Promise<sqlite3.Statement>((resolve, reject) => {
        const s: sqlite3.Statement = this.db.prepare(sql, (err: Error | null) => (err ? reject(wrap(err, sql)) : resolve(s)));
      });
      this.statements.set(sql, stmt);
    }
    const s = stmt;
    await new Promise<void>((resolve, reject) => {
      s.run(params, (err: Error | null) => (err ? reject(wrap(err, sql)) : resolve()));
    });
  }

  /** Finalises the cached statements and closes, after every queued operation has settled. */
  close(): Promise<void> {
    return this.lock(async () => {
      for (const s of this.statements.values()) {
        await new Promise<void>((resolve) => s.finalize(() => resolve()));
      }
      this.statements.clear();
      await new Promise<void>((resolve, reject) => {
        this.db.close((err) => (err ? reject(new Error(`closing ${this.path}: ${err.message}`)) : resolve()));
      });
    });
  }
}
