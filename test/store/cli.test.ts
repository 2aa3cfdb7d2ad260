// The result-reading commands on a small database: through yargs in-process (output captured from
// console.log), and once through bin/patchwise.js to check they are registered.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import yargs, { type CommandModule } from 'yargs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { compareCommand } from '../../src/cli/commands/compare.js';
import { resultsCommand } from '../../src/cli/commands/results.js';
import { showCommand } from '../../src/cli/commands/show.js';
import { formatTable } from '../../src/cli/format-table.js';
import { Store } from '../../src/store/store.js';
import type { EffectRow } from '../../src/store/types.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'patchwise-cli-'));
const db = join(dir, 'results.db');

const head = (layer: number, h: number, prompt: number, value: number): EffectRow => ({
  component: `a${layer}.h${h}`,
  kind: 'head',
  layer,
  head: h,
  position: null,
  window: 1,
  prompt,
  value,
});

beforeAll(async () => {
  const s = await Store.open(db);
  const modelId = await s.models.upsert({ fingerprint: 'fp-gpt2', name: 'gpt2-small', path: '/m', architecture: 'gpt2', config: {} });
  const datasetId = await s.datasets.upsert({ fingerprint: 'fp-ioi', task: 'ioi', settings: {}, pairs: [1, 2] });
  const base = { corruption: { kind: 'str', variant: 'abc' }, direction: 'denoising', granularity: 'head', window: 1 };
  const open = (key: string, metric: string) => s.runs.open({ pipeline: 'ioi-grid', key, modelId, datasetId, settings: { ...base, metric }, codeVersion: 'v1' });
  const ld = await open('ioi-ld', 'logit-diff');
  const kl = await open('ioi-kl', 'kl');
  const empty = await open('ioi-prob', 'probability');
  // Effects: a9.h9 strong in both, a10.h7 strong only in LD, a3.h0 only in KL, others small.
  const effects = (strong: Record<string, number>): EffectRow[] =>
    [0, 1].flatMap((p) =>
      [
        [9, 9],
        [10, 7],
        [3, 0],
        [1, 1],
      ].map(([l, h]) => head(l as number, h as number, p, (strong[`a${l}.h${h}`] ?? 0.01) + p * 0.002)),
    );
  await s.runs.saveUnit(ld.id, 'batch:0', effects({ 'a9.h9': 0.5, 'a10.h7': -0.3 }), 1.25);
  await s.runs.saveUnit(kl.id, 'batch:0', effects({ 'a9.h9': 0.4, 'a3.h0': 0.2 }), 2);
  await s.runs.saveUnit(empty.id, 'batch:0', effects({ 'a1.h1': -0.05 }), 0.5);
  await s.runs.saveDetections(ld.id, [
    { component: 'a9.h9', layer: 9, head: 9, position: null, window: 1, mean: 0.501, std: 0.001, zscore: 3.2, sign: 1 },
    { component: 'a10.h7', layer: 10, head: 7, position: null, window: 1, mean: -0.299, std: 0.001, zscore: -2.4, sign: -1 },
  ]);
  await s.runs.saveDetections(kl.id, [
    { component: 'a9.h9', layer: 9, head: 9, position: null, window: 1, mean: 0.401, std: 0.001, zscore: 2.9, sign: 1 },
    { component: 'a3.h0', layer: 3, head: 0, position: null, window: 1, mean: 0.201, std: 0.001, zscore: 2.1, sign: 1 },
  ]);
  await s.runs.finish(ld.id, { seconds: 3.5 });
  await s.runs.finish(kl.id, { seconds: 4 });
  await s.runs.finish(empty.id, { seconds: 1 });
  await s.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs one command in-process and returns what it printed. */
async function run(command: CommandModule, args: string[]): Promise<string> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => {
    lines.push(a.map(String).join(' '));
  });
  try {
    await yargs(args)
      .command(command)
      .strict()
      .exitProcess(false)
      .fail((msg, err) => {
        throw err ?? new Error(msg);
      })
      .parseAsync();
  } finally {
    spy.mockRestore();
  }
  return lines.join('\n');
}

const asModule = (c: unknown): CommandModule => c as CommandModule;

describe('format-table', () => {
  it('aligns columns, numbers to the right', () => {
    expect(
      formatTable(
        ['name', { header: 'n', align: 'right' }],
        [
          ['a', '1'],
          ['long', '100'],
        ],
      ),
    ).toBe(['name    n', '----  ---', 'a       1', 'long  100'].join('\n'));
  });
});

