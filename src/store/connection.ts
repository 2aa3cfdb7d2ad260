// The one connection to a results database. It wraps the callback API of the `sqlite3` package
// once, as promises, with the two things that package leaves to its caller: one operation at a
// time (a lock), and write transactions that either commit whole or roll back. Opening checks an
// existing file before anything is written to it, then sets WAL, the busy timeout and foreign keys,
// and migrates.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import sqlite3 from 'sqlite3';
import { UserError } from '../core/errors.js';
import { checkDatabaseFile, checkDatabaseContent } from './file-check.js';
import { migrate } from './migrations.js';

export type SqlValue = string | number | null;
export type SqlParams = readonly SqlValue[];

/** How long a writer waits for another process's write transaction before giving up (ms). */
export const BUSY_TIMEOUT_MS = 30_000;

/** sqlite result codes that mean the file itself is bad, not the statement. */
const DAMAGED_FILE_CODES = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB']);

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

export interface ConnectionOptions {
  /** Create the file (and its directory) when missing; readers pass false. */
  readonly create: boolean;
}

export class Connection {
  /** Tail of the queue of locked operations; each starts when the previous one settles. */
  private tail: Promise<unknown> = Promise.resolve();
  private readonly statements = new Map<string, sqlite3.Statement>();

  private constructor(
    private readonly db: sqlite3.Database,
    /** The database file, as given to open (used in messages). */
    readonly path: string,
  ) {}

  /**
   * Opens the database at `path`, ready to use: an existing file is checked first (a SQLite file,
   * not corrupt, patchwise's or empty) and refused with a UserError, unmodified, when it is not;
   * then WAL, the busy timeout and foreign keys are set and the schema is migrated. With `create`, a
   * missing file is created along with its directory; without, it is a UserError.
   */
  static async open(path: string, options: ConnectionOptions): Promise<Connection> {
    const memory = path === ':memory:' || path === '';
    if (!memory) {
      if (!existsSync(path)) {
        if (!options.create) throw new UserError(`no database at ${path}`);
        mkdirSync(dirname(path), { recursive: true });
      } else {
        checkDatabaseFile(path, options);
      }
    }
    const conn = await Connection.connect(path, options);
    try {
      // The busy timeout first: the checks and switching to WAL need locks another process may hold.
      await conn.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      // Nothing above wrote to the file; the checks read it only. WAL mode is the first write. They
      // read one snapshot: another process migrating a new file at the same time must not be seen
      // half way (version 0 by one statement, its tables by the next).
      await conn.readSnapshot(() => checkDatabaseContent(conn));
      const mode = await conn.switchToWal();
      if (!memory && mode?.journal_mode !== 'wal') {
        throw new UserError(`cannot put ${path} in WAL mode (journal mode stays '${mode?.journal_mode}'); keep the database on a local file system`);
      }
      // In WAL mode NORMAL loses no committed transaction when the process dies (only on power
      // loss, and then the database is still consistent and resume redoes the lost units).
      await conn.exec('PRAGMA synchronous = NORMAL');
      await conn.exec('PRAGMA foreign_keys = ON');
      await migrate(conn);
      return conn;
    } catch (e) {
      await conn.close().catch(() => undefined);
      throw e;
    }
  }

  /**
   * `PRAGMA journal_mode = WAL`, retried while another process holds the lock it needs: SQLite
   * answers SQLITE_BUSY at once, without its busy handler, when two connections that both read the
   * file try to change the journal mode together (two `patchwise run` on a new database).
   */
  private async switchToWal(): Promise<{ journal_mode: string } | undefined> {
    const deadline = Date.now() + BUSY_TIMEOUT_MS;
    for (;;) {
      try {
        return await this.get<{ journal_mode: string }>('PRAGMA journal_mode = WAL');
      } catch (e) {
        if (!(e instanceof SqliteError && e.code === 'SQLITE_BUSY') || Date.now() > deadline) throw e;
        await new Promise((done) => setTimeout(done, 10 + Math.floor(Math.random() * 40)));
      }
    }
  }

