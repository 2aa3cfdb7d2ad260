// The path-patching stage: stored through the driver, its per-sender mean effects equal the library
// function pathPatch() on the same dataset (Gaussian noise with two samples, several units); the
// command prints them; a bad receiver is reported before anything is stored.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import yargs, { type CommandModule } from 'yargs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { pathPatchCommand } from '../../src/cli/commands/path-patch.js';
import { UserError } from '../../src/core/errors.js';
import { Experiment } from '../../src/experiment/experiment.js';
import { pathPatch } from '../../src/methods/path-patching.js';
import { loadPipelineModel } from '../../src/pipeline/model-source.js';
import { runPipeline, runStages } from '../../src/pipeline/run-pipeline.js';
import { type PathPatchingRequest, type PathPatchingResult, pathPatchingPoints } from '../../src/pipeline/run-path-patching.js';
import { datasetCorruption, loadPipeline } from '../../src/pipeline/spec.js';
import { PatchableModel } from '../../src/runtime/patchable-model.js';
import { Store } from '../../src/store/store.js';
import { buildDataset } from '../../src/tasks/registry.js';
import type { Dataset } from '../../src/tasks/types.js';
import { formatNumber } from '../../src/cli/format-table.js';

const BIN = resolve('bin/patchwise.js');
const dir = mkdtempSync(join(tmpdir(), 'patchwise-path-'));
const file = join(dir, 'paths.yaml');
writeFileSync(
  file,
  `name: paths
model: { plant: induction }
task: { name: induction, count: 6, seed: 3, options: { length: 8 } }
patching: { corruption: [key-token, "gn:KEY"], gn: { samples: 3 } }
`,
);

