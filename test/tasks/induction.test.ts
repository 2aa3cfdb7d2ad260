// Induction prompts: with no tokenizer and a small vocabulary (a planted model), with GPT-2's
// vocabulary, and with stories260K's SentencePiece vocabulary (BOS, control and byte tokens).
import { parseCorruption } from '../../src/tasks/pairs.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { inductionTask, inductionTokenPool, ordinaryTokenTest } from '../../src/tasks/induction.js';
import type { Dataset, PromptPair, TaskContext } from '../../src/tasks/types.js';
import { gpt2Tokenizer } from '../../src/tokenizer/gpt2.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import type { Tokenizer } from '../../src/tokenizer/types.js';
import { describeShared, stories260kPath } from '../support/shared.js';

const planted: TaskContext = { vocabSize: 64, dataDir: '/nonexistent' };

const build = (ctx: TaskContext, corruption: string, options: unknown = {}, seed = 1, count = 50): Dataset =>
  inductionTask.build(ctx, inductionTask.parseOptions(options, 'task.options'), parseCorruption(inductionTask, corruption), seed, count);

/** Checks the shape of an induction pair; returns the repeated sequence. */
function checkPair(pair: PromptPair, length: number, bos: number | undefined): number[] {
  const offset = bos === undefined ? 0 : 1;
  if (bos !== undefined) {
    expect(pair.clean[0]).toBe(bos);
    expect(pair.corrupted[0]).toBe(bos);
  }
  const seq = pair.clean.slice(offset, offset + length);
  const second = pair.clean.slice(offset + length);
  const k = second.length;
  expect(new Set(seq).size).toBe(length);
  expect(k).toBeGreaterThanOrEqual(2);
  expect(k).toBeLessThanOrEqual(length - 1);
  expect(second).toEqual(seq.slice(0, k));
  expect(pair.targets[0]!.answer).toBe(seq[k]);
  expect(seq).not.toContain(pair.targets[0]!.wrong);
  expect(pair.roles).toEqual({ FIRST: offset, KEY: offset + k - 1, SOURCE: offset + k, SECOND: offset + length, END: pair.clean.length - 1 });
  expect(pair.targets[0]!.position).toBe(pair.clean.length - 1);
  expect(pair.keyPositions).toEqual(Array.from({ length: k }, (_, i) => offset + length + i));
  expect(pair.corrupted).toHaveLength(pair.clean.length);
  return seq;
}

describe('induction without a tokenizer (a planted model)', () => {
  it('repeats a random sequence of ids below the vocabulary size and cuts inside the repeat', () => {
    const dataset = build(planted, 'random', { length: 8 });
    const cuts = new Set<number>();
    for (const pair of dataset.pairs) {
      const seq = checkPair(pair, 8, undefined);
      for (const id of [...pair.clean, ...pair.corrupted, pair.targets[0]!.answer, pair.targets[0]!.wrong ?? 0]) expect(id).toBeLessThan(64);
      // The corruption keeps the first copy and replaces the second by tokens not in it.
      expect(pair.corrupted.slice(0, 8)).toEqual(seq);
      for (const p of pair.keyPositions) expect(seq).not.toContain(pair.corrupted[p]);
      cuts.add(pair.clean.length - 8);
      expect(pair.cleanText).toBe(pair.clean.join(' '));
    }
    expect(cuts.size).toBeGreaterThan(3);
    expect(dataset.settings).toMatchObject({ tokenizer: 'none', bos: false, poolSize: 64 });
  });

  it("starts every prompt with the config's BOS when the context names one, and never draws it", () => {
    for (const pair of build({ ...planted, bosId: 0 }, 'random', { length: 8 }).pairs) {
      checkPair(pair, 8, 0);
      expect(pair.clean.slice(1)).not.toContain(0);
    }
  });

  it('reads every position of the second copy with targets: second-copy, on the same prompts', () => {
    const end = build(planted, 'random', { length: 8 }, 4, 10);
    const all = build(planted, 'random', { length: 8, targets: 'second-copy' }, 4, 10);
    all.pairs.forEach((pair, i) => {
      expect(pair.clean).toEqual(end.pairs[i]!.clean);
      expect(pair.corrupted).toEqual(end.pairs[i]!.corrupted);
      const seq = pair.clean.slice(0, 8);
      const k = pair.clean.length - 8;
      // Position 8 + i holds seq[i] and predicts seq[i + 1]; the last target is the `end` one.
      expect(pair.targets.map((t) => t.position)).toEqual(Array.from({ length: k }, (_, j) => 8 + j));
      expect(pair.targets.map((t) => t.answer)).toEqual(seq.slice(1, k + 1));
      expect(pair.targets[k - 1]).toEqual(end.pairs[i]!.targets[0]);
    });
  });

  it('draws from vocabRange, clamped to the vocabulary', () => {
    for (const pair of build(planted, 'random', { length: 5, vocabRange: [40, 1000] }).pairs) {
      for (const id of [...pair.clean, ...pair.corrupted]) {
        expect(id).toBeGreaterThanOrEqual(40);
        expect(id).toBeLessThan(64);
      }
    }
    expect(inductionTokenPool(planted, [10, 20])).toEqual(Array.from({ length: 10 }, (_, i) => 10 + i));
  });

  it('cut "last" makes every prompt the same length', () => {
    for (const pair of build(planted, 'random', { length: 6, cut: 'last' }).pairs) expect(pair.clean).toHaveLength(11);
  });

  it('gn leaves the prompt alone and keys the second copy, or the named roles', () => {
    for (const pair of build(planted, 'gn', { length: 6 }).pairs) {
      checkPair(pair, 6, undefined);
      expect(pair.corrupted).toEqual(pair.clean);
    }
    for (const pair of build(planted, 'gn:SOURCE', { length: 6 }).pairs) expect(pair.keyPositions).toEqual([pair.roles.SOURCE]);
  });

  it("key-token replaces only the first copy's occurrence of the last token; all-random replaces every token", () => {
    for (const pair of build(planted, 'key-token', { length: 6 }).pairs) {
      const diff = pair.clean.map((t, i) => (t !== pair.corrupted[i] ? i : -1)).filter((i) => i >= 0);
      expect(diff).toEqual([pair.roles.KEY]);
      expect(pair.keyPositions).toEqual([pair.roles.KEY]);
      expect(pair.clean.slice(0, pair.roles.SECOND)).not.toContain(pair.corrupted[pair.roles.KEY!]);
    }
    for (const pair of build(planted, 'all-random', { length: 6 }).pairs) {
      expect(pair.clean.every((t, i) => t !== pair.corrupted[i])).toBe(true);
      expect(pair.corrupted.every((t) => !pair.clean.includes(t))).toBe(true);
      expect(pair.corrupted.length).toBe(pair.clean.length);
    }
  });

  it('is deterministic by seed, with the same clean prompts for every corruption', () => {
    expect(build(planted, 'random', {}, 3)).toEqual(build(planted, 'random', {}, 3));
    expect(build(planted, 'random', {}, 4).pairs.map((p) => p.clean)).not.toEqual(build(planted, 'random', {}, 3).pairs.map((p) => p.clean));
    expect(build(planted, 'gn', {}, 3).pairs.map((p) => p.clean)).toEqual(build(planted, 'random', {}, 3).pairs.map((p) => p.clean));
  });

  it('says when the vocabulary is too small for the sequence length', () => {
    expect(() => build({ vocabSize: 30, dataDir: '' }, 'random', { length: 16 })).toThrow(
      'task induction: the vocabulary has 30 usable token ids, and sequences of length 16 need at least 32; lower options.length or widen options.vocabRange',
    );
    expect(() => build(planted, 'random', { length: 4, vocabRange: [60, 80] })).toThrow(/^task induction: \[60, 80\) has 4 usable token ids/);
  });

  it('names the field of a bad option', () => {
    expect(() => inductionTask.parseOptions({ length: 2 }, 'task.options')).toThrow(/^task\.options\.length: Too small/);
    expect(() => inductionTask.parseOptions({ vocabRange: [9, 3] }, 'task.options')).toThrow('task.options.vocabRange: expected [lo, hi) with lo < hi');
    expect(() => inductionTask.parseOptions({ vocabRange: [1, 'x'] }, 'task.options')).toThrow(/^task\.options\.vocabRange\[1\]: expected number/);
    expect(() => inductionTask.parseOptions({ cut: 'first' }, 'task.options')).toThrow('task.options.cut: expected one of random, last');
  });
});

