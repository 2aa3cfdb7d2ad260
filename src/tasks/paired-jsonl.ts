// Prompt pairs a user brings, one JSON object per line (the format is described in data/README.md):
//   {"clean": "The Eiffel Tower is in", "corrupted": "The Colosseum is in", "answer": " Paris", "wrong": " Rome"}
// with optional "key_spans" (character ranges of the clean text) or "key_tokens" (token positions);
// or as token ids (a model without a tokenizer): "clean_ids", "corrupted_ids", "answer_id"/"wrong_id"
// or "targets" (several metric positions). Or the EAP-IG / MIB CSV files (format: eap-csv).
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
import { continuation, describeTokens, withBos } from './tokens.js';
import { eapCsvLines } from './eap-csv.js';
import type { Dataset, MetricTarget, PromptPair, Task, TaskContext } from './types.js';

const NAME = 'paired-jsonl';
/** The file's own corrupted prompts. */
export const PAIRED_JSONL_CORRUPTIONS = ['given'] as const;

const optionsSchema = strictObject({
  /** The file, relative to the pipeline's directory (TaskContext.baseDir) unless absolute. */
  file: z.string().min(1).describe('the pairs file, relative to the pipeline file'),
  /** `jsonl`: one JSON object per line; `eap-csv`: EAP-IG / MIB CSV (clean, corrupted, correct_idx, incorrect_idx). */
  format: z.enum(['jsonl', 'eap-csv']).default('jsonl').describe('jsonl (text or token ids) or eap-csv (EAP-IG / MIB files)'),
});

export type PairedJsonlOptions = z.output<typeof optionsSchema>;

const span = z.tuple([z.number().int().min(0), z.number().int().min(0)]).refine(([start, end]) => start < end, { message: 'a span [start, end) needs start < end' });

const tokenId = z.number().int().min(0);

/** One metric target of a token-id line: the position whose next token is read, and its answers. */
const targetSchema = strictObject({
  position: z.number().int().min(0),
  answer_id: tokenId,
  wrong_id: tokenId.optional(),
});

