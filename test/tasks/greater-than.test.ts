// Greater-than with GPT-2's tokenizer: years split as " 17" + "32", the 01 corruption, and the
// token sets the probability-difference metric sums over.
import { parseCorruption } from '../../src/tasks/pairs.js';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { greaterThanTask, twoDigitTokens } from '../../src/tasks/greater-than.js';
import type { Dataset, PromptPair, TaskContext } from '../../src/tasks/types.js';
import { gpt2Tokenizer } from '../../src/tokenizer/gpt2.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import type { Tokenizer } from '../../src/tokenizer/types.js';
import { describeShared, stories260kPath } from '../support/shared.js';

const dataDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'data');

let tok: Tokenizer;
let ctx: TaskContext;
beforeAll(async () => {
  tok = await gpt2Tokenizer();
  ctx = { tokenizer: tok, vocabSize: tok.vocabSize, dataDir };
});

const build = (corruption: string, seed = 1, count = 200, options: unknown = {}): Dataset =>
  greaterThanTask.build(ctx, greaterThanTask.parseOptions(options, 'task.options'), parseCorruption(greaterThanTask, corruption), seed, count);
const at = (pair: PromptPair, role: string, ids: readonly number[] = pair.clean): string => tok.tokenText(ids[pair.roles[role] ?? -1] ?? -1);
const twoDigits = (n: number): string => String(n).padStart(2, '0');

describe('greater-than', () => {
  it('has one GPT-2 token for each of "00".."99"', () => {
    const tokens = twoDigitTokens(tok);
    expect(new Set(tokens).size).toBe(100);
    tokens.forEach((id, yy) => expect(tok.tokenText(id)).toBe(twoDigits(yy)));
  });

  it('builds prompts whose years split into century and two-digit tokens', () => {
    for (const pair of build('01').pairs) {
      const text = pair.cleanText ?? '';
      const match = /^The (\w+) lasted from the year (\d\d)(\d\d) to the year (\d\d)$/.exec(text);
      expect(match, text).not.toBeNull();
      const [, noun, xx, yy, xx2] = match as unknown as [string, string, string, string, string];
      expect(xx2).toBe(xx);
      expect(Number(xx)).toBeGreaterThanOrEqual(11);
      expect(Number(xx)).toBeLessThanOrEqual(17);
      expect(Number(yy)).toBeGreaterThanOrEqual(2);
      expect(Number(yy)).toBeLessThanOrEqual(98);
      expect(tok.decode(pair.clean)).toBe(text);
      expect(at(pair, 'NOUN')).toBe(` ${noun}`);
      expect(at(pair, 'XX1')).toBe(` ${xx}`);
      expect(at(pair, 'YY')).toBe(yy);
      expect(at(pair, 'XX2')).toBe(` ${xx}`);
      expect(pair.roles.END).toBe(pair.clean.length - 1);
      expect(pair.roles.XX2).toBe(pair.roles.END);
      expect(pair.targets[0]!.position).toBe(pair.clean.length - 1);
      expect(pair.roles.YY).toBe((pair.roles.XX1 ?? 0) + 1);
    }
  });

  it('corrupts YY to 01 and nothing else', () => {
    for (const pair of build('01').pairs) {
      expect(pair.corrupted).toHaveLength(pair.clean.length);
      expect(pair.keyPositions).toEqual([pair.roles.YY]);
      expect(at(pair, 'YY', pair.corrupted)).toBe('01');
      expect(pair.corruptedText).toMatch(/from the year \d\d01 to/);
      expect(pair.corrupted.filter((id, i) => id !== pair.clean[i])).toHaveLength(1);
    }
  });

  it('gives the metric the years above YY and those at or below it', () => {
    const tokens = twoDigitTokens(tok);
    for (const pair of build('01', 2, 50).pairs) {
      const yy = Number(at(pair, 'YY'));
      const { greater, notGreater } = pair.tokenSets ?? {};
      expect(greater).toEqual(tokens.slice(yy + 1));
      expect(notGreater).toEqual(tokens.slice(0, yy + 1));
      expect(new Set([...(greater ?? []), ...(notGreater ?? [])]).size).toBe(100);
      expect(tok.tokenText(pair.targets[0]!.answer)).toBe(twoDigits(yy + 1));
      expect(tok.tokenText(pair.targets[0]!.wrong ?? -1)).toBe(twoDigits(yy));
    }
  });

  it('leaves out years that GPT-2 does not split (1700 is one token " 1700")', () => {
    expect(tok.encode(' 1700')).toHaveLength(1);
    const dataset = build('01', 3, 100, { centuries: [17], yyMin: 2, yyMax: 98 });
    expect(dataset.settings.usableYears).toBeLessThanOrEqual(97);
    for (const pair of dataset.pairs) expect(at(pair, 'XX1')).toBe(' 17');
  });

  it('is deterministic by seed; gn keeps the prompt and keys YY', () => {
    expect(build('01', 4, 20)).toEqual(build('01', 4, 20));
    const gn = build('gn', 4, 20);
    gn.pairs.forEach((pair, i) => {
      expect(pair.clean).toEqual(build('01', 4, 20).pairs[i]?.clean);
      expect(pair.corrupted).toEqual(pair.clean);
      expect(pair.keyPositions).toEqual([pair.roles.YY]);
    });
    for (const pair of build('gn:XX1,YY', 4, 5).pairs) expect(pair.keyPositions).toEqual([pair.roles.XX1, pair.roles.YY]);
  });

  it('names the field of a bad option', () => {
    expect(() => greaterThanTask.parseOptions({ yyMin: 50, yyMax: 40 }, 'task.options')).toThrow('task.options.yyMin: yyMin must not exceed yyMax');
    expect(() => greaterThanTask.parseOptions({ yyMin: 1 }, 'task.options')).toThrow(/^task\.options\.yyMin: Too small/);
    expect(() => greaterThanTask.parseOptions({ centuries: [17, 'x'] }, 'task.options')).toThrow(/^task\.options\.centuries\[1\]: expected number/);
    expect(() => build('02')).toThrow('task greater-than has no corruption "02"');
  });
});

describeShared('greater-than on stories260K', () => {
  it('explains that its tokenizer splits two-digit numbers', async () => {
    const spm = (await loadTokenizer(stories260kPath))!;
    expect(() => greaterThanTask.build({ tokenizer: spm, vocabSize: 512, dataDir }, greaterThanTask.parseOptions({}, 'o'), { kind: 'str', variant: '01' }, 1, 4)).toThrow(
      /^task greater-than needs every two-digit number "00"\.\."99" to be one token, and this tokenizer makes "00" "( )?0", "0"$/,
    );
  });
});
