// Malformed pipelines: one error line per problem, naming file, field and what was expected,
// before anything runs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expandDiscovery, expandGrid, loadPipeline } from '../../src/pipeline/spec.js';
import { UserError } from '../../src/core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'patchwise-spec-'));
const write = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};

describe('pipeline files', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports every problem with file and field', () => {
    const f = write(
      'bad.yaml',
      `model: { plant: induction }
task: { name: ioi-typo, count: -3 }
patching:
  metric: [prob, accuracy]
  granularity: heads
  direction: sideways
  window: [2]
  extra: 1
`,
    );
    let message = '';
    try {
      loadPipeline(f);
    } catch (e) {
      expect(e).toBeInstanceOf(UserError);
      message = (e as Error).message;
    }
    const lines = message.split('\n');
    expect(lines.every((l) => l.startsWith(`${f}: `))).toBe(true);
    expect(message).toMatch(/task\.name: expected one of ioi, greater-than, paired-jsonl, induction$/m);
    expect(message).toMatch(/task\.count: .*>=\s*1/);
    expect(message).toMatch(/patching\.metric\[1\]: .*expected one of/i);
    expect(message).toMatch(/patching\.direction\[0\]: expected one of denoising, noising$/m);
    expect(lines.length).toBeGreaterThanOrEqual(4);
    const typo = write('typo.yaml', `model: { plant: induction }\ntask: { name: induction }\npatching: { metrics: [kl] }\n`);
    expect(() => loadPipeline(typo)).toThrow(/typo\.yaml: patching\.metrics: unknown field \(fields: corruption, gn, direction, metric, granularity, window, positions, method, detect, batch\)/);
  });

  it('reads positions (all, last-key or a role) and rejects one position per prompt where components have none', () => {
    const ok = write('pos.yaml', `model: { plant: induction }\ntask: { name: induction }\npatching: { granularity: [mlp, attn], window: 5, positions: last-key }\n`);
    expect(loadPipeline(ok).patching!.positions).toBe('last-key');
    const role = write('role.yaml', `model: { plant: induction }\ntask: { name: induction }\npatching: { granularity: heads-pos, positions: END }\n`);
    expect(loadPipeline(role).patching!.positions).toEqual({ role: 'END' });
    const none = write('none.yaml', `model: { plant: induction }\ntask: { name: induction }\npatching: { granularity: mlp }\n`);
    expect(loadPipeline(none).patching!.positions).toBe('all');
    const bad = write('badpos.yaml', `model: { plant: induction }\ntask: { name: induction }\npatching: { granularity: [mlp, heads, mlp-layer], method: [exact, attribution], positions: last-key }\n`);
    const lines = (() => {
      try {
        loadPipeline(bad);
      } catch (e) {
        return (e as Error).message.split('\n');
      }
      return [];
    })();
    expect(lines).toEqual([
      `${bad}: patching.positions: last-key picks one position per prompt, which only per-position granularities (heads-pos, attn, mlp, resid) have; heads, mlp-layer patch all positions at once`,
      `${bad}: patching.positions: one position per prompt is for exact patching; method attribution estimates every position (use positions: all, or method: exact)`,
    ]);
  });

  it('rejects windows on granularities without them, and YAML syntax errors', () => {
    const w = write('win.yaml', `model: { plant: induction }\ntask: { name: induction }\npatching: { granularity: [heads], window: [1, 3] }\n`);
    expect(() => loadPipeline(w)).toThrow(/patching\.window: windows larger than 1 need a windowed granularity/);
    const y = write('syntax.yaml', `model: { plant: induction\ntask: [`);
    expect(() => loadPipeline(y)).toThrow(new RegExp(`^${y.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: YAML: `));
  });

  it('attribution settings: edges only with an attribution method; whole steps >= 1; the patching method axis', () => {
    const acdcEdges = write('edges.yaml', `model: { plant: induction }\ntask: { name: induction }\ndiscovery: { method: [acdc], edges: [10] }\n`);
    expect(() => loadPipeline(acdcEdges)).toThrow(
      /edges\.yaml: discovery\.edges: only attribution methods \(eap, eap-ig-inputs, eap-ig-activations, clean-corrupted, exact\) cut circuits by edge count, got method acdc$/,
    );
    const steps = write('steps.yaml', `model: { plant: induction }\ntask: { name: induction }\ndiscovery: { method: [eap-ig-inputs], steps: 0 }\n`);
    expect(() => loadPipeline(steps)).toThrow(/steps\.yaml: discovery\.steps: /);
    const ok = loadPipeline(write('ok.yaml', `model: { plant: induction }\ntask: { name: induction }\ndiscovery: { method: [eap, exact], edges: 7 }\npatching: { method: [attribution, exact] }\n`));
    expect(ok.discovery?.edges).toEqual([7]);
    expect(ok.discovery?.steps).toBe(5);
    expect(expandDiscovery(ok).map((d) => d.method)).toEqual(['eap', 'exact']);
    expect(expandGrid(ok).map((g) => g.method)).toEqual(['attribution', 'exact']);
  });

  it('pathPatching: receiver sets as one list, a list of lists or named sets; position and defaults; bad names fail at load', () => {
    const head = `model: { plant: induction }\ntask: { name: induction }\n`;
    const one = loadPipeline(write('pp1.yaml', `${head}pathPatching: { receivers: ["a1.h7<q>", logits], position: END }\n`));
    expect(one.pathPatching).toMatchObject({
      receivers: [{ name: 'a1.h7<q>,logits', receivers: ['a1.h7<q>', 'logits'] }],
      corruption: [{ kind: 'str', variant: 'key-token' }],
      direction: ['noising'],
      metric: ['logit-diff'],
      position: { role: 'END' },
      batch: 32,
    });
    const lists = loadPipeline(write('pp2.yaml', `${head}pathPatching: { receivers: [[logits], [m0, m1]], position: 3, direction: [noising, denoising] }\n`));
    expect(lists.pathPatching?.receivers.map((r) => r.name)).toEqual(['logits', 'm0,m1']);
    expect(lists.pathPatching?.position).toBe(3);
    const named = loadPipeline(write('pp3.yaml', `${head}pathPatching: { receivers: { q: ["a1.h7<q>"], out: [logits] }, corruption: "gn:KEY", gn: { samples: 2 } }\n`));
    expect(named.pathPatching?.receivers).toEqual([
      { name: 'q', receivers: ['a1.h7<q>'] },
      { name: 'out', receivers: ['logits'] },
    ]);
    expect(named.pathPatching?.corruption[0]).toMatchObject({ kind: 'gn', roles: ['KEY'], noise: { samples: 2 } });
    expect(named.patching).toBeUndefined();

    const bad = write('pp-bad.yaml', `${head}pathPatching: { receivers: ["a1.h7<x>"], corruption: bogus, batch: 0 }\n`);
    const message = (() => {
      try {
        loadPipeline(bad);
      } catch (e) {
        expect(e).toBeInstanceOf(UserError);
        return (e as Error).message;
      }
      return '';
    })();
    expect(message).toMatch(/pp-bad\.yaml: pathPatching\.receivers\[0\]\.receivers\[0\]: a receiver is logits, mL or aL\.hH<q\|k\|v>/);
    expect(message).toMatch(/pp-bad\.yaml: pathPatching\.corruption\[0\]: task induction has no corruption "bogus"/);
    expect(message).toMatch(/pp-bad\.yaml: pathPatching\.batch: /);
    const twice = write('pp-twice.yaml', `${head}pathPatching: { receivers: [[logits], [logits]], corruption: [str, key-token] }\n`);
    expect(() => loadPipeline(twice)).toThrow(/pp-twice\.yaml: pathPatching\.corruption: key-token is listed twice[\s\S]*pathPatching\.receivers: the set logits is listed twice/);
  });

  it('expands the grid: corruption x direction x granularity x window', () => {
    const f = write(
      'grid.yaml',
      `model: { plant: induction }
task: { name: induction }
patching:
  corruption: [key-token, gn]
  direction: [denoising, noising]
  metric: [prob, kl, logit-diff]
  granularity: [heads, mlp]
  window: [1, 2]
`,
    );
    const grid = expandGrid(loadPipeline(f));
    // heads takes window 1 only; mlp takes 1 and 2: 2 x 2 x (1 + 2) = 12 points (x 3 metrics = 36 runs).
    expect(grid).toHaveLength(12);
    expect(grid.filter((g) => g.granularity === 'mlp' && g.window === 2)).toHaveLength(4);
  });

  const messageOf = (f: string): string => {
    try {
      loadPipeline(f);
    } catch (e) {
      expect(e).toBeInstanceOf(UserError);
      return (e as Error).message;
    }
    throw new Error(`${f} loaded`);
  };

  it("parses corruptions against the task: str is its default variant, gn carries its section's noise settings", () => {
    const f = write(
      'parsed.yaml',
      `model: { plant: induction }
task: { name: induction, options: { length: 6 } }
patching:
  corruption: [str, "gn:KEY,END"]
  gn: { samples: 2, sigma: vocabulary }
discovery:
  corruption: [all-random, gn]
  gn: { multiplier: 5 }
`,
    );
    const p = loadPipeline(f);
    expect(p.task.options).toEqual({ length: 6, cut: 'random' });
    expect(p.patching?.corruption).toEqual([
      { kind: 'str', variant: 'key-token' },
      { kind: 'gn', roles: ['KEY', 'END'], noise: { multiplier: 3, samples: 2, seed: 0, sigmaFrom: 'vocabulary' } },
    ]);
    // A discovery-only setting: the discovery section's own gn block, not the patching one.
    expect(expandDiscovery(p).map((d) => d.corruption)).toEqual([
      { kind: 'str', variant: 'all-random' },
      { kind: 'gn', noise: { multiplier: 5, samples: 3, seed: 0, sigmaFrom: 'key-tokens' } },
    ]);
    expect(expandGrid(p).map((g) => g.corruption.kind)).toEqual(['str', 'gn']);
    const twice = write('twice.yaml', `model: { plant: induction }\ntask: { name: induction }\npatching: { corruption: [str, key-token] }\n`);
    expect(messageOf(twice)).toBe(`${twice}: patching.corruption: key-token is listed twice (str is the task's default STR variant)`);
  });

  it('parses ablations (zero, mean, resample[:SEED]) in both sections, and rejects zero and mean with denoising at load', () => {
    const f = write(
      'ablations.yaml',
      `model: { plant: induction }
task: { name: induction }
patching: { corruption: [zero, mean, "resample:7"], direction: noising }
discovery: { corruption: [resample, zero], direction: [noising] }
`,
    );
    const p = loadPipeline(f);
    expect(p.patching?.corruption).toEqual([{ kind: 'zero' }, { kind: 'mean' }, { kind: 'resample', seed: 7 }]);
    expect(expandDiscovery(p).map((d) => d.corruption)).toEqual([{ kind: 'resample', seed: 0 }, { kind: 'zero' }]);
    // Resampling is a run of another prompt: denoising is defined for it.
    const resample = write('resample-denoise.yaml', `model: { plant: induction }\ntask: { name: induction }\npatching: { corruption: resample, direction: denoising }\n`);
    expect(expandGrid(loadPipeline(resample)).map((g) => g.direction)).toEqual(['denoising']);
    const denoise = write(
      'zero-denoise.yaml',
      `model: { plant: induction }\ntask: { name: induction }\npatching: { corruption: [zero, mean] }\ndiscovery: { corruption: mean, direction: [noising, denoising] }\n`,
    );
    expect(messageOf(denoise).split('\n')).toEqual([
      `${denoise}: patching.direction: zero ablation is defined for noising only (its patch source is no run of any prompt, so there is no ablated run to denoise); use direction: noising`,
      `${denoise}: patching.direction: mean ablation is defined for noising only (its patch source is no run of any prompt, so there is no ablated run to denoise); use direction: noising`,
      `${denoise}: discovery.direction: mean ablation is defined for noising only (its patch source is no run of any prompt, so there is no ablated run to denoise); use direction: noising`,
    ]);
    write('refs.json', '[[1, 2, 3]]');
    const mean = write('mean-file.yaml', `model: { plant: induction }\ntask: { name: induction }\npatching: { corruption: ["mean:refs.json", "mean:none.txt"], direction: noising }\n`);
    expect(messageOf(mean)).toBe(`${mean}: patching.corruption[1]: no such file of reference prompts ${join(dir, 'none.txt')}`);
    const meanOk = write('mean-ok.yaml', `model: { plant: induction }\ntask: { name: induction }\ndiscovery: { corruption: "mean:refs.json" }\n`);
    expect(expandDiscovery(loadPipeline(meanOk)).map((d) => d.corruption)).toEqual([{ kind: 'mean', reference: 'refs.json' }]);
    const seed = write('seed.yaml', `model: { plant: induction }\ntask: { name: induction }\npatching: { corruption: ["resample:x", "zero:1"], direction: noising }\n`);
    expect(messageOf(seed).split('\n')).toEqual([
      `${seed}: patching.corruption[0]: corruption "resample:x": the resample seed must be an integer`,
      `${seed}: patching.corruption[1]: corruption "zero:1": zero takes no argument`,
    ]);
  });

  const bogus = `model: { plant: induction }
task: { name: induction, options: { lenght: 6 } }
patching:
  corruption: [str, bogus]
  direction: [noising]
  metric: [prob, prob-diff]
discovery:
  corruption: [gn, all-randm, "gn:KEY,IO"]
`;
  const expected = (f: string) => [
    `${f}: task.options.lenght: unknown field (fields: length, vocabRange, cut, targets)`,
    `${f}: patching.corruption[1]: task induction has no corruption "bogus" (known: key-token, random, all-random, str, gn, gn:ROLE,...)`,
    `${f}: patching.metric[1]: task induction has no metric prob-diff (its metrics: prob, logit-diff, kl)`,
    `${f}: discovery.corruption[1]: task induction has no corruption "all-randm" (known: key-token, random, all-random, str, gn, gn:ROLE,...)`,
    `${f}: discovery.corruption[2]: task induction has no role "IO" to noise (roles: FIRST, KEY, SOURCE, SECOND, END)`,
  ];

  it('fails at load on every unknown corruption, task option, gn role and unsupported metric, one line each', () => {
    const f = write('bogus.yaml', bogus);
    expect(messageOf(f).split('\n')).toEqual(expected(f));
    const jsonl = write('jsonl.yaml', `model: { plant: induction }\ntask: { name: paired-jsonl, options: { file: x.jsonl } }\npatching: { corruption: ["gn:END"] }\n`);
    expect(messageOf(jsonl)).toBe(`${jsonl}: patching.corruption[0]: task paired-jsonl has no roles to noise; use plain "gn", which noises each prompt's key tokens`);
  });

  it('fails at load on an unknown model preset or a model path that does not exist', () => {
    const preset = write('preset.yaml', `model: { init: gpt3 }\ntask: { name: induction }\npatching: {}\n`);
    expect(messageOf(preset)).toMatch(new RegExp(`^${preset.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: model\\.init: expected one of tiny, `));
    const missing = write('missing.yaml', `model: { path: no-such-model.gguf }\ntask: { name: induction }\npatching: {}\n`);
    expect(messageOf(missing)).toBe(`${missing}: model.path: no such file or folder ${join(dir, 'no-such-model.gguf')}`);
  });

  it('accepts every shipped pipeline (a model to download or to init is the only problem allowed)', () => {
    const shipped = readdirSync('pipelines').filter((f) => f.endsWith('.yaml'));
    expect(shipped.length).toBeGreaterThanOrEqual(4);
    for (const name of shipped) {
      const f = join('pipelines', name);
      try {
        const p = loadPipeline(f);
        expect(expandGrid(p).length + expandDiscovery(p).length).toBeGreaterThan(0);
      } catch (e) {
        expect((e as Error).message).toMatch(new RegExp(`^${f}: model\\.path: no such file or folder [^\\n]*models/gpt2(?:-xl-random)?$`));
      }
    }
  });

  it('patchwise run stops on such a pipeline before anything runs: no database is created', () => {
    const f = write('bogus-run.yaml', bogus);
    const db = join(dir, 'bogus.db');
    const run = spawnSync(process.execPath, [resolve('bin/patchwise.js'), 'run', f, '--db', db, '--no-progress'], { encoding: 'utf8' });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(['invalid pipeline:', ...expected(f)].join('\n'));
    expect(existsSync(db)).toBe(false);
  });
});
