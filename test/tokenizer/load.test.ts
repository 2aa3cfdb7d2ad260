import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { writeGguf, type GgufTyped, type GgufValue } from '../../src/checkpoints/formats/gguf.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import { syntheticVocab } from './synthetic-vocab.js';

// writeGguf stores an array with its first element's type, so every score here is fractional
// (float32) and the control tokens' 0 scores are written as -0.5.
const vocab = syntheticVocab([
  ['\u2581', -10.5],
  ['h', -11.5],
  ['i', -12.5],
  ['hi', -1.5],
  ['\u2581hi', -2.5],
]);
const scores = vocab.scores.map((s) => (Number.isInteger(s) ? s - 0.5 : s));

function llamaMetadata(extra: Record<string, GgufValue | GgufTyped> = {}): Map<string, GgufValue | GgufTyped> {
  return new Map<string, GgufValue | GgufTyped>([
    ['general.architecture', 'llama'],
    ['tokenizer.ggml.model', 'llama'],
    ['tokenizer.ggml.tokens', [...vocab.tokens]],
    ['tokenizer.ggml.scores', scores],
    ['tokenizer.ggml.token_type', [...(vocab.tokenTypes ?? [])]],
    ['tokenizer.ggml.bos_token_id', 1],
    ['tokenizer.ggml.eos_token_id', 2],
    ['tokenizer.ggml.unknown_token_id', 0],
    ...Object.entries(extra),
  ]);
}

describe('loadTokenizer', () => {
  let dir: string;
  const file = (name: string, metadata: Map<string, GgufValue | GgufTyped>): string => {
    const path = join(dir, name);
    writeGguf(path, metadata, []);
    return path;
  };
  const modelDir = (name: string, files: Record<string, unknown>): string => {
    const path = join(dir, name);
    mkdirSync(path);
    for (const [f, content] of Object.entries(files)) writeFileSync(join(path, f), JSON.stringify(content));
    return path;
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'patchwise-load-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a llama (SentencePiece) tokenizer from GGUF metadata', async () => {
    const tok = (await loadTokenizer(file('llama.gguf', llamaMetadata())))!;
    expect(tok.kind).toBe('sentencepiece');
    expect(tok.vocabSize).toBe(vocab.tokens.length);
    expect(tok.bosId).toBe(1);
    expect(tok.eosId).toBe(2);
    expect(tok.encode('hi hi')).toEqual([vocab.tokens.indexOf('\u2581hi'), vocab.tokens.indexOf('\u2581hi')]);
    expect(tok.decode(tok.encode('hi €'))).toBe('hi €');
  });

  it('honours add_space_prefix = false', async () => {
    const tok = (await loadTokenizer(file('noprefix.gguf', llamaMetadata({ 'tokenizer.ggml.add_space_prefix': false }))))!;
    expect(tok.encode('hi')).toEqual([vocab.tokens.indexOf('hi')]);
  });

  it('reads the special id 0xFFFFFFFF as "none" and uses llama.cpp defaults for absent keys', async () => {
    const metadata = llamaMetadata({ 'tokenizer.ggml.bos_token_id': 0xffffffff });
    metadata.delete('tokenizer.ggml.eos_token_id');
    const tok = (await loadTokenizer(file('nobos.gguf', metadata)))!;
    expect(tok.bosId).toBeUndefined();
    expect(tok.eosId).toBe(2);
  });

  it('names an unsupported tokenizer model', async () => {
    const path = file('gpt2.gguf', llamaMetadata({ 'tokenizer.ggml.model': 'gpt2' }));
    await expect(loadTokenizer(path)).rejects.toThrow(UserError);
    await expect(loadTokenizer(path)).rejects.toThrow(/"gpt2"/);
  });

  it('says what is missing or malformed in the GGUF file', async () => {
    const noTokens = llamaMetadata();
    noTokens.delete('tokenizer.ggml.tokens');
    await expect(loadTokenizer(file('notokens.gguf', noTokens))).rejects.toThrow(/tokenizer\.ggml\.tokens is missing/);
    const fewScores = llamaMetadata({ 'tokenizer.ggml.scores': [0.5, 0.5] });
    await expect(loadTokenizer(file('fewscores.gguf', fewScores))).rejects.toThrow(/fewscores\.gguf: .*2 scores/);
  });

  it('rejects paths that are not a model', async () => {
    await expect(loadTokenizer(join(dir, 'missing.gguf'))).rejects.toThrow(/no such file or directory/);
    const txt = join(dir, 'model.txt');
    writeFileSync(txt, '');
    await expect(loadTokenizer(txt)).rejects.toThrow(UserError);
  });

  it('needs config.json and a supported model_type in a model directory', async () => {
    await expect(loadTokenizer(modelDir('empty', {}))).rejects.toThrow(/no config\.json/);
    await expect(loadTokenizer(modelDir('bert', { 'config.json': { model_type: 'bert' } }))).rejects.toThrow(/"bert"/);
  });

  it('gives no tokenizer for a gpt2 or llama directory without tokenizer files, or a GGUF file without one', async () => {
    expect(await loadTokenizer(modelDir('gpt2-random', { 'config.json': { model_type: 'gpt2' } }))).toBeUndefined();
    expect(await loadTokenizer(modelDir('llama-bare2', { 'config.json': { model_type: 'llama' } }))).toBeUndefined();
    expect(await loadTokenizer(file('none.gguf', new Map([['general.architecture', 'llama']])))).toBeUndefined();
  });
});
