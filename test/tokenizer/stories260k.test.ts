// The SentencePiece tokenizer on a real vocabulary: stories260K's 512 tokens, and the ids its
// model generated greedily (stories260K.golden.json).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGgufMetadata } from '../../src/checkpoints/formats/gguf.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import { TokenType, type SentencePieceVocab } from '../../src/tokenizer/sentencepiece.js';
import type { Tokenizer } from '../../src/tokenizer/types.js';
import { describeShared, stories260kGoldenPath, stories260kPath } from '../support/shared.js';
import { llamaTokenizerJson } from './llama-tokenizer-json.js';

const assorted = [
  'Once upon a time, there was a little girl named Lily.',
  'Tom and Sue went to the park. "Look!" said Tom.',
  '  two leading spaces, double  inner, trailing ',
  'Line one\nLine two\n\n\ttabbed',
  'Prices: 3€, £5, ¥100 — “quoted” and ‘single’',
  'Emoji 😀🎉 and CJK 日本語 and Hangul 한국어 are not in the vocabulary',
  'Zoë’s café naïve façade',
  '',
];

describeShared('SentencePiece tokenizer on stories260K', () => {
  let tok: Tokenizer;
  let golden: number[];
  beforeAll(async () => {
    tok = (await loadTokenizer(stories260kPath))!;
    golden = (JSON.parse(readFileSync(stories260kGoldenPath, 'utf8')) as { greedy_from_bos: number[] }).greedy_from_bos;
  });

  it('loads the vocabulary from the GGUF metadata', () => {
    expect(tok.kind).toBe('sentencepiece');
    expect(tok.vocabSize).toBe(512);
    expect(tok.bosId).toBe(1);
    expect(tok.eosId).toBe(2);
    expect(tok.tokenText(1)).toBe('<s>');
    expect(tok.tokenText(13)).toBe('\\n');
  });

  it('decodes the golden greedy generation', () => {
    expect(golden[0]).toBe(1);
    expect(tok.decode(golden)).toMatch(/^Once upon a time, there was a little girl named Lily\./);
  });

  it('encodes the decoded generation back to exactly the generated ids', () => {
    // The model happened to generate the canonical split everywhere, including ' ' 'out' 's' 'id' 'e'
    // for " outside" and the byte token <0x0A> for the newline (there is no '\n' piece).
    expect(tok.encode(tok.decode(golden))).toEqual(golden.slice(1));
  });

  it('round-trips assorted text, using byte tokens for what the vocabulary lacks', () => {
    for (const text of assorted) expect(tok.decode(tok.encode(text))).toBe(text);
    const ids = tok.encode('😀');
    expect(ids.map((id) => tok.tokenText(id))).toEqual([' ', '<0xF0>', '<0x9F>', '<0x98>', '<0x80>']);
  });

  describe('agrees with @huggingface/tokenizers on the same vocabulary as a Llama tokenizer.json', () => {
    let dir: string;
    beforeAll(() => {
      const header = readGgufMetadata(stories260kPath);
      const vocab: SentencePieceVocab = {
        tokens: header.metadata.get('tokenizer.ggml.tokens') as string[],
        scores: header.metadata.get('tokenizer.ggml.scores') as number[],
        tokenTypes: header.metadata.get('tokenizer.ggml.token_type') as number[],
        bosId: 1,
        eosId: 2,
        unkId: 0,
      };
      expect(vocab.tokenTypes?.[0]).toBe(TokenType.unknown);
      dir = mkdtempSync(join(tmpdir(), 'patchwise-llama-'));
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'llama' }));
      writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(llamaTokenizerJson(vocab)));
      writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>' }));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('gives the same ids, text and token display', async () => {
      const hf = (await loadTokenizer(dir))!;
      expect(hf.kind).toBe('sentencepiece');
      expect(hf.vocabSize).toBe(512);
      expect(hf.bosId).toBe(1);
      expect(hf.eosId).toBe(2);
      for (const text of [...assorted, tok.decode(golden)]) {
        const ids = tok.encode(text);
        expect(hf.encode(text)).toEqual(ids);
        expect(hf.decode(ids)).toBe(text);
      }
      for (let id = 0; id < 512; id++) expect(hf.tokenText(id)).toBe(tok.tokenText(id));
    });
  });
});