describe('induction with GPT-2', () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await gpt2Tokenizer();
  });

  it('draws ordinary tokens only', () => {
    const ctx: TaskContext = { tokenizer: tok, vocabSize: tok.vocabSize, dataDir: '' };
    const isOrdinary = ordinaryTokenTest(tok);
    expect(isOrdinary(50256)).toBe(false); // <|endoftext|>
    expect(isOrdinary(128)).toBe(false); // a lone UTF-8 byte
    expect(isOrdinary(15474)).toBe(false); // 'の' and half of the next character
    expect(isOrdinary(tok.encode(' the')[0] ?? -1)).toBe(true);
    expect(isOrdinary(tok.encode('!')[0] ?? -1)).toBe(true); // printable bytes are GPT-2's only spelling of them
    for (const pair of build(ctx, 'random', { length: 20 }).pairs) {
      checkPair(pair, 20, undefined);
      for (const id of pair.clean) expect(isOrdinary(id)).toBe(true);
      expect(pair.cleanText).toBe(tok.decode(pair.clean));
    }
  });
});

describeShared('induction with stories260K', () => {
  let spm: Tokenizer;
  beforeAll(async () => {
    spm = (await loadTokenizer(stories260kPath))!;
  });

  it('prepends BOS and skips control and byte tokens', () => {
    const ctx: TaskContext = { tokenizer: spm, vocabSize: 512, dataDir: '' };
    const pool = inductionTokenPool(ctx);
    expect(pool).not.toContain(0); // <unk>
    expect(pool).not.toContain(1); // <s>
    expect(pool).not.toContain(2); // </s>
    expect(pool.some((id) => /^<0x/.test(spm.tokenText(id)))).toBe(false);
    expect(pool.length).toBe(512 - 3 - 256);
    for (const pair of build(ctx, 'random', { length: 12 }).pairs) {
      checkPair(pair, 12, 1);
      for (const id of pair.clean.slice(1)) expect(pool).toContain(id);
      expect(Math.max(...pair.clean, ...pair.corrupted)).toBeLessThan(512);
    }
  });

  it('keeps to the model vocabulary when it is smaller than the tokenizer', () => {
    const ctx: TaskContext = { tokenizer: spm, vocabSize: 300, dataDir: '' };
    for (const pair of build(ctx, 'random', { length: 8 }).pairs) expect(Math.max(...pair.clean, ...pair.corrupted)).toBeLessThan(300);
  });
});
