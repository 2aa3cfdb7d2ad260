// Checks an existing file before patchwise writes to it: it must be a SQLite database, not corrupt,
// and either patchwise's or empty. Every check only reads, so a file that fails one is left exactly
// as it was, and the user gets one line naming the file and what is wrong with it.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { UserError } from '../core/errors.js';
import type { Connection } from './connection.js';
import { PATCHWISE_APPLICATION_ID, SCHEMA_VERSION, userVersion } from './migrations.js';

/** The 16 bytes every SQLite 3 database file starts with. */
const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');
/** Size of the database header: a shorter non-empty file cannot be a database. */
const HEADER_BYTES = 100;
/** Problems quoted from quick_check; a damaged file can have thousands. */
const PROBLEMS_SHOWN = 3;

/**
 * The checks that need only the file system, before SQLite opens the file. An empty file is a
 * database SQLite has not written yet: fine for a writer, but a reader (`create: false`) has
 * nothing to read in it.
 */
export function checkDatabaseFile(path: string, options: { readonly create: boolean }): void {
  const stat = statSync(path);
  if (!stat.isFile()) throw new UserError(`${path}: not a file, so not a patchwise database`);
  if (stat.size === 0) {
    if (!options.create) throw new UserError(`${path}: the file is empty, not a patchwise database`);
    return;
  }
  const head = Buffer.alloc(HEADER_BYTES);
  const fd = openSync(path, 'r');
  let read: number;
  try {
    read = readSync(fd, head, 0, HEADER_BYTES, 0);
  } finally {
    closeSync(fd);
  }
  if (read < HEADER_BYTES || !head.subarray(0, SQLITE_HEADER.length).equals(SQLITE_HEADER)) {
    throw new UserError(`${path}: not a SQLite database (it does not start with the SQLite header)`);
  }
}

/**
 * The checks through SQLite, read-only, on a connection nothing has written with yet: the file is
 * not corrupt (PRAGMA quick_check: every page, b-tree and record well formed), and it is either a
 * patchwise database (its schema log and application id) of a schema version this build knows, or
 * has no tables at all.
 */
export async function checkDatabaseContent(conn: Connection): Promise<void> {
  const path = conn.path;
  // Rows may hold several lines, headed '*** in database main ***'; one problem a line, header dropped.
  const problems = (await conn.all<{ quick_check: string }>('PRAGMA quick_check'))
    .flatMap((r) => r.quick_check.split('\n'))
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^\*\*\* in database \w+ \*\*\*$/.test(line));
  if (problems.length !== 1 || problems[0] !== 'ok') {
    const shown = problems.slice(0, PROBLEMS_SHOWN).join('; ');
    const more = problems.length > PROBLEMS_SHOWN ? ` and ${problems.length - PROBLEMS_SHOWN} more problems` : '';
    throw new UserError(`${path}: the database is corrupt (quick_check: ${shown}${more})`);
  }
  const appId = (await conn.get<{ application_id: number }>('PRAGMA application_id'))?.application_id ?? 0;
  if (appId !== 0 && appId !== PATCHWISE_APPLICATION_ID) {
    throw new UserError(`${path}: not a patchwise database (it belongs to another application, id 0x${appId.toString(16)})`);
  }
  const version = await userVersion(conn);
  if (version === 0) {
    const table = await conn.get<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid LIMIT 1`);
    if (table !== undefined) throw new UserError(`${path}: not a patchwise database (it has a table ${table.name} but no patchwise schema version)`);
    return;
  }
  const log = await conn.get<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`);
  if (log === undefined) throw new UserError(`${path}: not a patchwise database (schema version ${version} but no patchwise migrations table)`);
  if (version > SCHEMA_VERSION) {
    throw new UserError(`${path}: schema version ${version}, newer than this patchwise build knows (${SCHEMA_VERSION}); upgrade patchwise`);
  }
}
