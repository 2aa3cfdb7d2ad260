// A pipeline run killed with SIGKILL mid-way, then run again: it completes, every unit is stored
// once, and the results equal those of a run that was never interrupted.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.js';
import { finish, spawnRun } from '../support/cli-process.js';

const dir = mkdtempSync(join(tmpdir(), 'patchwise-resume-'));
const pipeline = join(dir, 'resume.yaml');
writeFileSync(
  pipeline,
  `name: resume
model: { init: tiny-llama, seed: 4 }
task: { name: induction, count: 16, seed: 2, options: { length: 6, cut: last, vocabRange: [100, 400] } }
patching:
  corruption: [str, gn]
  gn: { samples: 2 }
  metric: [prob, kl]
  granularity: [heads-pos]
  batch: 2
`,
);

const runCli = (db: string): ChildProcess => spawnRun(pipeline, db, ['--no-progress']);

async function count(db: string, sql: string): Promise<number> {
  const s = await Store.open(db, { create: false });
  try {
    const rows = await s.query<{ n: number }>(sql);
    return rows[0]?.n ?? 0;
  } finally {
    await s.close();
  }
}

async function effects(db: string): Promise<string> {
  const s = await Store.open(db, { create: false });
  try {
    const rows = await s.query<Record<string, unknown>>(
      `SELECT r.key, c.key AS component, e.prompt, e.value FROM effects e JOIN runs r ON r.id = e.run_id JOIN components c ON c.id = e.component_id ORDER BY r.key, c.key, e.prompt`,
    );
    return JSON.stringify(rows);
  } finally {
    await s.close();
  }
}

describe('pipeline resume after kill -9', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('completes on re-run with the same results and no duplicates', async () => {
    const whole = join(dir, 'whole.db');
    const first = await finish(runCli(whole));
    expect(first.code, first.out).toBe(0);

    const killed = join(dir, 'killed.db');
    const child = runCli(killed);
    const done = finish(child);
    // Kill once some, but not all, units are stored.
    const deadline = Date.now() + 120_000;
    let stored = 0;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        stored = await count(killed, 'SELECT count(*) AS n FROM units');
      } catch {
        continue; // database not created yet
      }
      if (stored >= 3) break;
    }
    child.kill('SIGKILL');
    await done;
    const total = await count(whole, 'SELECT count(*) AS n FROM units');
    const afterKill = await count(killed, 'SELECT count(*) AS n FROM units');
    expect(afterKill).toBeGreaterThanOrEqual(3);
    expect(afterKill).toBeLessThan(total);

    const second = await finish(runCli(killed));
    expect(second.code, second.out).toBe(0);
    // The re-run says how much it found stored, and the killed holder's leases did not hold it up.
    expect(second.out).toMatch(/: resumed: [1-9]\d* of \d+ units already stored/);
    expect(await count(killed, 'SELECT count(*) AS n FROM unit_leases')).toBe(0);
    expect(await count(killed, 'SELECT count(*) AS n FROM units')).toBe(total);
    expect(await count(killed, `SELECT count(*) AS n FROM runs WHERE status != 'done'`)).toBe(0);
    expect(await count(killed, 'SELECT count(*) AS n FROM (SELECT run_id, component_id, prompt FROM effects GROUP BY 1, 2, 3 HAVING count(*) > 1)')).toBe(0);
    expect(await effects(killed)).toBe(await effects(whole));
  });
});
