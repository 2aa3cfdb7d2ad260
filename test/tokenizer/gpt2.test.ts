import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { gpt2DirectoryTokenizer, gpt2Tokenizer, gpt2TokenizerJson } from '../../src/tokenizer/gpt2.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import type { Tokenizer } from '../../src/tokenizer/types.js';
import { gpt2FilesFromRanks, mergesTxt } from '../../src/tokenizer/gpt2-files.js';

// Text that exercises the pre-tokenizer regex (contractions, digits, runs of spaces and newlines),
// multi-byte characters split across tokens, and emoji.
const corpus = [
  'Hello world',
  'When Mary and John went to the store, John gave a drink to',
  "I'm sure they'll say it's 42 -- or 3.14159?",
  '  leading spaces,   inner runs\n\n\ttabs and trailing   ',
  'Ünïcödé: naïve café, Straße, ÆØÅ, Ελληνικά, русский, 日本語のテキスト, 한국어',
  'emoji 🎉🚀 family 👨‍👩‍👧 flags 🇫🇷 skin 👍🏽',
  'code: for (let i = 0; i < n; i++) { x += a[i] * 2; }',
  '\u00a0non-breaking\u2009thin\u3000ideographic spaces',
  '',
];

describe('GPT-2 tokenizer (bundled r50k_base)', () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await gpt2Tokenizer();
  });

  it('has GPT-2 vocabulary, no BOS and <|endoftext|> as EOS', () => {
    expect(tok.kind).toBe('gpt2-bpe');
    expect(tok.vocabSize).toBe(50257);
    expect(tok.bosId).toBeUndefined();
    expect(tok.eosId).toBe(50256);
  });

  it('gives GPT-2 ids for known text', () => {
    expect(tok.encode('Hello world')).toEqual([15496, 995]);
    expect(tok.encode(' Mary and John went to the store')).toEqual([5335, 290, 1757, 1816, 284, 262, 3650]);
    expect(tok.encode('When Mary and John went to the store, John gave a drink to')).toEqual([2215, 5335, 290, 1757, 1816, 284, 262, 3650, 11, 1757, 2921, 257, 4144, 284]);
    expect(tok.encode('\n')).toEqual([198]);
  });

  it('round-trips text exactly', () => {
    for (const text of corpus) expect(tok.decode(tok.encode(text))).toBe(text);
  });

  it('reads <|endoftext|> in text as the special token, anywhere, and decode drops it', () => {
    expect(tok.encode('<|endoftext|>')).toEqual([50256]);
    expect(tok.encode('a<|endoftext|>b')).toEqual([64, 50256, 65]);
    expect(tok.decode([64, 50256, 65])).toBe('ab');
  });

  it('shows single tokens readably', () => {
    expect(tok.tokenText(995)).toBe(' world');
    expect(tok.tokenText(15496)).toBe('Hello');
    expect(tok.tokenText(198)).toBe('\\n');
    expect(tok.tokenText(50256)).toBe('<|endoftext|>');
    // ' 🎉' is split inside its UTF-8 bytes; the partial bytes are shown as <0xNN>.
    const party = tok.encode(' 🎉');
    expect(party.map((id) => tok.tokenText(id)).join('')).toBe(' <0xF0><0x9F><0x8E><0x89>');
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => tok.decode([50257])).toThrow(UserError);
    expect(() => tok.tokenText(-1)).toThrow(UserError);
  });
});

describe('GPT-2 tokenizer from model files (@huggingface/tokenizers)', () => {
  let bundled: Tokenizer;
  let dir: string;
  beforeAll(async () => {
    bundled = await gpt2Tokenizer();
    dir = mkdtempSync(join(tmpdir(), 'patchwise-gpt2-'));
    const { vocab, merges } = gpt2FilesFromRanks();
    const files = join(dir, 'files');
    const json = join(dir, 'json');
    mkdirSync(files);
    mkdirSync(json);
    writeFileSync(join(files, 'vocab.json'), JSON.stringify(vocab));
    writeFileSync(join(files, 'merges.txt'), mergesTxt(merges));
    writeFileSync(join(files, 'config.json'), JSON.stringify({ model_type: 'gpt2' }));
    writeFileSync(join(json, 'tokenizer.json'), JSON.stringify(gpt2TokenizerJson(vocab, merges, 'test')));
  }, 30_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const variant of ['files', 'json'] as const) {
    it(`agrees with the bundled tokenizer (${variant === 'files' ? 'vocab.json + merges.txt' : 'tokenizer.json'})`, async () => {
      const tok = (await gpt2DirectoryTokenizer(join(dir, variant)))!;
      expect(tok.kind).toBe('gpt2-bpe');
      expect(tok.vocabSize).toBe(50257);
      expect(tok.bosId).toBeUndefined();
      expect(tok.eosId).toBe(50256);
      for (const text of [...corpus, 'a<|endoftext|>b']) {
        const ids = tok.encode(text);
        expect(ids).toEqual(bundled.encode(text));
        expect(tok.decode(ids)).toBe(bundled.decode(ids));
        expect(ids.map((id) => tok.tokenText(id))).toEqual(ids.map((id) => bundled.tokenText(id)));
      }
      for (const id of [0, 198, 220, 995, 12520, 50255, 50256]) expect(tok.tokenText(id)).toBe(bundled.tokenText(id));
    });
  }

  it('is what loadTokenizer gives for a directory whose config.json says gpt2', async () => {
    const tok = (await loadTokenizer(join(dir, 'files')))!;
    expect(tok.encode('Hello world')).toEqual([15496, 995]);
  });

  it('gives no tokenizer for a directory without tokenizer files (no vocabulary is substituted)', async () => {
    expect(await gpt2DirectoryTokenizer(dir)).toBeUndefined();
  });

  it('refuses vocab.json without merges.txt', async () => {
    const half = mkdtempSync(join(tmpdir(), 'patchwise-gpt2-half-'));
    try {
      writeFileSync(join(half, 'vocab.json'), '{}');
      await expect(gpt2DirectoryTokenizer(half)).rejects.toThrow(/merges\.txt is missing/);
    } finally {
      rmSync(half, { recursive: true, force: true });
    }
  });
});
