// Prompt pairs a user brings, one JSON object per line (the format is described in data/README.md):
//   {"clean": "The Eiffel Tower is in", "corrupted": "The Colosseum is in", "answer": " Paris", "wrong": " Rome"}
// with optional "key_spans" (character ranges of the clean text) or "key_tokens" (token positions).
// Every problem is a UserError naming the file, the line and the field.
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import { formatZodIssues, strictObject } from '../core/zod-issues.js';
import { corruptionName, type PromptCorruption } from '../core/vocabulary.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { parseTaskOptions } from './options.js';
import { checkedPair, differingPositions } from './pairs.js';
import { continuation, describeTokens, requireTokenizer, withBos } from './tokens.js';
import type { Dataset, PromptPair, Task, TaskContext } from './types.js';

const NAME = 'paired-jsonl';
/** The file's own corrupted prompts. */
export const PAIRED_JSONL_CORRUPTIONS = ['given'] as const;

const optionsSchema = strictObject({
  /** The .jsonl file, relative to the pipeline's directory (TaskContext.baseDir) unless absolute. */
  file: z.string().min(1),
});

export type PairedJsonlOptions = z.output<typeof optionsSchema>;

const span = z
  .tuple([z.number().int().min(0), z.number().int().min(0)])
  .refine(([start, end]) => start < end, { message: 'a span [start, end) needs start < end' });

/** One line of the file. */
export const pairLineSchema = strictObject({
  clean: z.string().min(1),
  /** Needed for STR; for Gaussian noising it may be left out when key_spans or key_tokens say what to noise. */
  corrupted: z.string().min(1).optional(),
  answer: z.string().min(1),
  wrong: z.string().min(1).optional(),
  /** [start, end) offsets in the clean text, counted in Unicode code points (as Python's str indexes). */
  key_spans: z.array(span).min(1).optional(),
  /** Positions in the clean text's tokens, counted without BOS (0 is the first token of the text). */
  key_tokens: z.array(z.number().int().min(0)).min(1).optional(),
}).refine((line) => line.key_spans === undefined || line.key_tokens === undefined, {
  message: 'give key_spans or key_tokens, not both',
  path: ['key_tokens'],
});

export type PairLine = z.output<typeof pairLineSchema>;

/** A UserError for `file` line `line`, optionally naming a field: `file line 3: answer: message`. */
function lineError(file: string, line: number, field: string | undefined, message: string): UserError {
  return new UserError(`${file} line ${line}: ${field === undefined ? '' : `${field}: `}${message}`);
}

/** The lines of a .jsonl text as objects, checked against the schema; blank lines are skipped. */
export function parsePairLines(text: string, file: string): { line: number; value: PairLine }[] {
  const out: { line: number; value: PairLine }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (err) {
      throw lineError(file, line, undefined, `not valid JSON (${(err as Error).message})`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw lineError(file, line, undefined, 'expected a JSON object');
    const result = pairLineSchema.safeParse(json);
    if (!result.success) throw new UserError(formatZodIssues(`${file} line ${line}`, result.error));
    out.push({ line, value: result.data });
  });
  if (out.length === 0) throw new UserError(`${file}: no prompt pairs (expected one JSON object per line)`);
  return out;
}

/** The single token `text` continues `prompt` with; an error naming the field otherwise. */
function answerToken(tokenizer: Tokenizer, prompt: string, text: string, fail: (message: string) => UserError): number {
  const { ids, stable } = continuation(tokenizer, prompt, text);
  if (stable && ids.length === 1) return ids[0] as number;
  if (!stable && /\s$/.test(prompt)) {
    throw fail(`the clean prompt ends with whitespace, which merges with the answer; put the space in the answer instead (${JSON.stringify(` ${text.trimStart()}`)})`);
  }
  throw fail(`must tokenize to exactly one token after the clean prompt, got ${ids.length} (${describeTokens(tokenizer, ids)})`);
}

/**
 * Token index (within `ids`, the tokens of `text`) of each token overlapping a [start, end) code-point
 * span. A token's characters are found by decoding prefixes; a token that ends inside a character
 * (a byte-level piece of one) shares that character with its neighbours.
 */
export function tokensInSpan(tokenizer: Tokenizer, text: string, ids: readonly number[], start: number, end: number): number[] {
  const length = [...text].length;
  // boundary[i]: code points before token i, where the decoded prefix is a prefix of the text.
  const boundary: (number | undefined)[] = [0];
  for (let i = 1; i <= ids.length; i++) {
    const prefix = tokenizer.decode(ids.slice(0, i));
    boundary.push(text.startsWith(prefix) ? [...prefix].length : undefined);
  }
  boundary[ids.length] = length;
  const out: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    let from = i;
    while (boundary[from] === undefined) from--;
    let to = i + 1;
    while (boundary[to] === undefined) to++;
    const tokenStart = boundary[from] as number;
    const tokenEnd = boundary[to] as number;
    if (tokenStart < end && tokenEnd > start) out.push(i);
  }
  return out;
}

