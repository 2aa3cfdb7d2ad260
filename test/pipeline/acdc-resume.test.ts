// A pipeline killed with SIGKILL in the middle of an ACDC threshold, then run again: the threshold
// continues after its last stored decision (the re-run says so, and reports only the decisions after
// it), and the circuits and complete decision logs equal those of a run that was never interrupted.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.js';
import { finish, spawnRun } from '../support/cli-process.js';

const dir = mkdtempSync(join(tmpdir(), 'patchwise-acdc-resume-'));
const pipeline = join(dir, 'acdc.yaml');
// Two thresholds of about 300 decisions each, a few seconds each (128 prompts: fewer finish within the
// first second): checkpoints come once a second.
writeFileSync(
  pipeline,
  `name: acdc-kill
model: { init: tiny-llama, seed: 4 }
task: { name: induction, count: 128, seed: 2, options: { length: 10, cut: last, vocabRange: [100, 400] } }
discovery:
  method: [acdc]
  corruption: [str]
  metric: [kl]
  thresholds: [0.00001, 0.00003]
`,
);
const FIRST = 'tau:0.00001';

const runCli = (db: string): ChildProcess => spawnRun(pipeline, db, ['--progress-every', '0']);

async function query<T>(db: string, sql: string, params: (string | number)[] = []): Promise<T[]> {
  const s = await Store.open(db, { create: false });
  try {
    return await s.query<T>(sql, params);
  } finally {
    await s.close();
  }
}

/** Every stored circuit (edge scores and membership bit for bit) and every unit's decision log. */
async function results(db: string): Promise<{ circuits: unknown[]; decisions: unknown[] }> {
  const s = await Store.open(db, { create: false });
  try {
    const circuits = [];
    for (const c of await s.circuits.list()) {
      const loaded = await s.circuits.load(c.id);
      circuits.push({ key: c.key, size: c.size, scores: Buffer.from(loaded.scores.buffer).toString('hex'), mask: Array.from(loaded.mask) });
    }
    const decisions = await s.query('SELECT unit, step, name, sender, receiver, metric_before, metric_after, score, pruned FROM acdc_decisions ORDER BY run_id, unit, step');
    return { circuits, decisions };
  } finally {
    await s.close();
  }
}

describe('ACDC resume after kill -9 inside a threshold', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('continues after the last stored decision and ends as the uninterrupted run', async () => {
    const whole = join(dir, 'whole.db');
    const first = await finish(runCli(whole));
    expect(first.code, first.out).toBe(0);
    const [{ total }] = (await query<{ total: number }>(whole, 'SELECT count(*) AS total FROM acdc_decisions WHERE unit = ?', [FIRST])) as [{ total: number }];
    expect(total).toBeGreaterThan(100);

    // Kill as soon as the first threshold has a checkpoint (it is saved once a second, the threshold takes several).
    const killed = join(dir, 'killed.db');
    const child = runCli(killed);
    const done = finish(child);
    const deadline = Date.now() + 120_000;
    for (;;) {
      expect(Date.now(), 'no checkpoint appeared').toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 50));
      let rows: { decisions: number }[];
      try {
        rows = await query<{ decisions: number }>(killed, 'SELECT decisions FROM acdc_checkpoints WHERE unit = ?', [FIRST]);
      } catch {
        continue; // the database or its tables are not there yet
      }
      if (rows.length > 0 && rows[0]!.decisions > 0) break;
    }
    child.kill('SIGKILL');
    const killedRun = await done;
    expect(killedRun.code).toBeNull();

    // What survived: part of the first threshold's decisions, no unit done.
    const [ck] = await query<{ decisions: number }>(killed, 'SELECT decisions FROM acdc_checkpoints WHERE unit = ?', [FIRST]);
    const stored = ck!.decisions;
    expect(stored).toBeGreaterThan(0);
    expect(stored).toBeLessThan(total);
    expect(await query(killed, 'SELECT count(*) AS n FROM acdc_decisions WHERE unit = ?', [FIRST])).toEqual([{ n: stored }]);
    expect(await query(killed, 'SELECT count(*) AS n FROM units')).toEqual([{ n: 0 }]);

    const second = await finish(runCli(killed));
    expect(second.code, second.out).toBe(0);
    const label = 'acdc key-token noising kl';
    expect(second.out).toMatch(new RegExp(`^${label}: ${FIRST}: resumed after ${stored} of ${total} decisions \\(\\d+ edges kept\\)$`, 'm'));
    // The re-run decided only the rest: one progress line per decision, steps stored+1 .. total.
    const steps = [...second.out.matchAll(new RegExp(`^${label}: 0/2 units, ${FIRST}: step (\\d+)/${total} `, 'gm'))].map((m) => Number(m[1]));
    expect(steps).toEqual(Array.from({ length: total - stored }, (_, k) => stored + k + 1));

    expect(await results(killed)).toEqual(await results(whole));
    for (const db of [whole, killed]) {
      expect(await query(db, 'SELECT count(*) AS n FROM acdc_checkpoints')).toEqual([{ n: 0 }]);
      expect(await query(db, `SELECT count(*) AS n FROM runs WHERE status != 'done'`)).toEqual([{ n: 0 }]);
    }
  }, 300_000);
});
