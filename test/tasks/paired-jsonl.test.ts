// Paired prompts from JSONL: the example file, key positions from spans, tokens or differences,
// and every error naming the file, the line and the field.
import { parseCorruption } from '../../src/tasks/pairs.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { pairedJsonlTask, parsePairLines, tokensInSpan } from '../../src/tasks/paired-jsonl.js';
import type { Dataset, TaskContext } from '../../src/tasks/types.js';
import { gpt2Tokenizer } from '../../src/tokenizer/gpt2.js';
import type { Tokenizer } from '../../src/tokenizer/types.js';

const dataDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'data');

let tok: Tokenizer;
let ctx: TaskContext;
let dir: string;
beforeAll(async () => {
  tok = await gpt2Tokenizer();
  dir = mkdtempSync(join(tmpdir(), 'paired-jsonl-'));
  ctx = { tokenizer: tok, vocabSize: tok.vocabSize, dataDir, baseDir: dir };
});
afterAll(() => rmSync(dir, { recursive: true }));

const line = (fields: Record<string, unknown>): string => JSON.stringify(fields);
const paris = { clean: 'The Eiffel Tower is in', corrupted: 'The Colosseum is in', answer: ' Paris', wrong: ' Rome' };

const GIVEN = { kind: 'str', variant: 'given' } as const;

/** Builds from a file facts.jsonl holding `lines`. */
const buildLines = (lines: readonly string[], corruption = 'given', count = lines.length, context: TaskContext = ctx): Dataset => {
  writeFileSync(join(dir, 'facts.jsonl'), lines.join('\n') + '\n');
  return pairedJsonlTask.build(context, pairedJsonlTask.parseOptions({ file: 'facts.jsonl' }, 'task.options'), parseCorruption(pairedJsonlTask, corruption), 0, count);
};
const error = (lines: readonly string[], corruption = 'given'): string => {
  try {
    buildLines(lines, corruption);
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return (err as Error).message;
  }
  throw new Error('expected a UserError');
};

