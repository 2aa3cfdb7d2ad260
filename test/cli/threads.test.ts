// --threads on the commands that run a model: a bad value is a one-line error before anything runs.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliProcess } from '../support/cli-process.js';

const dir = mkdtempSync(join(tmpdir(), 'pw-threads-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--threads', () => {
  for (const [command, args] of [
    ['run', ['run', 'pipelines/quickstart.yaml']],
    ['path-patch', ['path-patch', 'pipelines/quickstart.yaml', '--receivers', 'logits']],
  ] as const) {
    it(`${command}: 0, 1.5 and -2 are rejected in one line, before the database is opened`, () => {
      for (const bad of ['0', '1.5', '-2']) {
        const db = join(dir, `${command}-${bad}.db`);
        const r = cliProcess(...args, '--db', db, '--no-progress', '--threads', bad);
        expect(r.status, r.stderr).toBe(2);
        expect(r.stderr.trim()).toBe(`patchwise: --threads must be a whole number >= 1, got ${bad}`);
        expect(existsSync(db)).toBe(false);
      }
    });
  }
});
