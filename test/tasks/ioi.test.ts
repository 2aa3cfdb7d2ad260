// IOI prompts with GPT-2's tokenizer: roles on the right tokens for every template, order and
// corruption; equal lengths; one-token names; the same seed, the same dataset.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { IOI_TEMPLATES, ioiTask, singleTokenNames } from '../../src/tasks/ioi.js';
import { checkedPair, parseCorruption } from '../../src/tasks/pairs.js';
import { readWordList } from '../../src/tasks/word-lists.js';
import type { Dataset, PromptPair, TaskContext } from '../../src/tasks/types.js';
import { gpt2Tokenizer } from '../../src/tokenizer/gpt2.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import type { Tokenizer } from '../../src/tokenizer/types.js';
import { describeShared, stories260kPath } from '../support/shared.js';

const dataDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'data');

let tok: Tokenizer;
let ctx: TaskContext;
let names: Set<string>;
beforeAll(async () => {
  tok = await gpt2Tokenizer();
  ctx = { tokenizer: tok, vocabSize: tok.vocabSize, dataDir };
  names = new Set(readWordList(dataDir, 'names.txt'));
});

const S2_IO = { kind: 'str', variant: 's2-io' } as const;
const build = (corruption: string, seed = 1, count = 200, options: unknown = {}): Dataset =>
  ioiTask.build(ctx, ioiTask.parseOptions(options, 'task.options'), parseCorruption(ioiTask, corruption), seed, count);

const role = (pair: PromptPair, name: string): number => {
  const position = pair.roles[name];
  if (position === undefined) throw new Error(`no role ${name}`);
  return position;
};
const text = (id: number | undefined): string => tok.decode([id ?? -1]);
const nameAt = (ids: readonly number[], position: number): string => {
  const t = text(ids[position]);
  expect(t.startsWith(' ')).toBe(true);
  expect(names.has(t.slice(1))).toBe(true);
  return t.slice(1);
};
const templateOf = (cleanText: string): number => {
  const index = IOI_TEMPLATES.findIndex((t) => {
    const pattern = t
      .replace(/[.,]/g, '\\$&')
      .replace(/\{(A|B|S)\}/g, '\\w+')
      .replace(/\{(PLACE|OBJECT)\}/g, '[\\w ]+');
    return new RegExp(`^${pattern}$`).test(cleanText);
  });
  expect(index, cleanText).toBeGreaterThanOrEqual(0);
  return index;
};

