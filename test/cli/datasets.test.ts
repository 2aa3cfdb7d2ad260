// The experiments a new user runs on a model patchwise did not build (issue 11): a 3-layer GPT-2
// in the Hugging Face layout with no tokenizer files and BOS 0, a token-id dataset whose metric
// reads several positions per prompt, an EAP-IG / MIB IOI file, and the read commands' --json.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { writeGpt2Hf, writeLlamaHf } from '../../src/checkpoints/write-hf.js';
import { main } from '../../src/cli/main.js';
import { getPreset } from '../../src/synthetic/presets.js';
import { initModel } from '../../src/synthetic/init.js';
import { writeGpt2TokenizerFiles } from '../../src/tokenizer/gpt2-files.js';
import { gpt2Tokenizer } from '../../src/tokenizer/gpt2.js';
import { loadPipelineModel } from '../../src/pipeline/model-source.js';
import { buildDataset } from '../../src/tasks/registry.js';
import { cliProcess } from '../support/cli-process.js';

let dir: string;
const bare = () => join(dir, 'bare');
const withTokenizer = () => join(dir, 'gpt2');

/** Runs the CLI in this process; returns what it printed to stdout. */
async function cli(...args: string[]): Promise<string> {
  const out: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void out.push(parts.join(' ')));
  try {
    await main(args);
  } finally {
    spy.mockRestore();
  }
  return out.join('\n');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'patchwise-datasets-'));
  const tiny = getPreset('tiny');
  // A model patchwise did not build in spirit: 3 layers, a 50-token vocabulary, BOS 0, no tokenizer files.
  writeGpt2Hf(initModel({ ...tiny, name: 'bare', nLayers: 3, vocabSize: 50, maxPositions: 32, bosTokenId: 0, eosTokenId: 0 }, 7), bare());
  writeGpt2Hf(initModel({ ...tiny, name: 'tiny-gpt2' }, 3), withTokenizer());
  writeGpt2TokenizerFiles(withTokenizer());
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a model without tokenizer files', () => {
  it('model info says it has no tokenizer and reads BOS from config.json', async () => {
    const info = JSON.parse(await cli('model', 'info', bare(), '--json')) as Record<string, unknown>;
    expect(info.tokenizer).toBe('none (prompts are token ids)');
    expect(info.bos).toBe(0);
    const named = JSON.parse(await cli('model', 'info', withTokenizer(), '--json')) as Record<string, unknown>;
    expect(named.tokenizer).toMatch(/^gpt2-bpe, 50,257 tokens, no BOS, from .*vocab\.json \+ merges\.txt$/);
  });

  it("model init writes GPT-2's tokenizer files beside a GPT-2-vocabulary preset, so its tokenizer is explicit", async () => {
    const out = join(dir, 'init');
    expect(await cli('model', 'init', 'tiny', '--out', out)).toMatch(/with the GPT-2 tokenizer \(vocab\.json, merges\.txt\)$/);
    const info = JSON.parse(await cli('model', 'info', out, '--json')) as Record<string, unknown>;
    expect(info.tokenizer).toMatch(/^gpt2-bpe, 50,257 tokens, no BOS, from .*vocab\.json \+ merges\.txt$/);
  }, 60_000);

  it('generate: token ids without a tokenizer; an empty prompt starts from BOS 0; text is refused in one line', async () => {
    const ids = JSON.parse(await cli('generate', bare(), '--prompt-ids', '0 5 6', '--tokens', '3')) as number[];
    expect(ids.slice(0, 3)).toEqual([0, 5, 6]);
    expect(ids).toHaveLength(6);
    for (const id of ids) expect(id).toBeLessThan(50);
    const fromBos = JSON.parse(await cli('generate', bare(), '--tokens', '2')) as number[];
    expect(fromBos[0]).toBe(0);
    const text = cliProcess('generate', bare(), '--prompt', 'Hello world');
    expect(text.status).toBe(2);
    expect(text.stderr.trim().split('\n')).toEqual([`patchwise: ${bare()} has no tokenizer files, so the prompt (--prompt) cannot be text: give token ids instead`]);
  }, 30_000);

  it("pipeline prompts built from token ids (induction) start with config.json's BOS 0", async () => {
    const pm = await loadPipelineModel({ path: bare() });
    expect(pm.tokenizer).toBeUndefined();
    expect(pm.bosId).toBe(0);
    const dataset = buildDataset({ bosId: pm.bosId, vocabSize: pm.model.config.vocabSize, dataDir: 'data' }, { task: 'induction', options: { length: 6, targets: 'second-copy' }, seed: 1, count: 4 });
    for (const pair of dataset.pairs) {
      expect(pair.clean[0]).toBe(0);
      expect(pair.targets[0]!.position).toBe(1 + 6);
    }
  });

  it('generate --prompt-ids works on a Llama directory without tokenizer.json', async () => {
    const llama = join(dir, 'llama');
    writeLlamaHf(initModel('tiny-llama', 1), llama);
    const info = JSON.parse(await cli('model', 'info', llama, '--json')) as Record<string, unknown>;
    expect(info.tokenizer).toBe('none (prompts are token ids)');
    const ids = JSON.parse(await cli('generate', llama, '--prompt-ids', '1,40,41', '--tokens', '2')) as number[];
    expect(ids.slice(0, 3)).toEqual([1, 40, 41]);
    expect(ids).toHaveLength(5);
  }, 30_000);

  it('runs node patching on a token-id JSONL whose metric reads several positions, and --json outputs parse', async () => {
    // Induction-like prompts: [BOS] A B C D A B C; each second-copy position predicts the next token.
    const lines = [
      { clean_ids: [0, 11, 12, 13, 14, 11, 12, 13], corrupted_ids: [0, 11, 12, 13, 14, 21, 22, 23] },
      { clean_ids: [0, 31, 32, 33, 34, 31, 32, 33], corrupted_ids: [0, 31, 32, 33, 34, 41, 42, 43] },
      { clean_ids: [0, 5, 6, 7, 8, 5, 6, 7], corrupted_ids: [0, 5, 6, 7, 8, 25, 26, 27] },
    ].map((l) => ({ ...l, targets: [5, 6, 7].map((p) => ({ position: p, answer_id: l.clean_ids[p - 3]!, wrong_id: 49 })) }));
    writeFileSync(join(dir, 'ids.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    writeFileSync(
      join(dir, 'ids.yaml'),
      [
        'name: ids',
        'model: { path: ./bare }',
        'task: { name: paired-jsonl, count: 3, seed: 0, options: { file: ids.jsonl } }',
        'patching: { corruption: [given], direction: [denoising], metric: [logit-diff, kl], granularity: [heads] }',
      ].join('\n'),
    );
    const db = join(dir, 'ids.db');
    await cli('run', join(dir, 'ids.yaml'), '--db', db, '--no-progress');
    const runs = JSON.parse(await cli('results', '--db', db, '--json')) as { id: number; status: string; settings: { metric: string } }[];
    expect(runs.map((r) => [r.status, r.settings.metric]).sort()).toEqual([
      ['done', 'kl'],
      ['done', 'logit-diff'],
    ]);
    const shown = JSON.parse(await cli('show', String(runs[0]!.id), '--db', db, '--all', '--json')) as { effects: { component: string; mean: number; n: number }[]; totalEffects: number };
    // Every head of the 3 x 4 model, each averaged over the 3 prompts.
    expect(shown.effects).toHaveLength(12);
    expect(shown.totalEffects).toBe(12);
    for (const e of shown.effects) {
      expect(e.n).toBe(3);
      expect(Number.isFinite(e.mean)).toBe(true);
    }
    const text = await cli('show', String(runs[0]!.id), '--db', db, '--all');
    expect(text).toMatch(/every component \(12\) by \|mean effect\|/);
    const compared = JSON.parse(await cli('compare', String(runs[0]!.id), String(runs[1]!.id), '--db', db, '--json')) as { settings: { setting: string }[] };
    expect(compared.settings.map((s) => s.setting)).toContain('metric');
    expect(JSON.parse(await cli('circuit', 'list', '--db', db, '--json'))).toEqual([]);
  }, 120_000);

  it('a text prompt in the dataset gets one line naming the file, line and field', () => {
    writeFileSync(join(dir, 'text.jsonl'), JSON.stringify({ clean: 'The Eiffel Tower is in', corrupted: 'The Colosseum is in', answer: ' Paris' }) + '\n');
    writeFileSync(
      join(dir, 'text.yaml'),
      [
        'name: text',
        'model: { path: ./bare }',
        'task: { name: paired-jsonl, count: 1, seed: 0, options: { file: text.jsonl } }',
        'patching: { corruption: [given], metric: [prob], granularity: [heads] }',
      ].join('\n'),
    );
    const r = cliProcess('run', join(dir, 'text.yaml'), '--db', join(dir, 'text.db'), '--no-progress');
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual(['patchwise: text.jsonl line 1: clean: the model has no tokenizer files, so prompts must be token ids (clean_ids, corrupted_ids, answer_id)']);
  }, 30_000);
});