/** One line of the file: prompts as text or token ids, answers as text, token ids or targets. */
export const pairLineSchema = strictObject({
  clean: z.string().min(1).optional(),
  /** Needed for STR; for Gaussian noising it may be left out when key_spans or key_tokens say what to noise. */
  corrupted: z.string().min(1).optional(),
  /** The clean prompt as token ids, given to the model verbatim (no BOS is added). */
  clean_ids: z.array(tokenId).min(1).optional(),
  corrupted_ids: z.array(tokenId).min(1).optional(),
  answer: z.string().min(1).optional(),
  wrong: z.string().min(1).optional(),
  /** The answer as a token id, read at the last position. */
  answer_id: tokenId.optional(),
  wrong_id: tokenId.optional(),
  /** Several metric positions (token-id prompts), each with its answer; metrics average over them. */
  targets: z.array(targetSchema).min(1).optional(),
  /** [start, end) offsets in the clean text, counted in Unicode code points (as Python's str indexes). */
  key_spans: z.array(span).min(1).optional(),
  /** Positions in the clean prompt's tokens: text prompts counted without BOS, id prompts as given. */
  key_tokens: z.array(z.number().int().min(0)).min(1).optional(),
}).superRefine((line, ctx) => {
  const issue = (field: string, message: string) => ctx.addIssue({ code: 'custom', path: [field], message });
  const given = (...fields: (keyof typeof line)[]) => fields.filter((f) => line[f] !== undefined);
  if (given('clean', 'clean_ids').length !== 1) issue('clean', 'give the clean prompt as text (clean) or token ids (clean_ids), exactly one');
  if (line.corrupted !== undefined && line.clean === undefined) issue('corrupted', 'a text corrupted prompt goes with a text clean prompt (use corrupted_ids with clean_ids)');
  if (line.corrupted_ids !== undefined && line.clean_ids === undefined) issue('corrupted_ids', 'token ids go with clean_ids (use corrupted with a text clean prompt)');
  if (given('answer', 'answer_id', 'targets').length !== 1) issue('answer', 'give the answer as text (answer), a token id (answer_id), or targets, exactly one');
  if (line.wrong !== undefined && line.answer === undefined) issue('wrong', 'a text wrong answer goes with a text answer');
  if (line.wrong_id !== undefined && line.answer_id === undefined) issue('wrong_id', 'wrong_id goes with answer_id');
  if (line.answer !== undefined && line.clean === undefined) issue('answer', 'a text answer needs a text clean prompt; give answer_id');
  if (line.targets !== undefined && line.clean_ids === undefined) issue('targets', 'targets count positions in clean_ids, so they need token-id prompts');
  if (line.key_spans !== undefined && line.clean === undefined) issue('key_spans', 'character spans need a text clean prompt; give key_tokens');
  if (line.key_spans !== undefined && line.key_tokens !== undefined) issue('key_tokens', 'give key_spans or key_tokens, not both');
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

/** The prompts of one line as the model gets them: ids verbatim, text tokenized with BOS prepended. */
interface LinePrompts {
  readonly clean: number[];
  /** Undefined where the line has no corrupted prompt (Gaussian noising). */
  readonly corrupted?: number[];
  /** Where the line's own token positions (key_tokens) start in the model's tokens: 1 after a BOS. */
  readonly offset: number;
}

function linePrompts(tokenizer: Tokenizer | undefined, value: PairLine, fail: (field: string | undefined) => (message: string) => UserError): LinePrompts {
  if (value.clean_ids !== undefined) return { clean: value.clean_ids, ...(value.corrupted_ids === undefined ? {} : { corrupted: value.corrupted_ids }), offset: 0 };
  if (tokenizer === undefined) throw fail('clean')('the model has no tokenizer files, so prompts must be token ids (clean_ids, corrupted_ids, answer_id)');
  const clean = tokenizer.encode(value.clean!);
  const corrupted = value.corrupted === undefined ? undefined : tokenizer.encode(value.corrupted);
  const offset = tokenizer.bosId === undefined ? 0 : 1;
  return { clean: withBos(tokenizer, clean), ...(corrupted === undefined ? {} : { corrupted: withBos(tokenizer, corrupted) }), offset };
}

const describeIds = (tokenizer: Tokenizer | undefined, ids: readonly number[]): string => (tokenizer === undefined ? ids.join(' ') : describeTokens(tokenizer, ids));

/** One line's pair; `index` is its position in the dataset. */
function linePair(tokenizer: Tokenizer | undefined, vocabSize: number, file: string, line: number, value: PairLine, index: number, choice: PromptCorruption): PromptPair {
  const fail = (field: string | undefined) => (message: string) => lineError(file, line, field, message);
  const prompts = linePrompts(tokenizer, value, fail);
  const corruptedField = value.clean_ids === undefined ? 'corrupted' : 'corrupted_ids';
  if (choice.kind === 'str' && prompts.corrupted === undefined) throw fail(corruptedField)('required for the STR corruption (it may be left out only for Gaussian noising)');
  const clean = prompts.clean;
  const corrupted = choice.kind === 'str' && prompts.corrupted !== undefined ? prompts.corrupted : clean;
  if (corrupted.length !== clean.length) {
    throw fail(undefined)(
      `clean and corrupted must ${value.clean_ids === undefined ? 'tokenize to' : 'have'} the same length, got ${clean.length} tokens (${describeIds(tokenizer, clean)}) and ${corrupted.length} (${describeIds(tokenizer, corrupted)})`,
    );
  }
  const end = clean.length - 1;
  let targets: MetricTarget[];
  if (value.targets !== undefined) {
    targets = value.targets.map((t, k) => {
      if (t.position >= clean.length) throw fail(`targets[${k}].position`)(`position ${t.position} is past the clean prompt's ${clean.length} tokens`);
      if (t.wrong_id === t.answer_id) throw fail(`targets[${k}].wrong_id`)('is the same token as the answer');
      return { position: t.position, answer: t.answer_id, ...(t.wrong_id === undefined ? {} : { wrong: t.wrong_id }) };
    });
  } else if (value.answer_id !== undefined) {
    if (value.wrong_id === value.answer_id) throw fail('wrong_id')('is the same token as the answer');
    targets = [{ position: end, answer: value.answer_id, ...(value.wrong_id === undefined ? {} : { wrong: value.wrong_id }) }];
  } else {
    // A text answer: the schema ensures a text clean prompt, and linePrompts a tokenizer.
    const answer = answerToken(tokenizer!, value.clean!, value.answer!, fail('answer'));
    const wrong = value.wrong === undefined ? undefined : answerToken(tokenizer!, value.clean!, value.wrong, fail('wrong'));
    if (wrong === answer) throw fail('wrong')(`is the same token as the answer (${describeTokens(tokenizer!, [answer])})`);
    targets = [{ position: end, answer, ...(wrong === undefined ? {} : { wrong }) }];
  }
  const promptTokens = clean.length - prompts.offset;
  let keys: number[];
  if (value.key_tokens !== undefined) {
    value.key_tokens.forEach((p, k) => {
      if (p >= promptTokens) throw fail(`key_tokens[${k}]`)(`position ${p} is past the clean prompt's ${promptTokens} tokens`);
    });
    keys = value.key_tokens.map((p) => p + prompts.offset);
  } else if (value.key_spans !== undefined) {
    const length = [...value.clean!].length;
    const text = clean.slice(prompts.offset);
    keys = value.key_spans.flatMap(([start, stop], k) => {
      if (stop > length) throw fail(`key_spans[${k}]`)(`span [${start}, ${stop}) runs past the clean text (${length} characters)`);
      return tokensInSpan(tokenizer!, value.clean!, text, start, stop).map((p) => p + prompts.offset);
    });
  } else if (prompts.corrupted !== undefined) {
    keys = differingPositions(clean, prompts.corrupted);
    if (keys.length === 0) throw fail(corruptedField)(`${value.clean_ids === undefined ? 'tokenizes exactly like' : 'is the same as'} clean, so there is nothing to patch`);
  } else {
    throw fail(undefined)('Gaussian noising needs key_spans, key_tokens, or a corrupted prompt to tell which tokens to noise');
  }
  const text = (ids: readonly number[], given: string | undefined): string => given ?? (tokenizer === undefined ? ids.join(' ') : tokenizer.decode(ids));
  return checkedPair(NAME, vocabSize, {
    index,
    clean,
    corrupted,
    targets,
    keyPositions: [...new Set(keys)].sort((a, b) => a - b),
    roles: { END: end },
    cleanText: text(clean, value.clean),
    corruptedText: choice.kind === 'str' ? text(corrupted, value.corrupted) : text(clean, value.clean),
  });
}

export const pairedJsonlTask: Task<PairedJsonlOptions> = {
  name: NAME,
  example: {
    options: { file: 'facts.jsonl' },
    prompt:
      'a line {"clean": "The Eiffel Tower is in", "corrupted": "The Colosseum is in", "answer": " Paris", "wrong": " Rome"} or {"clean_ids": [0, 5, 6], "corrupted_ids": [0, 7, 6], "answer_id": 9}',
  },
  description: 'Clean/corrupted prompt pairs from a JSONL file (text or token ids; e.g. factual recall) or an EAP-IG / MIB CSV file; see data/README.md',
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
    const tokenizer = ctx.tokenizer;
    const path = isAbsolute(options.file) ? options.file : resolve(ctx.baseDir ?? process.cwd(), options.file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new UserError(`${options.file}: cannot read the prompt pairs (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    const lines = options.format === 'eap-csv' ? eapCsvLines(text, options.file) : parsePairLines(text, options.file);
    if (count > lines.length) {
      throw new UserError(`${options.file} has ${lines.length} prompt pairs, fewer than the ${count} asked for`);
    }
    const pairs = lines.map(({ line, value }, index) => linePair(tokenizer, ctx.vocabSize, options.file, line, value, index, choice));
    return {
      task: NAME,
      corruption: choice,
      settings: { task: NAME, options, corruption: corruptionName(choice), seed, count, tokenizer: tokenizer?.kind ?? 'none', bos: tokenizer?.bosId !== undefined, pairsInFile: lines.length },
      pairs: pairs.slice(0, count),
    };
  },
};

/**
 * A pair as a token-id line of this format ({clean_ids, corrupted_ids, answer_id, wrong_id,
 * key_tokens}): the same pair for a model without tokenizer files. Ids are the model's tokens as
 * built (BOS included where the tokenizer adds one), so key_tokens are the pair's key positions.
 */
export function idLine(pair: PromptPair): PairLine {
  if (pair.targets.length !== 1 || pair.targets[0]!.position !== pair.clean.length - 1) {
    throw new Error(`pair ${pair.index}: only a pair read at its last position alone becomes an answer_id line`);
  }
  const { answer, wrong } = pair.targets[0]!;
  return {
    clean_ids: [...pair.clean],
    corrupted_ids: [...pair.corrupted],
    answer_id: answer,
    ...(wrong === undefined ? {} : { wrong_id: wrong }),
    key_tokens: [...pair.keyPositions],
  };
}
