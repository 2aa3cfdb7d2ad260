// Opening a file that is not a sound patchwise database: every command prints one `patchwise:` line
// naming the file, exits 2, and leaves the file byte for byte as it was (nothing is migrated or
// written into it, not even WAL mode).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sqlite3 from 'sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { SCHEMA_VERSION } from '../../src/store/migrations.js';
import { Store } from '../../src/store/store.js';
import type { EffectRow } from '../../src/store/types.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(repoRoot, 'bin', 'patchwise.js');
const dir = mkdtempSync(join(tmpdir(), 'patchwise-file-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
/** A fresh file path in its own directory, so leftovers (-wal, -shm) are easy to see. */
const freshPath = (): string => {
  const d = join(dir, `case${++n}`);
  mkdirSync(d);
  return join(d, 'results.db');
};

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Runs SQL on the file with the sqlite3 package directly, as another program would. */
function rawExec(path: string, sql: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const db = new sqlite3.Database(path, (err) => {
      if (err) return reject(err);
      db.exec(sql, (e) => db.close(() => (e ? reject(e) : resolvePromise())));
    });
  });
}

/** A real patchwise database with enough effect rows to span several pages. */
async function patchwiseDb(path: string): Promise<void> {
  const s = await Store.open(path);
  const modelId = await s.models.upsert({ fingerprint: 'm', name: 'tiny', path: '/m', architecture: 'gpt2', config: {} });
  const datasetId = await s.datasets.upsert({ fingerprint: 'd', task: 'ioi', settings: {}, pairs: [] });
  const run = await s.runs.open({ pipeline: 'p', key: 'k', modelId, datasetId, settings: {}, codeVersion: 'v' });
  const rows: EffectRow[] = [];
  for (let layer = 0; layer < 12; layer++) {
    for (let head = 0; head < 12; head++) {
      for (let prompt = 0; prompt < 20; prompt++) rows.push({ component: `a${layer}.h${head}`, kind: 'head', layer, head, position: null, window: 1, prompt, value: Math.sin(layer + head + prompt) });
    }
  }
  await s.runs.saveUnit(run.id, 'batch:0', rows, 1);
  await s.close();
}

/** Overwrites one whole page in the middle of the file with garbage, as a failing disk or a bad copy would. */
function damagePage(path: string): void {
  const buf = readFileSync(path);
  const pageSize = buf.readUInt16BE(16);
  const pages = buf.length / pageSize;
  expect(pages).toBeGreaterThan(10);
  const start = Math.floor(pages / 2) * pageSize;
  for (let i = 0; i < pageSize; i++) buf[start + i] = (i * 37 + 11) & 0xff;
  writeFileSync(path, buf);
}

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[]): Promise<CliResult> {
  return promisify(execFile)(process.execPath, [bin, ...args], { cwd: repoRoot }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

/** The command failed with exactly one `patchwise: <file>: ...` line matching `why`, and the file (and its directory) are as before. */
function expectRefused(r: CliResult, path: string, why: RegExp, hash: string): void {
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]!.startsWith(`patchwise: ${path}: `)).toBe(true);
  expect(lines[0]!.slice(`patchwise: ${path}: `.length)).toMatch(why);
  expect(sha256(path)).toBe(hash);
  expect(readdirSync(dirname(path))).toEqual(['results.db']);
}

describe('a file that is not a sound patchwise database', () => {
  it('a text file: one line through the CLI, file unchanged', async () => {
    const path = freshPath();
    writeFileSync(path, 'model,metric,effect\ngpt2,kl,0.5\n'.repeat(20));
    const hash = sha256(path);
    expectRefused(await cli(['results', '--db', path]), path, /^not a SQLite database \(it does not start with the SQLite header\)$/, hash);
    expectRefused(await cli(['circuit', 'list', '--db', path]), path, /^not a SQLite database/, hash);
  });

  it('a corrupt database (one page overwritten): one line from reading and from `run`, file unchanged', async () => {
    const path = freshPath();
    await patchwiseDb(path);
    damagePage(path);
    const hash = sha256(path);
    const damaged = /^(the database is corrupt \(quick_check: .+\)|the file is damaged or not a SQLite database \(.+\))$/;
    expectRefused(await cli(['results', '--db', path]), path, damaged, hash);
    expectRefused(await cli(['show', '1', '--db', path]), path, damaged, hash);
    expectRefused(await cli(['run', join(repoRoot, 'pipelines', 'quickstart.yaml'), '--db', path, '--no-progress']), path, damaged, hash);
  });

  it('the same database before the damage opens fine (the check does not reject sound files)', async () => {
    const path = freshPath();
    await patchwiseDb(path);
    const r = await cli(['results', '--db', path]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^id\s+pipeline/);
  });

  it("another application's SQLite database is refused, not migrated into", async () => {
    const path = freshPath();
    await rawExec(path, "CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('mine');");
    const hash = sha256(path);
    expectRefused(await cli(['results', '--db', path]), path, /^not a patchwise database \(it has a table notes but no patchwise schema version\)$/, hash);
    // A writer refuses it too.
    await expect(Store.open(path)).rejects.toThrow(new UserError(`${path}: not a patchwise database (it has a table notes but no patchwise schema version)`));
    expect(sha256(path)).toBe(hash);

    const versioned = freshPath();
    await rawExec(versioned, 'CREATE TABLE t (x); PRAGMA user_version = 1;');
    await expect(Store.open(versioned)).rejects.toThrow(/not a patchwise database \(schema version 1 but no patchwise migrations table\)/);

    const tagged = freshPath();
    await rawExec(tagged, 'PRAGMA application_id = 1234;');
    await expect(Store.open(tagged)).rejects.toThrow(/belongs to another application, id 0x4d2/);
  });

  it('an empty SQLite database and an empty file are migrated by a writer; a reader refuses an empty file', async () => {
    const sqliteEmpty = freshPath();
    await rawExec(sqliteEmpty, 'CREATE TABLE t (x); DROP TABLE t;');
    expect(statSync(sqliteEmpty).size).toBeGreaterThan(0);
    const s = await Store.open(sqliteEmpty, { create: false });
    expect(await s.query('PRAGMA user_version')).toEqual([{ user_version: SCHEMA_VERSION }]);
    expect(await s.query('PRAGMA application_id')).toEqual([{ application_id: 0x50574442 }]);
    await s.close();

    const zero = freshPath();
    writeFileSync(zero, '');
    await expect(Store.open(zero, { create: false })).rejects.toThrow(new UserError(`${zero}: the file is empty, not a patchwise database`));
    expect(statSync(zero).size).toBe(0);
    const w = await Store.open(zero);
    expect((await w.runs.list()).length).toBe(0);
    await w.close();
  });

  it('a directory is refused with one line', async () => {
    const path = freshPath();
    mkdirSync(path);
    await expect(Store.open(path)).rejects.toThrow(new UserError(`${path}: not a file, so not a patchwise database`));
  });
});