describe('ioi', () => {
  it('uses only the names that are one GPT-2 token with a leading space', () => {
    const kept = singleTokenNames(tok, [...names]);
    expect(kept.length).toBeGreaterThanOrEqual(80);
    for (const name of kept) expect(tok.encode(` ${name}`)).toHaveLength(1);
    expect(singleTokenNames(tok, ['Mary', 'Zebediah'])).toEqual(['Mary']);
  });

  it('puts IO, S1, S2 and END on the right tokens in every template and both orders', () => {
    const seen = new Set<string>();
    for (const pair of build('s2-io').pairs) {
      const [io, s1, s2, end] = ['IO', 'S1', 'S2', 'END'].map((r) => role(pair, r)) as [number, number, number, number];
      const ioName = nameAt(pair.clean, io);
      const sName = nameAt(pair.clean, s1);
      expect(ioName).not.toBe(sName);
      expect(pair.clean[s2]).toBe(pair.clean[s1]);
      expect(s2).toBeGreaterThan(Math.max(io, s1));
      expect(end).toBe(pair.clean.length - 1);
      expect(pair.targets[0]!.position).toBe(end);
      expect(pair.targets[0]!.answer).toBe(pair.clean[io]);
      expect(pair.targets[0]!.wrong).toBe(pair.clean[s1]);
      expect(tok.decode(pair.clean)).toBe(pair.cleanText);
      // The first clause names IO first (ABBA) or S first (BABA): "{A} and {B}".
      const order = io < s1 ? 'ABBA' : 'BABA';
      expect(pair.cleanText).toContain(order === 'ABBA' ? `${ioName} and ${sName}` : `${sName} and ${ioName}`);
      expect(order).toBe(pair.index % 2 === 0 ? 'ABBA' : 'BABA');
      seen.add(`${templateOf(pair.cleanText ?? '')}:${order}`);
    }
    expect(seen.size).toBe(2 * IOI_TEMPLATES.length);
  });

  it('s2-io replaces only S2, by the IO name', () => {
    for (const pair of build('s2-io').pairs) {
      const s2 = role(pair, 'S2');
      expect(pair.corrupted).toHaveLength(pair.clean.length);
      expect(pair.keyPositions).toEqual([s2]);
      expect(pair.corrupted[s2]).toBe(pair.clean[role(pair, 'IO')]);
      expect(pair.corrupted.filter((id, i) => id !== pair.clean[i])).toHaveLength(1);
      expect(tok.decode(pair.corrupted)).toBe(pair.corruptedText);
    }
  });

  it('s1-io-other replaces S1 and IO by two other names', () => {
    for (const pair of build('s1-io-other').pairs) {
      const [io, s1, s2] = ['IO', 'S1', 'S2'].map((r) => role(pair, r)) as [number, number, number];
      expect(pair.keyPositions).toEqual([io, s1].sort((a, b) => a - b));
      const fresh = [nameAt(pair.corrupted, io), nameAt(pair.corrupted, s1)];
      const old = [nameAt(pair.clean, io), nameAt(pair.clean, s1)];
      expect(new Set([...fresh, ...old]).size).toBe(4);
      expect(pair.corrupted[s2]).toBe(pair.clean[s2]);
      expect(pair.corrupted.filter((id, i) => id !== pair.clean[i])).toHaveLength(2);
    }
  });

  it('abc replaces IO, S1 and S2 by three distinct other names', () => {
    for (const pair of build('abc').pairs) {
      const positions = ['IO', 'S1', 'S2'].map((r) => role(pair, r));
      expect(pair.keyPositions).toEqual([...positions].sort((a, b) => a - b));
      const fresh = positions.map((p) => nameAt(pair.corrupted, p));
      expect(new Set(fresh).size).toBe(3);
      for (const name of fresh) expect([nameAt(pair.clean, role(pair, 'IO')), nameAt(pair.clean, role(pair, 'S1'))]).not.toContain(name);
      expect(pair.corrupted.filter((id, i) => id !== pair.clean[i])).toHaveLength(3);
    }
  });

  it('gn leaves the prompt alone and keys the chosen roles', () => {
    for (const pair of build('gn', 1, 20).pairs) {
      expect(pair.corrupted).toEqual(pair.clean);
      expect(pair.keyPositions).toEqual(['IO', 'S1', 'S2'].map((r) => role(pair, r)).sort((a, b) => a - b));
    }
    for (const pair of build('gn:S2,END', 1, 20).pairs) expect(pair.keyPositions).toEqual([role(pair, 'S2'), role(pair, 'END')]);
    expect(() => build('gn:X', 1, 2)).toThrow('task ioi has no role "X" to noise (roles: IO, S1, S2, END)');
    // Built directly (not parsed), a role the prompts lack is still named with its pair.
    expect(() => ioiTask.build(ctx, ioiTask.parseOptions({}, 'o'), { kind: 'gn', roles: ['X'] }, 1, 2)).toThrow(/ioi pair 0: no role "X" to noise \(roles: .*IO.*\)/);
  });

  it('is deterministic by seed, and the clean prompts do not depend on the corruption', () => {
    expect(build('abc', 7, 30)).toEqual(build('abc', 7, 30));
    expect(build('abc', 8, 30).pairs.map((p) => p.clean)).not.toEqual(build('abc', 7, 30).pairs.map((p) => p.clean));
    const clean = build('s2-io', 7, 30).pairs.map((p) => p.clean);
    for (const corruption of ['s1-io-other', 'abc', 'gn']) expect(build(corruption, 7, 30).pairs.map((p) => p.clean)).toEqual(clean);
    const dataset = build('abc', 7, 3);
    expect(dataset.settings).toMatchObject({ task: 'ioi', corruption: 'abc', seed: 7, count: 3, options: { templates: 'mixed' } });
  });

  it('generates only the requested order', () => {
    for (const pair of build('s2-io', 3, 20, { templates: 'BABA' }).pairs) expect(role(pair, 'S1')).toBeLessThan(role(pair, 'IO'));
    for (const pair of build('s2-io', 3, 20, { templates: 'ABBA' }).pairs) expect(role(pair, 'IO')).toBeLessThan(role(pair, 'S1'));
  });

  it('prepends BOS where the tokenizer has one, shifting the roles', () => {
    const withBos: Tokenizer = {
      kind: tok.kind,
      vocabSize: tok.vocabSize,
      bosId: 50256,
      encode: (t) => tok.encode(t),
      decode: (ids) => tok.decode(ids.filter((id) => id !== 50256)),
      tokenText: (id) => tok.tokenText(id),
    };
    const plain = build('s2-io', 5, 10);
    const bos = ioiTask.build({ ...ctx, tokenizer: withBos }, ioiTask.parseOptions({}, 'o'), S2_IO, 5, 10);
    bos.pairs.forEach((pair, i) => {
      const before = plain.pairs[i] as PromptPair;
      expect(pair.clean).toEqual([50256, ...before.clean]);
      expect(pair.corrupted).toEqual([50256, ...before.corrupted]);
      for (const [name, position] of Object.entries(before.roles)) expect(pair.roles[name]).toBe(position + 1);
      expect(pair.keyPositions).toEqual(before.keyPositions.map((p) => p + 1));
    });
  });

  it('names the field of a bad option', () => {
    expect(() => ioiTask.parseOptions({ templates: 'CABA' }, 'task.options')).toThrow('task.options.templates: expected one of BABA, ABBA, mixed');
    expect(() => ioiTask.parseOptions({ template: 'ABBA' }, 'p.yaml: task.options')).toThrow('p.yaml: task.options.template: unknown field (fields: templates, namesFile, placesFile, objectsFile)');
    expect(() => ioiTask.parseOptions({ templates: 'CABA' }, 'x')).toThrow(UserError);
    expect(() => build('s9')).toThrow('task ioi has no corruption "s9" (known: s2-io, s1-io-other, abc, str, gn, gn:ROLE,...)');
  });

  it('needs at least five one-token names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ioi-'));
    try {
      writeFileSync(join(dir, 'names.txt'), 'Mary\nJohn\nZebediah\nBartholomew\n');
      writeFileSync(join(dir, 'places.txt'), 'store\n');
      writeFileSync(join(dir, 'objects.txt'), '# nothing but a comment\n\n');
      const options = ioiTask.parseOptions({}, 'o');
      expect(() => ioiTask.build({ ...ctx, dataDir: dir }, options, S2_IO, 1, 1)).toThrow(
        'task ioi: only 2 of the 4 names in names.txt are one token for this tokenizer (with a leading space); at least 5 are needed',
      );
      writeFileSync(join(dir, 'names.txt'), 'Mary\nJohn\nJames\nPaul\nMark\n');
      expect(() => ioiTask.build({ ...ctx, dataDir: dir }, options, S2_IO, 1, 1)).toThrow(/objects\.txt: the word list is empty/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('refuses to run without a tokenizer', () => {
    expect(() => ioiTask.build({ vocabSize: 64, dataDir }, ioiTask.parseOptions({}, 'o'), S2_IO, 1, 1)).toThrow(/task ioi .* needs the model's tokenizer/);
  });
});

describe('checkedPair', () => {
  it('names the pair whose prompts differ in length', () => {
    const pair = { index: 3, clean: [1, 2, 3], corrupted: [1, 2], targets: [{ position: 2, answer: 4 }], keyPositions: [1], roles: {} };
    expect(() => checkedPair('ioi', 10, pair)).toThrow('ioi pair 3: clean and corrupted prompts must have the same token length, got 3 and 2');
    expect(() => checkedPair('ioi', 10, { ...pair, corrupted: [1, 2, 5], keyPositions: [3] })).toThrow('ioi pair 3: key position 3 is outside the 3-token prompt');
    expect(() => checkedPair('ioi', 4, { ...pair, corrupted: [1, 2, 3] })).toThrow("ioi pair 3: token id 4 is outside the model's vocabulary (0..3)");
  });
});

describeShared('ioi on stories260K', () => {
  it('explains that the names are not single tokens of its 512-token vocabulary', async () => {
    const spm = (await loadTokenizer(stories260kPath))!;
    expect(() => ioiTask.build({ tokenizer: spm, vocabSize: 512, dataDir }, ioiTask.parseOptions({}, 'o'), S2_IO, 1, 4)).toThrow(/task ioi: only \d+ of the \d+ names in names\.txt are one token/);
  });
});
