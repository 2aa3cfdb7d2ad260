// Induction: a random token sequence repeated, [BOS] + seq + seq[0..k), cut inside the second copy;
// the answer is seq[k], which only copying from the first copy can predict. Token ids are drawn
// straight from the vocabulary, so any tokenizer works, and so does none at all (a planted model:
// ids are drawn from [0, vocabSize)). Corruption `random`: the second copy's tokens become fresh
// random tokens not in seq, so there is nothing to copy. Why three corruptions: an induction head at
// END reads the previous-token head's output at the *first* copy, so a corruption that leaves the
// first copy alone (`random`) cannot show the previous-token head. `key-token` replaces the first
// copy's occurrence of the last token (nothing matches any more: both heads matter, the choice for
// detecting the circuit's nodes); `all-random` replaces every token (every edge carrying token
// information changes: the choice for edge discovery).
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import { deriveSeed, Random } from '../core/random.js';
import { strictObject } from '../core/zod-issues.js';
import { corruptionName, type PromptCorruption } from '../core/vocabulary.js';
import { displayBytes } from '../tokenizer/display.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { parseTaskOptions } from './options.js';
import { checkedPair, rolePositions } from './pairs.js';
import type { Dataset, PromptPair, Task, TaskContext } from './types.js';

const NAME = 'induction';
export const INDUCTION_CORRUPTIONS = ['key-token', 'random', 'all-random'] as const;

const optionsSchema = strictObject({
  /** Tokens in the repeated sequence (its tokens are distinct, so the next token is never ambiguous). */
  length: z.number().int().min(3).max(4096).default(20).describe('tokens in the repeated sequence'),
  /** Draw token ids from [lo, hi) (clamped to the vocabulary); by default the whole vocabulary. */
  vocabRange: z
    .tuple([z.number().int().min(0), z.number().int().min(1)])
    .refine(([lo, hi]) => lo < hi, { message: 'expected [lo, hi) with lo < hi' })
    .optional()
    .describe('[lo, hi) of token ids to draw from (default: the vocabulary)'),
  /** Where the prompt stops in the second copy: after k tokens, k random in [2, length - 1], or always at k = length - 1. */
  cut: z.enum(['random', 'last']).default('random').describe('where the prompt stops in the second copy'),
  /**
   * Where the metrics read: `end` (when absent), the last position (predicting seq[k]); or
   * `second-copy`, every position of the second copy (predicting seq[1..k]), averaged: the usual
   * induction score. No default is filled in, so the settings of `end` datasets stay as they were.
   */
  targets: z.enum(['end', 'second-copy']).optional().describe('where metrics read: end (default), or every second-copy position, averaged'),
});

export type InductionOptions = z.output<typeof optionsSchema>;

/**
 * A test for ordinary text tokens: not BOS/EOS; not a control or unknown token (shown as `<...>`:
 * `<s>`, `<unk>`, GPT-2's `<|endoftext|>`); not empty; holding no partial UTF-8 character (shown
 * as `<0xNN>`); and not one of a SentencePiece vocabulary's 256 byte tokens, which show as their
 * character where it is printable ASCII and so are found as a block instead.
 */
export function ordinaryTokenTest(tokenizer: Tokenizer): (id: number) => boolean {
  const bytes = byteTokenBlock(tokenizer);
  return (id) => {
    if (id === tokenizer.bosId || id === tokenizer.eosId || bytes.has(id)) return false;
    const text = tokenizer.tokenText(id);
    return text !== '' && !/^<.+>$/.test(text) && !/<0x[0-9A-F]{2}>/.test(text);
  };
}

/** The ids of `<0x00>`..`<0xFF>` where they are 256 consecutive tokens, as in Llama vocabularies. */
function byteTokenBlock(tokenizer: Tokenizer): Set<number> {
  const out = new Set<number>();
  if (tokenizer.kind !== 'sentencepiece') return out;
  for (let first = 0; first + 256 <= tokenizer.vocabSize; first++) {
    if (tokenizer.tokenText(first) !== '<0x00>') continue;
    if (Array.from({ length: 256 }, (_, b) => tokenizer.tokenText(first + b) === displayBytes([b])).every(Boolean)) {
      for (let b = 0; b < 256; b++) out.add(first + b);
    }
    break;
  }
  return out;
}

/** The token ids sequences are drawn from: the range clamped to the model's (and tokenizer's) vocabulary, ordinary tokens only. */
export function inductionTokenPool(ctx: TaskContext, vocabRange?: readonly [number, number]): number[] {
  const limit = Math.min(ctx.vocabSize, ctx.tokenizer?.vocabSize ?? ctx.vocabSize);
  const lo = vocabRange?.[0] ?? 0;
  const hi = Math.min(vocabRange?.[1] ?? limit, limit);
  // Without a tokenizer every id is a token, except the config's BOS.
  const ordinary = ctx.tokenizer === undefined ? (id: number) => id !== ctx.bosId : ordinaryTokenTest(ctx.tokenizer);
  const pool: number[] = [];
  for (let id = lo; id < hi; id++) if (ordinary(id)) pool.push(id);
  return pool;
}

