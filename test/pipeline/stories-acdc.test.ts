// ACDC on the real stories260K model with the induction task runs to completion, and `patchwise
// show` reports the circuit's size and faithfulness.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeShared, stories260kPath } from '../support/shared.js';

describeShared(
  'ACDC on stories260K',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'patchwise-sacdc-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('completes and is reported by patchwise show', () => {
      const file = join(dir, 'acdc.yaml');
      writeFileSync(
        file,
        `model: { path: ${JSON.stringify(stories260kPath)} }
task: { name: induction, count: 8, seed: 1, options: { length: 6, cut: last } }
discovery: { corruption: [all-random], direction: [noising], metric: [kl], thresholds: [0.05] }
`,
      );
      const db = join(dir, 'acdc.db');
      const cli = (...args: string[]) => execFileSync(process.execPath, [resolve('bin/patchwise.js'), ...args], { encoding: 'utf8' });
      // One thread: the sessions' thread count reaches the runtime from the command line.
      const out = cli('run', file, '--db', db, '--no-progress', '--threads', '1');
      expect(out).toMatch(/discovered circuits/);
      const shown = cli('show', '1', '--db', db);
      const row = shown.split('\n').find((l) => /^\d+\s+acdc\s+kl\s+0\.05\s+/.test(l));
      expect(row, shown).toBeDefined();
      const [, , , , edges, faith] = row!.trim().split(/\s+/);
      expect(Number(edges)).toBeGreaterThan(0);
      expect(Number(edges)).toBeLessThan(2461);
      expect(Number.isFinite(Number(faith))).toBe(true);
    });
  },
  600_000,
);
