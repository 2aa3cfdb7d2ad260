// Mean ablation's reference prompts from a file: JSON token-id lists or text lines through the
// model's tokenizer, every problem named by file and line or index.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readReferencePrompts } from '../../src/experiment/ablation.js';
import type { Tokenizer } from '../../src/tokenizer/types.js';

const dir = mkdtempSync(join(tmpdir(), 'patchwise-ablation-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string): string => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};

/** A character-level tokenizer with a BOS (id 0): 'a' is 1, 'b' 2, ... */
const chars: Tokenizer = {
  kind: 'sentencepiece',
  vocabSize: 27,
  bosId: 0,
  encode: (text) => [...text.replace(/[^a-z]/g, '')].map((ch) => ch.charCodeAt(0) - 96),
  decode: (ids) => ids.map((i) => String.fromCharCode(i + 96)).join(''),
  tokenText: (id) => String.fromCharCode(id + 96),
};

describe('mean ablation reference prompts', () => {
  it('reads JSON token-id lists, and text lines through the tokenizer with its BOS (blank lines skipped)', () => {
    expect(readReferencePrompts(write('r.json', '[[1, 2], [3]]'), undefined, 8)).toEqual([[1, 2], [3]]);
    expect(readReferencePrompts(write('r.txt', 'ab\n\nc\n'), chars, 27)).toEqual([
      [0, 1, 2],
      [0, 3],
    ]);
  });

  it('names the file and the entry of every problem', () => {
    expect(() => readReferencePrompts(write('bad.json', '[[1, 2], [9]]'), undefined, 8)).toThrow(/bad\.json: \[1\]: expected a non-empty list of token ids in \[0, 8\)/);
    expect(() => readReferencePrompts(write('t.txt', 'ab\n'), undefined, 8)).toThrow(/t\.txt: text reference prompts need the model's tokenizer/);
    expect(() => readReferencePrompts(write('e.txt', 'ab\n123\n'), chars, 27)).toThrow(/e\.txt:2: the line encodes to no tokens/);
    expect(() => readReferencePrompts(write('empty.json', '[]'), undefined, 8)).toThrow(/empty\.json: no reference prompts/);
    expect(() => readReferencePrompts(join(dir, 'missing.txt'), chars, 27)).toThrow(/missing\.txt: cannot read the reference prompts/);
  });
});
