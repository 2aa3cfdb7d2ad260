// kill -9 at arbitrary points of a writing run leaves a consistent database, and re-running the
// writer resumes: finished units are kept, missing ones are written once.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.js';
import { effectValue, HEADS, LAYERS, POSITIONS, PROMPTS_PER_UNIT, ROWS_PER_UNIT, RUN, unitName } from './fixtures/units.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');
const writer = join(here, 'fixtures', 'writer.ts');
const UNITS = 14;

interface WriterResult {
  lines: string[];
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
}

/**
 * Runs the writer. `killWhen` sees each stdout line (and the lines before it) and returns a delay in
 * ms after which to SIGKILL the writer, or undefined to let it go on. The writer runs as
 * `node --import tsx` (not `npx tsx`, whose wrapper process would take the signal instead of the
 * process that holds the database open).
 */
function runWriter(db: string, killWhen?: (line: string, seen: readonly string[]) => number | undefined): Promise<WriterResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', writer, db, String(UNITS)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let stderr = '';
    let buffer = '';
    let killing = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        lines.push(line);
        if (killing || killWhen === undefined) continue;
        const delay = killWhen(line, lines);
        if (delay !== undefined) {
          killing = true;
          setTimeout(() => child.kill('SIGKILL'), delay);
        }
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ lines, signal, code, stderr }));
  });
}

/** Checks every invariant a crash must not break; returns the names of the completed units. */
async function checkConsistent(db: string): Promise<Set<string>> {
  const store = await Store.open(db);
  try {
    expect(await store.query<{ integrity_check: string }>('PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
    expect(await store.query('PRAGMA foreign_key_check')).toEqual([]);
    const runs = await store.runs.list({ pipeline: RUN.pipeline });
    if (runs.length === 0) return new Set();
    expect(runs).toHaveLength(1);
    const runId = (runs[0] as { id: number }).id;
    // Every completed unit has all its rows, and no rows exist outside a completed unit.
    const perUnit = await store.query<{ name: string; n_rows: number; stored: number; lo: number; hi: number }>(
      `SELECT u.name, u.n_rows, count(e.unit_id) AS stored, min(e.prompt) AS lo, max(e.prompt) AS hi
       FROM units u LEFT JOIN effects e ON e.unit_id = u.id WHERE u.run_id = ? GROUP BY u.id`,
      [runId],
    );
    for (const u of perUnit) {
      const index = Number(u.name.split(':')[1]);
      expect(u, u.name).toMatchObject({ n_rows: ROWS_PER_UNIT, stored: ROWS_PER_UNIT, lo: index * PROMPTS_PER_UNIT, hi: (index + 1) * PROMPTS_PER_UNIT - 1 });
    }
    const [total] = await store.query<{ n: number }>('SELECT count(*) AS n FROM effects WHERE run_id = ?', [runId]);
    expect(total?.n).toBe(perUnit.length * ROWS_PER_UNIT);
    const [orphans] = await store.query<{ n: number }>('SELECT count(*) AS n FROM effects WHERE unit_id NOT IN (SELECT id FROM units)');
    expect(orphans?.n).toBe(0);
    return await store.runs.completedUnits(runId);
  } finally {
    await store.close();
  }
}

describe('kill -9', () => {
  const dir = mkdtempSync(join(tmpdir(), 'patchwise-kill-'));
  const db = join(dir, 'sub', 'results.db');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('leaves a consistent database at any point, and re-running writes only the missing units', async () => {
    // Round 0 kills while the database is being created and migrated; later rounds kill while a
    // unit's transaction is in flight (each save takes tens of ms; the kill follows its 'begin').
    const plans: ((line: string, seen: readonly string[]) => number | undefined)[] = [
      (line) => (line === 'open' ? 5 : undefined),
      (line, seen) => (line.startsWith('begin') && seen.filter((l) => l.startsWith('saved')).length >= 2 ? 15 : undefined),
      (line, seen) => (line.startsWith('begin') && seen.filter((l) => l.startsWith('saved')).length >= 3 ? 1 : undefined),
      (line, seen) => (line.startsWith('begin') && seen.filter((l) => l.startsWith('saved')).length >= 1 ? 30 : undefined),
    ];
    let completed = new Set<string>();
    let interruptedInFlight = 0;
    let opened = 0;
    for (const [round, plan] of plans.entries()) {
      const r = await runWriter(db, plan);
      expect(r.signal, `round ${round}: ${r.stderr}`).toBe('SIGKILL');
      const after = await checkConsistent(db);
      // Nothing committed is lost.
      for (const u of completed) expect(after.has(u), `round ${round} lost ${u}`).toBe(true);
      const begun = r.lines.filter((l) => l.startsWith('begin ')).map((l) => l.slice(6));
      const saved = new Set(r.lines.filter((l) => l.startsWith('saved ')).map((l) => l.slice(6)));
      for (const u of saved) expect(after.has(u)).toBe(true);
      if (r.lines.some((l) => l.startsWith('run '))) opened++;
      const last = begun[begun.length - 1];
      if (last !== undefined && !saved.has(last) && !after.has(last)) interruptedInFlight++;
      if (round > 0) {
        const resumedLine = r.lines.find((l) => l.startsWith('run '));
        expect(resumedLine).toContain(`skipped ${completed.size}`);
        expect(
          begun.every((u) => !completed.has(u)),
          'a completed unit was redone',
        ).toBe(true);
      }
      completed = after;
    }
    // The kills landed between a unit's start and its commit at least once, and rolled it back.
    expect(interruptedInFlight).toBeGreaterThan(0);
    expect(completed.size).toBeLessThan(UNITS);

    const final = await runWriter(db);
    expect(final.code, final.stderr).toBe(0);
    expect(final.lines).toContain(`run 1 resumed true skipped ${completed.size}`);
    expect(final.lines).toContain(`wrote ${UNITS - completed.size}`);
    const begun = final.lines.filter((l) => l.startsWith('begin ')).map((l) => l.slice(6));
    expect(begun.sort()).toEqual(
      Array.from({ length: UNITS }, (_, u) => unitName(u))
        .filter((u) => !completed.has(u))
        .sort(),
    );

    const done = await checkConsistent(db);
    expect(done.size).toBe(UNITS);
    const store = await Store.open(db);
    try {
      const run = await store.runs.get(1);
      expect(run).toMatchObject({ status: 'done', attempts: opened + 1, units: UNITS, effects: UNITS * ROWS_PER_UNIT });
      // Values are exact, and each (component, prompt) appears once: n is the prompt count everywhere.
      const means = await store.runs.meanEffects(1);
      expect(means).toHaveLength(LAYERS * HEADS * POSITIONS);
      expect(means.every((m) => m.n === UNITS * PROMPTS_PER_UNIT)).toBe(true);
      const sample = await store.query<{ layer: number; head: number; position: number; prompt: number; value: number }>(
        `SELECT c.layer, c.head, c.position, e.prompt, e.value FROM effects e JOIN components c ON c.id = e.component_id
         WHERE e.run_id = 1 AND (e.prompt % 7) = 3`,
      );
      expect(sample.length).toBeGreaterThan(0);
      for (const s of sample) expect(s.value).toBe(effectValue(s.layer, s.head, s.position, s.prompt));
    } finally {
      await store.close();
    }
  });
});
