// Greater-than (Hanna et al. 2023): "The war lasted from the year 1732 to the year 17" -> a two-digit
// token above 32. The year must split as " 17" + "32" (GPT-2 does so for most years of 1100-1799),
// so the century XX and the two digits YY are single tokens; nouns and years that tokenize any other
// way are left out. The task metric is sum_{y > YY} p(y) - sum_{y <= YY} p(y) over the 100 two-digit
// tokens, given to the metric code as tokenSets `greater` and `notGreater`.
// Corruption `01` (the paper's): YY -> 01, "... from the year 1701 to the year 17".
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import { deriveSeed, Random } from '../core/random.js';
import { strictObject } from '../core/zod-issues.js';
import { corruptionName, type PromptCorruption } from '../core/vocabulary.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { parseTaskOptions } from './options.js';
import { checkedPair, differingPositions, rolePositions } from './pairs.js';
import { continuation, describeTokens, requireTokenizer, startsWith, tokenAfter, tokenizeSegments, type SegmentedPrompt } from './tokens.js';
import type { Dataset, PromptPair, Task, TaskContext } from './types.js';
import { readWordList } from './word-lists.js';

const NAME = 'greater-than';
const KEY_ROLES = ['YY'] as const;
export const GREATER_THAN_CORRUPTIONS = ['01'] as const;

const optionsSchema = strictObject({
  /** Centuries XX to draw from (Hanna et al.: 11..17). */
  centuries: z.array(z.number().int().min(10).max(99)).min(1).default([11, 12, 13, 14, 15, 16, 17]).describe('centuries XX to draw from'),
  /** Range of YY (inclusive); 02..98 keeps YY off the corruption's 01 and leaves years on both sides. */
  yyMin: z.number().int().min(2).max(98).default(2).describe('smallest YY'),
  yyMax: z.number().int().min(2).max(98).default(98).describe('largest YY'),
  nounsFile: z.string().min(1).default('event-nouns.txt').describe('event nouns, in the data directory'),
}).refine((o) => o.yyMin <= o.yyMax, { message: 'yyMin must not exceed yyMax', path: ['yyMin'] });

export type GreaterThanOptions = z.output<typeof optionsSchema>;

const twoDigits = (n: number): string => String(n).padStart(2, '0');

/** The token of each two-digit number "00".."99" as it follows a century token; an error naming the first that is not one token. */
export function twoDigitTokens(tokenizer: Tokenizer): number[] {
  return Array.from({ length: 100 }, (_, yy) => {
    const { ids, stable } = continuation(tokenizer, 'The year', twoDigits(yy));
    if (!stable || ids.length !== 1) {
      throw new UserError(`task greater-than needs every two-digit number "00".."99" to be one token, and this tokenizer makes "${twoDigits(yy)}" ${describeTokens(tokenizer, ids)}`);
    }
    return ids[0] as number;
  });
}