describe('ablations and ground truth on the model without tokenizer files (issue 11, end to end)', () => {
  it('node patching under zero and resample and ACDC under zero on a multi-target token-id JSONL, scored against a ground-truth file', async () => {
    const lines = [
      [0, 11, 12, 13, 14, 11, 12, 13],
      [0, 31, 32, 33, 34, 31, 32, 33],
      [0, 5, 6, 7, 8, 5, 6, 7],
      [0, 15, 16, 17, 18, 15, 16, 17],
    ].map((clean) => ({ clean_ids: clean, corrupted_ids: clean.map((t, i) => (i >= 5 ? t + 10 : t)), targets: [5, 6, 7].map((p) => ({ position: p, answer_id: clean[p - 3]!, wrong_id: 49 })) }));
    writeFileSync(join(dir, 'abl.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    // A user-supplied known circuit: a list of edge names (EAP-IG naming).
    writeFileSync(join(dir, 'truth.json'), JSON.stringify(['a2.h0->logits', 'a1.h1->a2.h0<q>', 'input->a1.h1<k>']));
    writeFileSync(
      join(dir, 'abl.yaml'),
      [
        'name: bare-ablations',
        'model: { path: ./bare }',
        'groundTruth: truth.json',
        'task: { name: paired-jsonl, count: 4, seed: 0, options: { file: abl.jsonl } }',
        'patching: { corruption: [zero, resample], direction: [noising], metric: [logit-diff], granularity: [heads] }',
        'discovery: { method: [acdc], corruption: [zero], direction: [noising], metric: [kl], thresholds: [0.01] }',
      ].join('\n'),
    );
    const db = join(dir, 'abl.db');
    await cli('run', join(dir, 'abl.yaml'), '--db', db, '--no-progress');
    const runs = JSON.parse(await cli('results', '--db', db, '--json')) as { id: number; status: string; settings: { corruption: string; stage?: string; method?: string } }[];
    expect(runs.every((r) => r.status === 'done')).toBe(true);
    const patching = runs.filter((r) => r.settings.method !== 'acdc');
    expect(patching.map((r) => r.settings.corruption).sort()).toEqual(['resample', 'zero']);
    for (const r of patching) {
      const shown = JSON.parse(await cli('show', String(r.id), '--db', db, '--all', '--json')) as { effects: { mean: number; n: number }[] };
      expect(shown.effects).toHaveLength(12);
      for (const e of shown.effects) {
        expect(e.n).toBe(4);
        expect(Number.isFinite(e.mean)).toBe(true);
      }
    }
    const acdc = runs.find((r) => r.settings.method === 'acdc');
    expect(acdc?.settings.corruption).toBe('zero');
    const text = await cli('show', String(acdc!.id), '--db', db);
    expect(text).toMatch(/precision\s+recall\s+ROC-AUC/);
    expect(text).toMatch(/\n\d+\s+acdc\s+kl\s+0\.01\s+\d+\s+\S+\s+\d\.\d{4}\s+\d\.\d{4}\s+\d\.\d{4}/);
  }, 300_000);
});

describe('patchwise tasks', () => {
  it('lists every task with its options, corruptions and an example; --json parses', async () => {
    const tasks = JSON.parse(await cli('tasks', '--json')) as { name: string; options: { name: string; type: string; default?: unknown }[]; corruptions: string[]; example: { options: object } }[];
    expect(tasks.map((t) => t.name)).toEqual(['ioi', 'greater-than', 'paired-jsonl', 'induction']);
    const induction = tasks.find((t) => t.name === 'induction')!;
    expect(induction.options).toContainEqual(expect.objectContaining({ name: 'length', type: 'integer', default: 20 }));
    expect(induction.options).toContainEqual(expect.objectContaining({ name: 'targets', type: 'end | second-copy' }));
    expect(induction.corruptions).toEqual(['key-token', 'random', 'all-random', 'str', 'gn', 'gn:ROLE,...']);
    expect(tasks.find((t) => t.name === 'paired-jsonl')!.options).toContainEqual(expect.objectContaining({ name: 'format', type: 'jsonl | eap-csv', default: 'jsonl' }));
    // Each example's options are valid options of its task.
    const { getTask } = await import('../../src/tasks/registry.js');
    for (const t of tasks) expect(() => getTask(t.name).parseOptions(t.example.options, 'example')).not.toThrow();
    const text = await cli('tasks');
    expect(text).toContain('    cut: random | last (default "random") - where the prompt stops in the second copy');
  });
});

describe('an EAP-IG / MIB IOI file', () => {
  it('imports unchanged and runs node patching over its pairs', async () => {
    const tok = await gpt2Tokenizer();
    const id = (word: string) => tok.encode(word)[0]!;
    const rows = [
      ['When Mary and John went to the store, John gave a drink to', 'When Mary and John went to the store, Paul gave a drink to', ' Mary', ' John'],
      ['When Tom and Anna went to the park, Anna gave a ball to', 'When Tom and Anna went to the park, Lisa gave a ball to', ' Tom', ' Anna'],
      ['When Alice and Bob went to the office, Bob gave a book to', 'When Alice and Bob went to the office, Carl gave a book to', ' Alice', ' Bob'],
    ];
    const quote = (s: string) => `"${s.replaceAll('"', '""')}"`;
    const csv = ['clean,corrupted,correct_idx,incorrect_idx', ...rows.map(([c, x, a, w]) => [quote(c!), quote(x!), id(a!), id(w!)].join(','))].join('\n');
    writeFileSync(join(dir, 'ioi.csv'), csv + '\n');
    writeFileSync(
      join(dir, 'mib.yaml'),
      [
        'name: mib-ioi',
        'model: { path: ./gpt2 }',
        'task: { name: paired-jsonl, count: 3, seed: 0, options: { file: ioi.csv, format: eap-csv } }',
        'patching: { corruption: [given], direction: [noising], metric: [logit-diff], granularity: [heads] }',
      ].join('\n'),
    );
    const db = join(dir, 'mib.db');
    await cli('run', join(dir, 'mib.yaml'), '--db', db, '--no-progress');
    const [run] = JSON.parse(await cli('results', '--db', db, '--json')) as { id: number; status: string; pairs?: number }[];
    expect(run!.status).toBe('done');
    const shown = JSON.parse(await cli('show', String(run!.id), '--db', db, '--all', '--json')) as { run: { pairs: number; task: string }; effects: { n: number }[] };
    expect(shown.run.task).toBe('paired-jsonl');
    expect(shown.run.pairs).toBe(3);
    expect(shown.effects).toHaveLength(2 * 4);
    for (const e of shown.effects) expect(e.n).toBe(3);
  }, 120_000);
});
