// GPT-2's byte-level BPE tokenizer, from a model's own files, or the standard one from
// gpt-tokenizer's bundled r50k_base encoding (GPT-2's vocabulary and merges, 50257 ids).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../core/errors.js';
import { displayBytes, displayText } from './display.js';
import { hfTokenizer, isByteLevel, type TokenizerJson } from './hf.js';
import { readJsonObject } from './json-file.js';
import type { Tokenizer } from './types.js';

const END_OF_TEXT = '<|endoftext|>';

/** The standard GPT-2 tokenizer (gpt-tokenizer's bundled r50k_base). GPT-2 has no BOS; EOS is `<|endoftext|>`. */
export function gpt2Tokenizer(): Promise<Tokenizer> {
  return bundledGpt2Tokenizer();
}

/**
 * The tokenizer in a GPT-2 model directory: its tokenizer.json, or else its vocab.json + merges.txt;
 * undefined when it has none (a random GPT-2-shaped model): no vocabulary is substituted.
 */
export async function gpt2DirectoryTokenizer(modelDir: string): Promise<Tokenizer | undefined> {
  const tokenizerJson = join(modelDir, 'tokenizer.json');
  const vocabJson = join(modelDir, 'vocab.json');
  const mergesTxt = join(modelDir, 'merges.txt');
  const configPath = join(modelDir, 'tokenizer_config.json');
  const config = existsSync(configPath) ? await readJsonObject(configPath) : {};
  if (existsSync(tokenizerJson)) {
    const json = await readJsonObject(tokenizerJson);
    if (!isByteLevel(json)) {
      throw new UserError(`${tokenizerJson} is not a byte-level BPE tokenizer, so it is not GPT-2's`);
    }
    return hfTokenizer(json, config, tokenizerJson);
  }
  if (existsSync(vocabJson) !== existsSync(mergesTxt)) {
    const missing = existsSync(vocabJson) ? mergesTxt : vocabJson;
    throw new UserError(`${missing} is missing: a GPT-2 tokenizer needs both vocab.json and merges.txt`);
  }
  if (!existsSync(vocabJson)) return undefined;
  const json = gpt2TokenizerJson(await readJsonObject(vocabJson), await readMerges(mergesTxt), vocabJson);
  return hfTokenizer(json, config, `${vocabJson} + merges.txt`);
}

/**
 * The tokenizer.json that transformers writes for GPT-2, built from vocab.json and the merge list:
 * byte-level pre-tokenizer (GPT-2's split regex, no prefix space) and decoder, and a BPE model.
 */
export function gpt2TokenizerJson(vocab: Record<string, unknown>, merges: readonly (readonly [string, string])[], source: string): TokenizerJson {
  for (const [token, id] of Object.entries(vocab)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new UserError(`${source}: token ${JSON.stringify(token)} has id ${JSON.stringify(id)}, not a non-negative integer`);
    }
  }
  const endOfText = vocab[END_OF_TEXT];
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: typeof endOfText === 'number' ? [{ id: endOfText, content: END_OF_TEXT, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }] : [],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: merges.map(([a, b]) => [a, b]),
    },
  };
}

/** merges.txt: an optional `#version` line, then one merge per line, the two parts separated by a space. */
async function readMerges(path: string): Promise<[string, string][]> {
  const merges: [string, string][] = [];
  const lines = (await readFile(path, 'utf8')).split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line === '' || (i === 0 && line.startsWith('#version'))) return;
    const parts = line.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw new UserError(`${path}:${i + 1}: expected two tokens separated by one space, got ${JSON.stringify(line)}`);
    }
    merges.push([parts[0] ?? '', parts[1] ?? '']);
  });
  return merges;
}

/** gpt-tokenizer's r50k_base, loaded on first use: its tables are several megabytes of JavaScript. */
async function bundledGpt2Tokenizer(): Promise<Tokenizer> {
  const [{ default: encoding }, { default: pieces }] = await Promise.all([import('gpt-tokenizer/encoding/r50k_base'), import('gpt-tokenizer/bpeRanks/r50k_base')]);
  const vocabSize = encoding.vocabularySize;
  const eosId = encoding.encode(END_OF_TEXT, { allowedSpecial: new Set([END_OF_TEXT]) })[0];
  if (vocabSize !== 50257 || eosId !== 50256) {
    throw new Error(`gpt-tokenizer's r50k_base is not GPT-2's vocabulary (size ${vocabSize}, ${END_OF_TEXT} = ${eosId})`);
  }
  const checkId = (id: number): void => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new UserError(`token id ${id} is outside GPT-2's vocabulary (0..${vocabSize - 1})`);
    }
  };
  return {
    kind: 'gpt2-bpe',
    vocabSize,
    source: 'the standard GPT-2 vocabulary (bundled)',
    eosId,
    encode(text: string): number[] {
      // Like the Hugging Face tokenizer, '<|endoftext|>' in the text is the special token, not 7
      // tokens. The split is done here because gpt-tokenizer 4.0.0 finds allowed special tokens only
      // at the very start of the text (its sticky regex stops at the first position that fails).
      return text.split(END_OF_TEXT).flatMap((part, i) => (i === 0 ? [] : [eosId]).concat(encoding.encode(part)));
    },
    decode(ids: readonly number[]): string {
      ids.forEach(checkId);
      return encoding.decode(ids.filter((id) => id !== eosId));
    },
    tokenText(id: number): string {
      checkId(id);
      if (id === eosId) return END_OF_TEXT;
      // Each entry is the token's text, or its bytes where they are not whole UTF-8 characters.
      const piece = pieces[id];
      return typeof piece === 'string' ? displayText(piece) : displayBytes(piece ?? []);
    },
  };
}