describe('paired-jsonl', () => {
  it('reads the example file', () => {
    const options = pairedJsonlTask.parseOptions({ file: 'facts.example.jsonl' }, 'task.options');
    const dataset = pairedJsonlTask.build({ ...ctx, baseDir: dataDir }, options, GIVEN, 0, 10);
    expect(dataset.pairs).toHaveLength(10);
    for (const pair of dataset.pairs) {
      expect(pair.corrupted).toHaveLength(pair.clean.length);
      expect(pair.targets[0]!.position).toBe(pair.clean.length - 1);
      expect(pair.roles).toEqual({ END: pair.clean.length - 1 });
      expect(pair.keyPositions.length).toBeGreaterThan(0);
      expect(tok.decode(pair.clean)).toBe(pair.cleanText);
    }
    const first = dataset.pairs[0];
    expect(tok.tokenText(first?.targets[0]?.answer ?? -1)).toBe(' Paris');
    expect(tok.tokenText(first?.targets[0]?.wrong ?? -1)).toBe(' Rome');
    // Merkel's line keys the span "Angela Merkel"; the currency line keys token 3 (" Japan").
    const merkel = dataset.pairs[2];
    expect(tok.decode(merkel?.keyPositions.map((p) => merkel.clean[p] ?? -1) ?? [])).toBe('Angela Merkel');
    expect(dataset.pairs[8]?.keyPositions).toEqual([3]);
    expect(tok.tokenText(dataset.pairs[8]?.clean[3] ?? -1)).toBe(' Japan');
  });

  it('keys the tokens where clean and corrupted differ when no spans are given', () => {
    const [pair] = buildLines([line(paris)]).pairs;
    const differing = pair?.clean.flatMap((id, i) => (id === pair.corrupted[i] ? [] : [i]));
    expect(pair?.keyPositions).toEqual(differing);
    expect(pair?.keyPositions.length).toBeGreaterThan(0);
  });

  it('maps character spans to the tokens they touch, also through multi-byte characters', () => {
    const text = 'Zoë’s café is in Paris';
    const ids = tok.encode(text);
    const decodeAt = (positions: number[]): string => tok.decode(positions.map((p) => ids[p] ?? -1));
    const cafe = [...text].join('').indexOf('café');
    expect(decodeAt(tokensInSpan(tok, text, ids, cafe, cafe + 4)).trim()).toBe('café');
    expect(decodeAt(tokensInSpan(tok, text, ids, 0, 3))).toContain('Zoë');
    // One character in the middle of a token keys the whole token.
    expect(decodeAt(tokensInSpan(tok, text, ids, text.length - 3, text.length - 2))).toBe(' Paris');
  });

  it('offsets key_tokens and spans by BOS where the tokenizer has one', () => {
    const withBos: Tokenizer = { ...tok, bosId: 50256, encode: (t) => tok.encode(t), decode: (ids) => tok.decode(ids), tokenText: (id) => tok.tokenText(id) };
    const [pair] = buildLines([line({ ...paris, key_tokens: [1, 2] })], 'given', 1, { ...ctx, tokenizer: withBos }).pairs;
    expect(pair?.clean[0]).toBe(50256);
    expect(pair?.corrupted[0]).toBe(50256);
    expect(pair?.keyPositions).toEqual([2, 3]);
    expect(pair?.targets[0]?.position).toBe((pair?.clean.length ?? 0) - 1);
  });

  it('takes the first count pairs and checks every line', () => {
    const lines = [line(paris), line({ ...paris, answer: ' Lyon' }), line({ ...paris, answer: ' Nice' })];
    expect(buildLines(lines, 'given', 2).pairs.map((p) => tok.tokenText(p.targets[0]!.answer))).toEqual([' Paris', ' Lyon']);
    expect(() => buildLines(lines, 'given', 4)).toThrow('facts.jsonl has 3 prompt pairs, fewer than the 4 asked for');
    expect(() => buildLines([...lines, '{"clean": 1}'], 'given', 1)).toThrow(/^facts\.jsonl line 4: clean: expected string, received number$/);
  });

  it('gn keeps the prompt and needs no corrupted prompt when the keys are given', () => {
    const { clean, answer, key_spans } = { ...paris, key_spans: [[4, 10]] };
    const [pair] = buildLines([line({ clean, answer, key_spans })], 'gn').pairs;
    expect(pair?.corrupted).toEqual(pair?.clean);
    expect(tok.decode(pair?.keyPositions.map((p) => pair.clean[p] ?? -1) ?? [])).toBe(' Eiffel');
    expect(error([line({ clean, answer })], 'gn')).toBe('facts.jsonl line 1: Gaussian noising needs key_spans, key_tokens, or a corrupted prompt to tell which tokens to noise');
    expect(() => buildLines([line(paris)], 'gn:END')).toThrow('task paired-jsonl has no roles to noise');
  });

  describe('errors name the file, the line and the field', () => {
    it.each([
      ['not JSON', ['{"clean": "a",'], /^facts\.jsonl line 1: not valid JSON \(/],
      ['not an object', ['["a", "b"]'], 'facts.jsonl line 1: expected a JSON object'],
      ['a missing field', [line(paris), line({ clean: 'x', corrupted: 'y' })], 'facts.jsonl line 2: answer: give the answer as text (answer), a token id (answer_id), or targets, exactly one'],
      ['a wrong type', [line({ ...paris, wrong: 3 })], 'facts.jsonl line 1: wrong: expected string, received number'],
      [
        'an unknown field',
        [line({ ...paris, anwser: ' Paris' })],
        /^facts\.jsonl line 1: anwser: unknown field \(fields: clean, corrupted, clean_ids, corrupted_ids, answer, wrong, answer_id, wrong_id, targets, key_spans, key_tokens\)$/,
      ],
      ['an empty prompt', [line({ ...paris, clean: '' })], /^facts\.jsonl line 1: clean: Too small/],
      ['a bad span', [line({ ...paris, key_spans: [[5, 5]] })], 'facts.jsonl line 1: key_spans[0]: a span [start, end) needs start < end'],
      [
        'a span past the text',
        [
          line({
            ...paris,
            key_spans: [
              [0, 3],
              [20, 40],
            ],
          }),
        ],
        'facts.jsonl line 1: key_spans[1]: span [20, 40) runs past the clean text (22 characters)',
      ],
      ['a negative key token', [line({ ...paris, key_tokens: [-1] })], /^facts\.jsonl line 1: key_tokens\[0\]: Too small/],
      ['a key token past the prompt', [line({ ...paris, key_tokens: [0, 9] })], /^facts\.jsonl line 1: key_tokens\[1\]: position 9 is past the clean prompt's 7 tokens$/],
      ['spans and tokens both', [line({ ...paris, key_spans: [[0, 3]], key_tokens: [0] })], 'facts.jsonl line 1: key_tokens: give key_spans or key_tokens, not both'],
      [
        'a multi-token answer',
        [line(paris), line(paris), line({ ...paris, answer: ' San Francisco' })],
        'facts.jsonl line 3: answer: must tokenize to exactly one token after the clean prompt, got 2 (" San", " Francisco")',
      ],
      ['a multi-token wrong', [line({ ...paris, wrong: ' Vatican City' })], 'facts.jsonl line 1: wrong: must tokenize to exactly one token after the clean prompt, got 2 (" Vatican", " City")'],
      ['wrong equal to answer', [line({ ...paris, wrong: ' Paris' })], 'facts.jsonl line 1: wrong: is the same token as the answer (" Paris")'],
      [
        'a prompt ending in a space',
        [line({ ...paris, clean: 'The Eiffel Tower is in ', corrupted: 'The Colosseum is in ', answer: 'Paris' })],
        'facts.jsonl line 1: answer: the clean prompt ends with whitespace, which merges with the answer; put the space in the answer instead (" Paris")',
      ],
      [
        'different token lengths',
        [line(paris), line({ ...paris, corrupted: 'The Leaning Tower of Pisa is in' })],
        /^facts\.jsonl line 2: clean and corrupted must tokenize to the same length, got 7 tokens \("The", " E", .*\) and 9 \("The", " Le", "aning", .*\)$/,
      ],
      ['identical prompts', [line({ ...paris, corrupted: paris.clean })], 'facts.jsonl line 1: corrupted: tokenizes exactly like clean, so there is nothing to patch'],
      [
        'no corrupted prompt for STR',
        [line({ clean: paris.clean, answer: paris.answer })],
        'facts.jsonl line 1: corrupted: required for the STR corruption (it may be left out only for Gaussian noising)',
      ],
      ['an empty file', ['', '  '], 'facts.jsonl: no prompt pairs (expected one JSON object per line)'],
    ] as const)('%s', (_name, lines, expected) => {
      const message = error(lines);
      if (typeof expected === 'string') expect(message).toBe(expected);
      else expect(message).toMatch(expected);
    });

    it('a missing file, and a bad option', () => {
      const options = pairedJsonlTask.parseOptions({ file: 'nope.jsonl' }, 'task.options');
      expect(() => pairedJsonlTask.build(ctx, options, GIVEN, 0, 1)).toThrow('nope.jsonl: cannot read the prompt pairs (ENOENT)');
      expect(() => pairedJsonlTask.parseOptions({}, 'task.options')).toThrow('task.options.file: expected string, received undefined');
      expect(() => parsePairLines('\n\n{"clean": "a", "answer": 5}', 'x.jsonl')).toThrow('x.jsonl line 3: answer: expected string, received number');
    });
  });
});

describe('paired-jsonl with token ids (a model without a tokenizer)', () => {
  const noTokenizer: TaskContext = { vocabSize: 50, dataDir: '/nonexistent' };
  const idsLine = {
    clean_ids: [0, 5, 6, 7, 5, 6],
    corrupted_ids: [0, 5, 9, 7, 5, 6],
    targets: [
      { position: 4, answer_id: 6, wrong_id: 9 },
      { position: 5, answer_id: 7 },
    ],
  };

  it('takes prompts verbatim and several metric targets per pair', () => {
    const [pair] = buildLines([line(idsLine)], 'given', 1, { ...noTokenizer, baseDir: dir }).pairs;
    expect(pair!.clean).toEqual([0, 5, 6, 7, 5, 6]);
    expect(pair!.corrupted).toEqual([0, 5, 9, 7, 5, 6]);
    expect(pair!.targets).toEqual([
      { position: 4, answer: 6, wrong: 9 },
      { position: 5, answer: 7 },
    ]);
    expect(pair!.keyPositions).toEqual([2]);
    expect(pair!.cleanText).toBe('0 5 6 7 5 6');
  });

  it('reads answer_id and wrong_id at the last position, and key_tokens as given', () => {
    const [pair] = buildLines([line({ clean_ids: [1, 2, 3], corrupted_ids: [1, 4, 3], answer_id: 8, wrong_id: 9, key_tokens: [0, 1] })], 'given', 1, { ...noTokenizer, baseDir: dir }).pairs;
    expect(pair!.targets).toEqual([{ position: 2, answer: 8, wrong: 9 }]);
    expect(pair!.keyPositions).toEqual([0, 1]);
  });

  it('refuses text with one line naming the field when the model has no tokenizer', () => {
    writeFileSync(join(dir, 'facts.jsonl'), line(paris) + '\n');
    const options = pairedJsonlTask.parseOptions({ file: 'facts.jsonl' }, 'task.options');
    expect(() => pairedJsonlTask.build({ ...noTokenizer, baseDir: dir }, options, GIVEN, 0, 1)).toThrow(
      /^facts\.jsonl line 1: clean: the model has no tokenizer files, so prompts must be token ids \(clean_ids, corrupted_ids, answer_id\)$/,
    );
  });

  it.each([
    ['a target past the prompt', { ...idsLine, targets: [{ position: 6, answer_id: 1 }] }, "facts.jsonl line 1: targets[0].position: position 6 is past the clean prompt's 6 tokens"],
    ['an id outside the vocabulary', { ...idsLine, targets: [{ position: 5, answer_id: 50 }] }, "paired-jsonl pair 0: token id 50 is outside the model's vocabulary (0..49)"],
    ['text and ids mixed', { clean: 'a', clean_ids: [1], answer_id: 1 }, 'facts.jsonl line 1: clean: give the clean prompt as text (clean) or token ids (clean_ids), exactly one'],
    [
      'targets with a text prompt',
      { clean: 'a b', corrupted: 'a c', targets: [{ position: 0, answer_id: 1 }] },
      'facts.jsonl line 1: targets: targets count positions in clean_ids, so they need token-id prompts',
    ],
    ['lengths differ', { clean_ids: [1, 2], corrupted_ids: [1], answer_id: 3 }, 'facts.jsonl line 1: clean and corrupted must have the same length, got 2 tokens (1 2) and 1 (1)'],
  ] as const)('%s is one line naming it', (_name, fields, expected) => {
    writeFileSync(join(dir, 'facts.jsonl'), line(fields) + '\n');
    const options = pairedJsonlTask.parseOptions({ file: 'facts.jsonl' }, 'task.options');
    expect(() => pairedJsonlTask.build({ ...noTokenizer, baseDir: dir }, options, GIVEN, 0, 1)).toThrow(expected);
  });
});

describe('paired-jsonl format eap-csv (EAP-IG / MIB files)', () => {
  // Rows as EAP-IG's IOI CSV writes them: text prompts, answers as GPT-2 token ids (" Mary" 5335, " John" 1757).
  const csv = [
    'clean,corrupted,correct_idx,incorrect_idx',
    'When Mary and John went to the store. John gave a drink to,When Mary and John went to the store. Paul gave a drink to,5335,1757',
    '"When John and Mary went to the park, Mary gave a ball to","When John and Mary went to the park, Paul gave a ball to",1757,5335',
  ].join('\n');
  const build = (text: string, count = 2): Dataset => {
    writeFileSync(join(dir, 'ioi.csv'), text);
    return pairedJsonlTask.build(ctx, pairedJsonlTask.parseOptions({ file: 'ioi.csv', format: 'eap-csv' }, 'task.options'), GIVEN, 0, count);
  };

  it('imports clean, corrupted and the answer ids (quoted fields with commas included)', () => {
    const { pairs } = build(csv);
    expect(pairs).toHaveLength(2);
    expect(pairs[0]!.targets).toEqual([{ position: pairs[0]!.clean.length - 1, answer: 5335, wrong: 1757 }]);
    expect(tok.tokenText(pairs[0]!.targets[0]!.answer)).toBe(' Mary');
    expect(pairs[1]!.cleanText).toBe('When John and Mary went to the park, Mary gave a ball to');
    expect(tok.decode(pairs[1]!.corrupted)).toBe('When John and Mary went to the park, Paul gave a ball to');
    expect(pairs[1]!.keyPositions).toEqual([pairs[1]!.clean.indexOf(tok.encode(' Mary')[0]!, 5)]);
  });

  it('names the row and column of a bad cell, and a missing column', () => {
    expect(() => build(csv.replace(',5335,1757', ',Mary,1757'))).toThrow('ioi.csv line 2: correct_idx: expected a token id, got "Mary"');
    expect(() => build('clean,corrupted\na,b\n')).toThrow('ioi.csv: the header has no column correct_idx (columns: clean, corrupted)');
    expect(() => build(csv + '\n"unclosed,b,1,2')).toThrow('ioi.csv line 4: a quoted field is never closed');
  });
});