export const greaterThanTask: Task<GreaterThanOptions> = {
  name: NAME,
  example: { options: { centuries: [17], yyMin: 2, yyMax: 98 }, prompt: 'clean "The war lasted from the year 1732 to the year 17" -> a year above 32; corrupted "... 1701 ..."' },
  description: 'Greater-than: "The war lasted from the year 1732 to the year 17" -> a year after 32',
  corruptions: GREATER_THAN_CORRUPTIONS,
  keyRoles: KEY_ROLES,

  roles: ['NOUN', 'XX1', 'YY', 'XX2', 'END'],
  metrics: ['prob', 'logit-diff', 'kl', 'prob-diff'],
  optionsSchema,

  parseOptions(raw: unknown, where: string): GreaterThanOptions {
    return parseTaskOptions(optionsSchema, raw, where);
  },

  build(ctx: TaskContext, options: GreaterThanOptions, choice: PromptCorruption, seed: number, count: number): Dataset {
    const tokenizer = requireTokenizer(ctx, NAME);
    const yearTokens = twoDigitTokens(tokenizer);

    const allNouns = readWordList(ctx.dataDir, options.nounsFile);
    const nouns = allNouns.filter((noun) => tokenAfter(tokenizer, 'The', ` ${noun}`) !== undefined);
    if (nouns.length === 0) throw new UserError(`task greater-than: none of the ${allNouns.length} nouns in ${options.nounsFile} is one token for this tokenizer`);

    // A year XXYY is usable when " XXYY" is the tokens " XX" + "YY"; the century also needs XX01.
    const splitsAsExpected = (century: number, yy: number): boolean => {
      const xx = tokenAfter(tokenizer, 'the year', ` ${century}`);
      const ids = tokenizer.encode(`the year ${century}${twoDigits(yy)}`);
      const before = tokenizer.encode('the year');
      return xx !== undefined && startsWith(ids, before) && ids.length === before.length + 2 && ids[before.length] === xx && ids[before.length + 1] === yearTokens[yy];
    };
    const years: { century: number; yys: number[] }[] = [];
    for (const century of new Set(options.centuries)) {
      if (!splitsAsExpected(century, 1)) continue;
      const yys: number[] = [];
      for (let yy = options.yyMin; yy <= options.yyMax; yy++) if (splitsAsExpected(century, yy)) yys.push(yy);
      if (yys.length > 0) years.push({ century, yys });
    }
    if (years.length === 0) {
      throw new UserError(`task greater-than: no year of the centuries ${options.centuries.join(', ')} splits into a century token and a two-digit token for this tokenizer`);
    }

    // The corruption draws nothing, so the clean prompts depend on the seed alone.
    const rng = new Random(deriveSeed(seed, 0));
    const pairs: PromptPair[] = [];
    for (let index = 0; index < count; index++) {
      const noun = rng.pick(nouns);
      const { century, yys } = rng.pick(years);
      const yy = rng.pick(yys);
      const prompt = (which: string, startYy: number): SegmentedPrompt => {
        const result = tokenizeSegments(tokenizer, [
          { text: 'The' },
          { text: ` ${noun}`, role: 'NOUN' },
          { text: ' lasted from the year' },
          { text: ` ${century}`, role: 'XX1' },
          { text: twoDigits(startYy), role: 'YY' },
          { text: ' to the year' },
          { text: ` ${century}`, role: 'XX2' },
        ]);
        if (typeof result === 'string') throw new UserError(`greater-than pair ${index}: in the ${which} prompt, ${result}`);
        return result;
      };
      const clean = prompt('clean', yy);
      const corrupted = choice.kind === 'str' ? prompt('corrupted', 1) : clean;
      const end = clean.ids.length - 1;
      const roles: Record<string, number> = { ...clean.roles, END: end };
      pairs.push(
        checkedPair(NAME, ctx.vocabSize, {
          index,
          clean: clean.ids,
          corrupted: corrupted.ids,
          // The smallest greater year is the answer, YY itself the closest year that is not greater.
          targets: [{ position: end, answer: yearTokens[yy + 1] as number, wrong: yearTokens[yy] as number }],
          keyPositions: choice.kind === 'gn' ? rolePositions(NAME, index, roles, choice.roles ?? KEY_ROLES) : differingPositions(clean.ids, corrupted.ids),
          roles,
          tokenSets: { greater: yearTokens.slice(yy + 1), notGreater: yearTokens.slice(0, yy + 1) },
          cleanText: clean.text,
          corruptedText: corrupted.text,
        }),
      );
    }
    return {
      task: NAME,
      corruption: choice,
      settings: {
        task: NAME,
        options,
        corruption: corruptionName(choice),
        seed,
        count,
        tokenizer: tokenizer.kind,
        bos: tokenizer.bosId !== undefined,
        singleTokenNouns: nouns.length,
        usableYears: years.reduce((n, c) => n + c.yys.length, 0),
      },
      pairs,
    };
  },
};