export const inductionTask: Task<InductionOptions> = {
  name: NAME,
  example: { options: { length: 20, cut: 'random', targets: 'second-copy' }, prompt: 'token ids "A B C D E A B C" -> "D" (with targets: second-copy, also B after A, C after B, ...)' },
  description: 'Induction: a random token sequence repeated; predict the next token of the second copy',
  corruptions: INDUCTION_CORRUPTIONS,

  roles: ['FIRST', 'KEY', 'SOURCE', 'SECOND', 'END'],
  metrics: ['prob', 'logit-diff', 'kl'],
  optionsSchema,

  parseOptions(raw: unknown, where: string): InductionOptions {
    return parseTaskOptions(optionsSchema, raw, where);
  },

  build(ctx: TaskContext, options: InductionOptions, choice: PromptCorruption, seed: number, count: number): Dataset {
    const { length } = options;
    const pool = inductionTokenPool(ctx, options.vocabRange);
    // seq, up to length - 1 fresh corrupting tokens and a wrong token outside seq.
    if (pool.length < 2 * length) {
      const range = options.vocabRange === undefined ? 'the vocabulary' : `[${options.vocabRange[0]}, ${options.vocabRange[1]})`;
      throw new UserError(
        `task induction: ${range} has ${pool.length} usable token ids, and sequences of length ${length} need at least ${2 * length}; lower options.length or widen options.vocabRange`,
      );
    }
    const tokenizer = ctx.tokenizer;
    const bos = tokenizer === undefined ? ctx.bosId : tokenizer.bosId;
    const withBos = (ids: readonly number[]): number[] => (bos === undefined ? [...ids] : [bos, ...ids]);
    const offset = bos === undefined ? 0 : 1;
    const text = (ids: readonly number[]): string => (tokenizer === undefined ? ids.join(' ') : tokenizer.decode(ids));

    const cleanRng = new Random(deriveSeed(seed, 0));
    const corruptRng = new Random(deriveSeed(seed, 1));
    const pairs: PromptPair[] = [];
    for (let index = 0; index < count; index++) {
      const seq = cleanRng.sample(pool, length);
      const k = options.cut === 'last' ? length - 1 : 2 + cleanRng.int(length - 2);
      const answer = seq[k] as number;
      const inSeq = new Set(seq);
      const [wrong] = cleanRng.sample(pool, 1, inSeq) as [number];
      const second = seq.slice(0, k);
      const clean = withBos([...seq, ...second]);
      let corruptedBody = [...seq, ...second];
      let changed: number[] = [];
      const secondStart = offset + length;
      if (choice.kind === 'str' && choice.variant === 'random') {
        corruptedBody = [...seq, ...corruptRng.sample(pool, k, inSeq)];
        changed = Array.from({ length: k }, (_, i) => secondStart + i);
      } else if (choice.kind === 'str' && choice.variant === 'key-token') {
        corruptedBody[k - 1] = corruptRng.sample(pool, 1, inSeq)[0]!;
        changed = [offset + k - 1];
      } else if (choice.kind === 'str' && choice.variant === 'all-random') {
        const fresh = corruptRng.sample(pool, length, inSeq);
        corruptedBody = [...fresh, ...fresh.slice(0, k)];
        changed = Array.from({ length: length + k }, (_, i) => offset + i);
      }
      const corrupted = withBos(corruptedBody);
      const end = clean.length - 1;
      // SOURCE: the answer's position in the first copy, where an induction head looks from END;
      // KEY: the token before it, whose match with the token at END the induction head detects.
      const roles = { FIRST: offset, KEY: offset + k - 1, SOURCE: offset + k, SECOND: secondStart, END: end };
      const secondCopy = Array.from({ length: k }, (_, i) => secondStart + i);
      pairs.push(
        checkedPair(NAME, ctx.vocabSize, {
          index,
          clean,
          corrupted,
          targets: options.targets !== 'second-copy' ? [{ position: end, answer, wrong }] : Array.from({ length: k }, (_, i) => ({ position: secondStart + i, answer: seq[i + 1] as number, wrong })),
          keyPositions: choice.kind === 'gn' ? (choice.roles !== undefined ? rolePositions(NAME, index, roles, choice.roles) : secondCopy) : changed,
          roles,
          cleanText: text(clean),
          corruptedText: text(corrupted),
        }),
      );
    }
    return {
      task: NAME,
      corruption: choice,
      settings: { task: NAME, options, corruption: corruptionName(choice), seed, count, tokenizer: tokenizer?.kind ?? 'none', bos: offset === 1, poolSize: pool.length },
      pairs,
    };
  },
};
