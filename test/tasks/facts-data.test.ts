// data/facts.jsonl (16 factual-recall pairs, Zhang & Nanda's setting) and its GPT-2 token-id form
// data/facts.gpt2-ids.jsonl, which models without tokenizer files (random GPT-2 shapes) read: the id
// file is what the generator makes from the text file, and both build the same dataset.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { gpt2IdLines } from '../../scripts/facts-to-ids.js';
import { differingPositions } from '../../src/tasks/pairs.js';
import { buildDataset } from '../../src/tasks/registry.js';
import type { Dataset } from '../../src/tasks/types.js';
import { gpt2Tokenizer } from '../../src/tokenizer/gpt2.js';

const dataDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'data');
const GPT2_VOCAB = 50257;

describe('factual-recall pairs (data/facts.jsonl, data/facts.gpt2-ids.jsonl)', () => {
  let text: Dataset;
  let ids: Dataset;
  beforeAll(async () => {
    const tokenizer = await gpt2Tokenizer();
    text = buildDataset({ tokenizer, vocabSize: GPT2_VOCAB, dataDir, baseDir: dataDir }, { task: 'paired-jsonl', options: { file: 'facts.jsonl' }, seed: 0, count: 16 });
    ids = buildDataset({ vocabSize: GPT2_VOCAB, dataDir, baseDir: dataDir }, { task: 'paired-jsonl', options: { file: 'facts.gpt2-ids.jsonl' }, seed: 0, count: 16 });
  });

  it('the id file is the generator output of the text file', async () => {
    expect(await gpt2IdLines(resolve(dataDir, 'facts.jsonl'))).toBe(readFileSync(resolve(dataDir, 'facts.gpt2-ids.jsonl'), 'utf8'));
  });

  it('builds the same 16 pairs from ids without a tokenizer as from text with GPT-2 (no BOS)', () => {
    expect(ids.pairs).toHaveLength(16);
    ids.pairs.forEach((p, i) => {
      const t = text.pairs[i]!;
      expect([p.clean, p.corrupted, p.targets, p.keyPositions, p.roles]).toEqual([t.clean, t.corrupted, t.targets, t.keyPositions, t.roles]);
    });
  });

  it('key tokens are the subject: every swapped token is one, and the last key token is swapped', () => {
    for (const p of text.pairs) {
      const swapped = differingPositions(p.clean, p.corrupted);
      expect(
        swapped.every((s) => p.keyPositions.includes(s)),
        `pair ${p.index}`,
      ).toBe(true);
      expect(swapped.at(-1), `pair ${p.index}`).toBe(p.keyPositions.at(-1));
    }
    // Rows of one length patch different last subject positions: positions are per row.
    const atLength6 = text.pairs.filter((p) => p.clean.length === 6).map((p) => p.keyPositions.at(-1));
    expect(new Set(atLength6).size).toBeGreaterThan(1);
  });
});