describe('patchwise results', () => {
  it('lists runs with their settings, status, detections and seconds', async () => {
    const out = await run(asModule(resultsCommand), ['results', '--db', db]);
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^id\s+pipeline\s+task\s+model\s+corruption\s+metric\s+direction\s+granularity\s+window\s+status\s+units\s+detections\s+seconds$/);
    expect(lines[2]).toMatch(/^ 1\s+ioi-grid\s+ioi\s+gpt2-small\s+str variant=abc\s+logit-diff\s+denoising\s+head\s+1\s+done\s+1\s+2\s+3\.5$/);
    expect(lines[3]).toMatch(/^ 2\s+.*\s+kl\s+.*\s+done\s+1\s+2\s+4\.0$/);
    expect(lines).toHaveLength(5);
    expect(await run(asModule(resultsCommand), ['results', '--db', db, '--pipeline', 'nope'])).toBe(`no runs of pipeline nope in ${db}`);
  });
});

describe('patchwise show', () => {
  it('prints the settings and the detected components by |z|', async () => {
    const out = await run(asModule(showCommand), ['show', '1', '--db', db]);
    expect(out).toContain('run           1  (pipeline ioi-grid, key ioi-ld)');
    expect(out).toMatch(/settings\n {2}corruption\s+str variant=abc\n {2}direction\s+denoising\n {2}granularity\s+head\n {2}metric\s+logit-diff\n {2}window\s+1/);
    expect(out).toContain(
      [
        'detected components (2)',
        'component  mean effect  z-score  sign',
        '---------  -----------  -------  ----',
        'a9.h9           0.5010     3.20     +',
        'a10.h7         -0.2990    -2.40     -',
      ].join('\n'),
    );
  });

  it('finds a run by key, and lists the top components by |mean| when nothing is detected', async () => {
    const out = await run(asModule(showCommand), ['show', 'ioi-prob', '--db', db, '--top', '2']);
    expect(out).toContain('nothing detected; top 2 of 4 components by |mean effect|');
    expect(out).toMatch(/a1\.h1\s+head\s+-0\.0490\s+0\.0014\s+2\n/);
    expect(out.split('\n').filter((l) => /^a\d+\.h\d+/.test(l))).toHaveLength(2);
  });

  it('fails with a one-line UserError for a missing run or database', async () => {
    await expect(run(asModule(showCommand), ['show', '12', '--db', db])).rejects.toThrow(`no run 12 in ${db}`);
    await expect(run(asModule(showCommand), ['show', '1', '--db', join(dir, 'missing.db')])).rejects.toThrow(`no database at ${join(dir, 'missing.db')}`);
  });
});

describe('patchwise compare', () => {
  it('shows differing settings, and components detected by both, only A and only B with both means', async () => {
    const out = await run(asModule(compareCommand), ['compare', '1', 'ioi-kl', '--db', db]);
    expect(out).toContain(['settings that differ', 'setting  run 1       run 2', '-------  ----------  -----', 'metric   logit-diff  kl'].join('\n'));
    expect(out).toMatch(/detected in both \(1\)\ncomponent\s+run 1 mean\s+run 2 mean\s+run 1 z\s+run 2 z\n[- ]+\na9\.h9\s+0\.5010\s+0\.4010\s+3\.20\s+2\.90/);
    // The side that missed a component shows its (undetected) mean effect.
    expect(out).toMatch(/only in run 1 \(1\)\ncomponent\s+run 1 mean\s+run 2 mean\s+run 1 z\n[- ]+\na10\.h7\s+-0\.2990\s+0\.0110\s+-2\.40/);
    expect(out).toMatch(/only in run 2 \(1\)\ncomponent\s+run 1 mean\s+run 2 mean\s+run 2 z\n[- ]+\na3\.h0\s+0\.0110\s+0\.2010\s+2\.10/);
  });
});

describe('bin/patchwise', () => {
  it('registers results, show and compare, and reports a missing run in one line with exit code 2', async () => {
    const exec = promisify(execFile);
    const bin = join(repoRoot, 'bin', 'patchwise.js');
    const help = await exec(process.execPath, [bin, '--help'], { cwd: repoRoot });
    expect(help.stdout).toMatch(/patchwise results/);
    expect(help.stdout).toMatch(/patchwise show <run>/);
    expect(help.stdout).toMatch(/patchwise compare <runA> <runB>/);
    const results = await exec(process.execPath, [bin, 'results', '--db', db], { cwd: repoRoot });
    expect(results.stdout).toContain('ioi-grid');
    const missing = await exec(process.execPath, [bin, 'show', '99', '--db', db], { cwd: repoRoot }).catch((e: { code: number; stderr: string }) => e);
    expect(missing).toMatchObject({ code: 2, stderr: `patchwise: no run 99 in ${db}\n` });
  });
});
