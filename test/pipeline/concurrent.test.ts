// Two `patchwise run` processes started together on one pipeline and one database share its units
// through leases: every unit is computed by exactly one of them, both finish with the full results,
// and every run is done after one attempt. Their output (not a terminal) carries periodic progress
// lines, ACDC's with decisions, edges kept and time left.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.js';
import { finish, spawnRun } from '../support/cli-process.js';

const dir = mkdtempSync(join(tmpdir(), 'patchwise-concurrent-'));
const pipeline = join(dir, 'shared.yaml');
writeFileSync(
  pipeline,
  `name: shared
model: { init: tiny-llama, seed: 4 }
task: { name: induction, count: 16, seed: 2, options: { length: 6, cut: last, vocabRange: [100, 400] } }
patching:
  corruption: [str]
  metric: [prob, kl]
  granularity: [heads-pos]
  batch: 2
discovery:
  method: [acdc]
  corruption: [str]
  metric: [kl]
  thresholds: [0.001, 0.01, 0.1]
  prompts: 4
`,
);

const runCli = (db: string): ChildProcess => spawnRun(pipeline, db, ['--progress-every', '0']);

/** Per point label: units computed by this process, from its closing progress line. */
function computedHere(out: string): Map<string, { total: number; computed: number }> {
  const m = new Map<string, { total: number; computed: number }>();
  for (const line of out.split('\n')) {
    const x = line.match(/^(.*): (\d+)\/\d+ units done \((\d+) computed here\)/);
    if (x) m.set(x[1]!, { total: Number(x[2]), computed: Number(x[3]) });
  }
  return m;
}

describe('two processes on one pipeline and one database', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('share the units: each computed once, every run done after one attempt', async () => {
    const db = join(dir, 'shared.db');
    const [a, b] = await Promise.all([finish(runCli(db)), finish(runCli(db))]);
    expect(a.code, a.out).toBe(0);
    expect(b.code, b.out).toBe(0);

    const ca = computedHere(a.out);
    const cb = computedHere(b.out);
    const labels = new Set([...ca.keys(), ...cb.keys()]);
    expect(labels.size).toBe(2); // the patching point and the ACDC sweep
    let shared = 0;
    for (const label of labels) {
      const total = (ca.get(label) ?? cb.get(label))!.total;
      // Computed once in all: what one process did the other did not redo.
      expect((ca.get(label)?.computed ?? 0) + (cb.get(label)?.computed ?? 0), `${label}\n${a.out}\n${b.out}`).toBe(total);
      if ((ca.get(label)?.computed ?? 0) > 0 && (cb.get(label)?.computed ?? 0) > 0) shared++;
    }
    // Both worked: the work was split, not done by one while the other waited.
    expect(shared, `${a.out}\n${b.out}`).toBeGreaterThan(0);

    const store = await Store.open(db, { create: false });
    try {
      const runs = await store.query<{ status: string; attempts: number }>('SELECT status, attempts FROM runs');
      expect(runs).toHaveLength(3); // prob, kl, and the ACDC sweep
      for (const r of runs) expect(r).toEqual({ status: 'done', attempts: 1 });
      const [units] = await store.query<{ n: number }>('SELECT count(*) AS n FROM units');
      expect(units?.n).toBe(2 * 8 + 3);
      const [circuits] = await store.query<{ n: number }>('SELECT count(*) AS n FROM circuits');
      expect(circuits?.n).toBe(3);
      // No lease is left behind.
      const [leases] = await store.query<{ n: number }>('SELECT count(*) AS n FROM unit_leases');
      expect(leases?.n).toBe(0);
    } finally {
      await store.close();
    }

    // Not a terminal: ACDC's progress comes as lines with decisions, edges kept and time left.
    const acdcLines = `${a.out}\n${b.out}`.split('\n').filter((l) => /^acdc .*: \d+\/3 units, tau:[\d.]+: step \d+\/\d+ \(\d+%\), \d+ edges kept, .* elapsed, eta /.test(l));
    expect(acdcLines.length, `${a.out}\n${b.out}`).toBeGreaterThan(3);
  }, 300_000);
});