describe('path patching stage', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const pipeline = loadPipeline(file);
  const request: PathPatchingRequest = {
    receivers: ['a1.h7<k>', 'a1.h7<v>'],
    corruption: [
      { kind: 'str', variant: 'key-token' },
      { kind: 'gn', roles: ['KEY'], noise: { multiplier: 3, samples: 3, seed: 0, sigmaFrom: 'key-tokens' } },
    ],
    direction: ['noising'],
    metric: ['logit-diff'],
    position: 'all',
    batch: 4,
  };

  it('stores per-sender effects equal to pathPatch() on the same dataset', async () => {
    const db = join(dir, 'stage.db');
    const store = await Store.open(db);
    const datasets = new Map<string, Dataset>();
    let results: PathPatchingResult[];
    let storedUnits = 0;
    try {
      const out = await runStages<[PathPatchingResult[]]>(pipeline, store, { progress: 'off' }, (ctx) => {
        for (const c of request.corruption) datasets.set(c.kind, ctx.dataset(c));
        return [pathPatchingPoints(ctx, request)];
      });
      expect(out.complete).toBe(true);
      results = out.results![0];
      const [units] = await store.query<{ n: number }>('SELECT count(*) AS n FROM units');
      storedUnits = units?.n ?? 0;
    } finally {
      await store.close();
    }
    expect(results).toHaveLength(2);

    const pm = await loadPipelineModel(pipeline.model);
    const runtime = new PatchableModel(pm.model);
    try {
      // 4 rows per unit (Gaussian noise: 3 samples a pair, so one pair a unit): several units each.
      let planned = 0;
      for (const r of results) planned += Experiment.plan(runtime, datasets.get(r.point.corruption.kind)!, { corruption: r.point.corruption, batchSize: 4 }).groups.length;
      expect(storedUnits).toBe(planned);
      expect(planned).toBeGreaterThanOrEqual(2 + 6);
      for (const r of results) {
        const exp = await Experiment.prepare(runtime, datasets.get(r.point.corruption.kind)!, { corruption: r.point.corruption });
        const lib = await pathPatch(exp, { receivers: request.receivers, direction: r.point.direction, metric: 'logit-diff' });
        expect(r.effects.map((e) => e.sender)).toEqual(lib.effects.map((e) => e.name));
        r.effects.forEach((e, i) => expect(Math.abs(e.effect - lib.effects[i]!.effect), e.sender).toBeLessThan(1e-12));
        expect(r.normaliser).toBe(lib.normaliser);
        // The planted previous-token head feeds the induction head's key: the strongest path under STR.
        if (r.point.corruption.kind === 'str') expect([...lib.effects].sort((a, b) => Math.abs(b.effect) - Math.abs(a.effect))[0]!.name).toBe('a0.h3');
      }
    } finally {
      await runtime.release();
    }
  }, 120_000);

  it('reports a receiver the model does not have before anything is stored', async () => {
    const db = join(dir, 'bad.db');
    const store = await Store.open(db);
    try {
      const bad = { ...request, receivers: ['a7.h0<q>'] };
      await expect(runStages(pipeline, store, { progress: 'off' }, (ctx) => [pathPatchingPoints(ctx, bad)])).rejects.toThrow(UserError);
      await expect(runStages(pipeline, store, { progress: 'off' }, (ctx) => [pathPatchingPoints(ctx, bad)])).rejects.toThrow(/paths\.yaml: path patching: unknown receiver "a7\.h0<q>"/);
      expect(await store.query('SELECT id FROM runs')).toEqual([]);
      expect(await store.query('SELECT id FROM models')).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('`patchwise path-patch` takes ablations, and rejects zero or mean with denoising before anything is stored', async () => {
    const db = join(dir, 'ablation.db');
    const run = (extra: string[]) =>
      yargs(['path-patch', file, '--db', db, '--receivers', 'logits', '--metric', 'kl', '--no-progress', ...extra])
        .command(pathPatchCommand as unknown as CommandModule)
        .strict()
        .exitProcess(false)
        .fail((msg, err) => {
          throw err ?? new Error(msg);
        })
        .parseAsync();
    await expect(run(['--corruption', 'zero', '--direction', 'denoising'])).rejects.toThrow('--corruption zero: zero ablation is defined for noising only; use --direction noising');
    await expect(run(['--corruption', 'resample:x'])).rejects.toThrow('--corruption: corruption "resample:x": the resample seed must be an integer');
    expect(existsSync(db)).toBe(false);
    // This pipeline's prompts (a random cut) include a length only one pair has: no partner to resample.
    await expect(run(['--corruption', 'resample'])).rejects.toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: resample: pair \\d+ is the only prompt of \\d+ tokens`));
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await run(['--corruption', 'zero']);
    } finally {
      log.mockRestore();
    }
    const store = await Store.open(db, { create: false });
    try {
      const r = await store.runs.get(1);
      expect([(r.settings as { corruption?: unknown } | null)?.corruption, r.status]).toEqual(['zero', 'done']);
    } finally {
      await store.close();
    }
  }, 120_000);

  it('`patchwise path-patch` stores the sweep and prints the largest effects; a second call resumes it', async () => {
    const db = join(dir, 'cli.db');
    const args = [BIN, 'path-patch', file, '--db', db, '--receivers', 'logits', '--corruption', 'key-token', '--metric', 'kl', '--top', '3', '--no-progress'];
    const first = await promisify(execFile)(process.execPath, args);
    const lines = first.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^run 1: key-token noising kl \(normaliser 1\.0000\)$/);
    expect(lines.slice(3)).toHaveLength(3);
    const store = await Store.open(db, { create: false });
    try {
      const means = await store.runs.meanEffects(1);
      const top = [...means].sort((a, b) => Math.abs(b.mean) - Math.abs(a.mean))[0]!;
      expect(lines[3]).toMatch(new RegExp(`^${top.component.replace('.', '\\.')}\\s+${formatNumber(top.mean).replace(/[.+-]/g, (c) => `\\${c}`)}$`));
      expect((await store.runs.get(1)).status).toBe('done');
    } finally {
      await store.close();
    }
    const again = await promisify(execFile)(process.execPath, args);
    expect(again.stdout).toBe(first.stdout);
  }, 120_000);

  it('a pipeline pathPatching section stores one run per receiver set whose effects equal pathPatch(); `patchwise run` prints them', async () => {
    const yaml = join(dir, 'section.yaml');
    writeFileSync(
      yaml,
      `name: path-section
model: { plant: induction }
task: { name: induction, count: 6, seed: 3, options: { length: 8 } }
pathPatching:
  receivers: { keys: ["a1.h7<k>", "a1.h7<v>"], out: [logits] }
  corruption: key-token
  metric: logit-diff
  batch: 4
`,
    );
    const p = loadPipeline(yaml);
    expect(p.pathPatching!.receivers).toEqual([
      { name: 'keys', receivers: ['a1.h7<k>', 'a1.h7<v>'] },
      { name: 'out', receivers: ['logits'] },
    ]);
    const db = join(dir, 'section.db');
    const store = await Store.open(db);
    let result;
    try {
      result = await runPipeline(p, store, { progress: 'off' });
      for (const r of result.pathPatching) expect((await store.runs.get(r.runId)).settings).toMatchObject({ receiverSet: r.receiverSet });
    } finally {
      await store.close();
    }
    expect(result.complete).toBe(true);
    expect(result.pathPatching.map((r) => r.receiverSet)).toEqual(['keys', 'out']);

    const pm = await loadPipelineModel(p.model);
    const runtime = new PatchableModel(pm.model);
    try {
      const corruption = p.pathPatching!.corruption[0]!;
      const dataset = buildDataset(
        { tokenizer: pm.tokenizer, bosId: pm.bosId, vocabSize: pm.model.config.vocabSize, dataDir: resolve('data'), baseDir: dir },
        { task: 'induction', options: p.task.options, corruption: datasetCorruption(p, corruption), seed: 3, count: 6 },
      );
      const exp = await Experiment.prepare(runtime, dataset, { corruption });
      for (const [i, set] of p.pathPatching!.receivers.entries()) {
        const r = result.pathPatching[i]!;
        const lib = await pathPatch(exp, { receivers: set.receivers, direction: 'noising', metric: 'logit-diff' });
        expect(r.effects.map((e) => e.sender)).toEqual(lib.effects.map((e) => e.name));
        r.effects.forEach((e, k) => expect(Math.abs(e.effect - lib.effects[k]!.effect), e.sender).toBeLessThan(1e-12));
      }
    } finally {
      await runtime.release();
    }

    // The command resumes the stored runs and prints each run's largest path effects.
    const out = await promisify(execFile)(process.execPath, [BIN, 'run', yaml, '--db', db, '--no-progress']);
    const at = out.stdout.split('\n').indexOf('largest path effects');
    expect(at).toBeGreaterThan(0);
    const keysRow = out.stdout.split('\n').find((l) => /^1\s+keys\s+key-token\s+noising\s+logit-diff\s+/.test(l));
    expect(keysRow).toMatch(/\sa0\.h3 /);
  }, 120_000);
});