/** One line's pair; `index` is its position in the dataset. */
function linePair(tokenizer: Tokenizer, vocabSize: number, file: string, line: number, value: PairLine, index: number, choice: PromptCorruption): PromptPair {
  const fail = (field: string | undefined) => (message: string) => lineError(file, line, field, message);
  const cleanText = tokenizer.encode(value.clean);
  const corruptedSource = value.corrupted;
  if (choice.kind === 'str' && corruptedSource === undefined) throw fail('corrupted')('required for the STR corruption (it may be left out only for Gaussian noising)');
  const corruptedText = choice.kind === 'str' && corruptedSource !== undefined ? tokenizer.encode(corruptedSource) : cleanText;
  if (corruptedText.length !== cleanText.length) {
    throw fail(undefined)(
      `clean and corrupted must tokenize to the same length, got ${cleanText.length} tokens (${describeTokens(tokenizer, cleanText)}) and ${corruptedText.length} (${describeTokens(tokenizer, corruptedText)})`,
    );
  }
  const answer = answerToken(tokenizer, value.clean, value.answer, fail('answer'));
  const wrong = value.wrong === undefined ? undefined : answerToken(tokenizer, value.clean, value.wrong, fail('wrong'));
  if (wrong === answer) throw fail('wrong')(`is the same token as the answer (${describeTokens(tokenizer, [answer])})`);

  let keys: number[];
  if (value.key_tokens !== undefined) {
    value.key_tokens.forEach((p, k) => {
      if (p >= cleanText.length) throw fail(`key_tokens[${k}]`)(`position ${p} is past the clean prompt's ${cleanText.length} tokens`);
    });
    keys = value.key_tokens;
  } else if (value.key_spans !== undefined) {
    const length = [...value.clean].length;
    keys = value.key_spans.flatMap(([start, end], k) => {
      if (end > length) throw fail(`key_spans[${k}]`)(`span [${start}, ${end}) runs past the clean text (${length} characters)`);
      return tokensInSpan(tokenizer, value.clean, cleanText, start, end);
    });
  } else if (corruptedSource !== undefined) {
    keys = differingPositions(cleanText, tokenizer.encode(corruptedSource));
    if (keys.length === 0) throw fail('corrupted')('tokenizes exactly like clean, so there is nothing to patch');
  } else {
    throw fail(undefined)('Gaussian noising needs key_spans, key_tokens, or a corrupted prompt to tell which tokens to noise');
  }
  const offset = tokenizer.bosId === undefined ? 0 : 1;
  const clean = withBos(tokenizer, cleanText);
  const corrupted = withBos(tokenizer, corruptedText);
  const end = clean.length - 1;
  return checkedPair(NAME, vocabSize, {
    index,
    clean,
    corrupted,
    targets: [{ position: end, answer, ...(wrong === undefined ? {} : { wrong }) }],
    keyPositions: [...new Set(keys.map((p) => p + offset))].sort((a, b) => a - b),
    roles: { END: end },
    cleanText: value.clean,
    corruptedText: choice.kind === 'str' ? (corruptedSource ?? value.clean) : value.clean,
  });
}

export const pairedJsonlTask: Task<PairedJsonlOptions> = {
  name: NAME,
  description: 'Clean/corrupted prompt pairs from a JSONL file (e.g. factual recall); see data/README.md',
  corruptions: PAIRED_JSONL_CORRUPTIONS,

  roles: [],
  optionsSchema,

  parseOptions(raw: unknown, where: string): PairedJsonlOptions {
    return parseTaskOptions(optionsSchema, raw, where);
  },

  /** The first `count` pairs of the file, in file order (every line is checked); the seed is unused. */
  build(ctx: TaskContext, options: PairedJsonlOptions, choice: PromptCorruption, seed: number, count: number): Dataset {
    if (choice.kind === 'gn' && choice.roles !== undefined) {
      throw new UserError(`task ${NAME} has no roles to noise; use plain ${JSON.stringify('gn')}, which noises each line's key tokens`);
    }
    const tokenizer = requireTokenizer(ctx, NAME);
    const path = isAbsolute(options.file) ? options.file : resolve(ctx.baseDir ?? process.cwd(), options.file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new UserError(`${options.file}: cannot read the prompt pairs (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    const lines = parsePairLines(text, options.file);
    if (count > lines.length) {
      throw new UserError(`${options.file} has ${lines.length} prompt pairs, fewer than the ${count} asked for`);
    }
    const pairs = lines.map(({ line, value }, index) => linePair(tokenizer, ctx.vocabSize, options.file, line, value, index, choice));
    return {
      task: NAME,
      corruption: choice,
      settings: { task: NAME, options, corruption: corruptionName(choice), seed, count, tokenizer: tokenizer.kind, bos: tokenizer.bosId !== undefined, pairsInFile: lines.length },
      pairs: pairs.slice(0, count),
    };
  },
};