  private static async connect(path: string, options: ConnectionOptions): Promise<Connection> {
    const mode = sqlite3.OPEN_READWRITE | (options.create ? sqlite3.OPEN_CREATE : 0);
    const db = await new Promise<sqlite3.Database>((resolve, reject) => {
      const d: sqlite3.Database = new sqlite3.Database(path, mode, (err) => {
        if (err) reject(new UserError(`${path}: cannot open the database: ${err.message}`));
        else resolve(d);
      });
    });
    // Calls are awaited one by one anyway; serialize() also keeps any queued calls in order.
    db.serialize();
    return new Connection(db, path);
  }

  /**
   * The error a failed statement rejects with: a UserError naming the file when the file is
   * damaged (whatever statement found it), else a SqliteError with the statement in its message.
   */
  private wrap(err: Error, sql: string): Error {
    const raw = (err as Error & { code?: unknown }).code;
    const code = typeof raw === 'string' ? raw : undefined;
    if (code !== undefined && DAMAGED_FILE_CODES.has(code)) {
      return new UserError(`${this.path}: the file is damaged or not a SQLite database (${err.message.replace(/^SQLITE_\w+: /, '')})`, { cause: err });
    }
    const text = sql.replace(/\s+/g, ' ').trim();
    return new SqliteError(`${err.message} (in: ${text.length > 120 ? `${text.slice(0, 117)}...` : text})`, code, { cause: err });
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

  /**
   * Reads in one read transaction, under the lock: every statement of `fn` sees the same state of
   * the file, though another process commits meanwhile. A deferred BEGIN writes nothing.
   */
  readSnapshot<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock(async () => {
      await this.exec('BEGIN');
      try {
        return await fn();
      } finally {
        await this.exec('COMMIT').catch(() => undefined);
      }
    });
  }

  exec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.db.exec(sql, (err) => (err ? reject(this.wrap(err, sql)) : resolve()));
    });
  }

  run(sql: string, params: SqlParams = []): Promise<{ changes: number; lastID: number }> {
    const wrap = (err: Error): Error => this.wrap(err, sql);
    return new Promise((resolve, reject) => {
      this.db.run(sql, params, function (err) {
        if (err) reject(wrap(err));
        else resolve({ changes: this.changes, lastID: this.lastID });
      });
    });
  }

  get<T>(sql: string, params: SqlParams = []): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      this.db.get<T>(sql, params, (err, row) => (err ? reject(this.wrap(err, sql)) : resolve(row)));
    });
  }

  all<T>(sql: string, params: SqlParams = []): Promise<T[]> {
    return new Promise((resolve, reject) => {
      this.db.all<T>(sql, params, (err, rows) => (err ? reject(this.wrap(err, sql)) : resolve(rows)));
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
        const s: sqlite3.Statement = this.db.prepare(sql, (err: Error | null) => (err ? reject(this.wrap(err, sql)) : resolve(s)));
      });
      this.statements.set(sql, stmt);
    }
    const s = stmt;
    await new Promise<void>((resolve, reject) => {
      s.run(params, (err: Error | null) => (err ? reject(this.wrap(err, sql)) : resolve()));
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

/** `(?,?,?),(?,?,?)`: placeholders of a multi-row INSERT of `rows` rows of `cols` columns. */
export function placeholders(rows: number, cols: number): string {
  const one = `(${new Array<string>(cols).fill('?').join(',')})`;
  return new Array<string>(rows).fill(one).join(',');
}

/**
 * One multi-row INSERT of `rows` rows. Full batches reuse a prepared statement; the shorter last
 * batch of a list prepares its own, so the statement cache holds one entry per table.
 */
export async function insertRows(conn: Connection, insert: string, cols: number, rows: number, fullBatch: number, params: SqlValue[]): Promise<void> {
  const sql = `${insert} VALUES ${placeholders(rows, cols)}`;
  if (rows === fullBatch) await conn.runPrepared(sql, params);
  else await conn.run(sql, params);
}
