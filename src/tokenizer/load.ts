// The tokenizer of a model, from the path the user gives for the model: a .gguf file (its
// tokenizer.ggml.* metadata) or a Hugging Face model directory (config.json and tokenizer files).
// A model without one has none: its prompts are token ids, and no other vocabulary is substituted.
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../core/errors.js';
import { readGgufMetadata, type GgufHeader, type GgufValue } from '../checkpoints/formats/gguf.js';
import { gpt2DirectoryTokenizer } from './gpt2.js';
import { hfTokenizer } from './hf.js';
import { readJsonObject } from './json-file.js';
import { sentencePieceTokenizer } from './sentencepiece.js';
import type { Tokenizer } from './types.js';

/** The tokenizer of the model at `path` (a .gguf file or a model directory); undefined when it has none. */
export async function loadTokenizer(path: string): Promise<Tokenizer | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) throw new UserError(`${path}: no such file or directory`);
  if (info.isDirectory()) return directoryTokenizer(path);
  if (path.toLowerCase().endsWith('.gguf')) return ggufTokenizer(readGgufMetadata(path));
  throw new UserError(`${path}: expected a .gguf file or a Hugging Face model directory`);
}

async function directoryTokenizer(dir: string): Promise<Tokenizer | undefined> {
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) {
    throw new UserError(`${dir} has no config.json, so the model type (and its tokenizer) is unknown`);
  }
  const modelType = (await readJsonObject(configPath)).model_type;
  if (modelType === 'gpt2') return gpt2DirectoryTokenizer(dir);
  if (modelType === 'llama') {
    // Only the fast-tokenizer file is read (a lone tokenizer.model is not): without it, none.
    const tokenizerJson = join(dir, 'tokenizer.json');
    if (!existsSync(tokenizerJson)) return undefined;
    const tokenizerConfig = join(dir, 'tokenizer_config.json');
    const config = existsSync(tokenizerConfig) ? await readJsonObject(tokenizerConfig) : {};
    return hfTokenizer(await readJsonObject(tokenizerJson), config, tokenizerJson);
  }
  throw new UserError(`${configPath}: model_type ${JSON.stringify(modelType)} has no tokenizer support (supported: gpt2, llama)`);
}

// llama.cpp's ids for SentencePiece vocabularies whose file names none (LLAMA_TOKEN_NULL is -1,
// written as uint32 0xFFFFFFFF).
const SPM_DEFAULT_IDS = { bos: 1, eos: 2, unknown: 0 } as const;
const TOKEN_NULL = 0xffffffff;

/** The tokenizer described by a GGUF file's tokenizer.ggml.* metadata (only the 'llama' SentencePiece model). */
export function ggufTokenizer(header: GgufHeader): Tokenizer | undefined {
  const { path, metadata } = header;
  const model = metadata.get('tokenizer.ggml.model');
  if (model === undefined) return undefined;
  if (model !== 'llama') {
    throw new UserError(`${path}: tokenizer.ggml.model is ${JSON.stringify(model)}; only 'llama' (SentencePiece) GGUF tokenizers are supported`);
  }
  const tokens = typedArray(header, 'tokenizer.ggml.tokens', 'string');
  if (tokens === undefined) throw new UserError(`${path}: metadata tokenizer.ggml.tokens is missing`);
  // As in llama.cpp, a missing score list means all scores are 0.
  const scores = typedArray(header, 'tokenizer.ggml.scores', 'number') ?? tokens.map(() => 0);
  const tokenTypes = typedArray(header, 'tokenizer.ggml.token_type', 'number');
  const addSpacePrefix = metadata.get('tokenizer.ggml.add_space_prefix');
  if (addSpacePrefix !== undefined && typeof addSpacePrefix !== 'boolean') {
    throw new UserError(`${path}: metadata tokenizer.ggml.add_space_prefix should be a bool, found ${typeof addSpacePrefix}`);
  }
  const bosId = specialId(header, 'tokenizer.ggml.bos_token_id', SPM_DEFAULT_IDS.bos, tokens.length);
  const eosId = specialId(header, 'tokenizer.ggml.eos_token_id', SPM_DEFAULT_IDS.eos, tokens.length);
  const unkId = specialId(header, 'tokenizer.ggml.unknown_token_id', SPM_DEFAULT_IDS.unknown, tokens.length);
  try {
    const tokenizer = sentencePieceTokenizer({
      tokens,
      scores,
      ...(tokenTypes === undefined ? {} : { tokenTypes }),
      ...(bosId === undefined ? {} : { bosId }),
      ...(eosId === undefined ? {} : { eosId }),
      ...(unkId === undefined ? {} : { unkId }),
      ...(addSpacePrefix === undefined ? {} : { addSpacePrefix }),
    });
    return { ...tokenizer, source: `${path} (GGUF vocabulary)` };
  } catch (err) {
    if (err instanceof UserError) throw new UserError(`${path}: ${err.message}`);
    throw err;
  }
}

function typedArray(header: GgufHeader, key: string, type: 'string'): string[] | undefined;
function typedArray(header: GgufHeader, key: string, type: 'number'): number[] | undefined;
function typedArray(header: GgufHeader, key: string, type: 'string' | 'number'): (string | number)[] | undefined {
  const value = header.metadata.get(key);
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new UserError(`${header.path}: metadata ${key} should be an array, found ${describe(value)}`);
  const bad = value.findIndex((v) => typeof v !== type);
  if (bad >= 0) {
    throw new UserError(`${header.path}: metadata ${key}[${bad}] should be a ${type}, found ${describe(value[bad])}`);
  }
  return value as (string | number)[];
}

/** A special token id: the file's, the llama.cpp default when the key is absent, none when it says none. */
function specialId(header: GgufHeader, key: string, fallback: number, vocabSize: number): number | undefined {
  const value = header.metadata.get(key);
  if (value === undefined) return fallback < vocabSize ? fallback : undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new UserError(`${header.path}: metadata ${key} should be a token id, found ${describe(value)}`);
  }
  if (value === TOKEN_NULL) return undefined;
  return value;
}

function describe(value: GgufValue | undefined): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return `${typeof value} ${String(value)}`;
}

/** One line naming a model's tokenizer, for `model info`. */
export function describeTokenizer(tokenizer: Tokenizer | undefined): string {
  if (tokenizer === undefined) return 'none (prompts are token ids)';
  const bos = tokenizer.bosId === undefined ? 'no BOS' : `BOS ${tokenizer.bosId}`;
  return `${tokenizer.kind}, ${tokenizer.vocabSize.toLocaleString('en-US')} tokens, ${bos}, from ${tokenizer.source ?? 'the model'}`;
}

/** The error for text given to a model without a tokenizer: one line, naming where the text was. */
export function noTokenizerError(model: string, where: string): UserError {
  return new UserError(`${model} has no tokenizer files, so ${where} cannot be text: give token ids instead`);
}
