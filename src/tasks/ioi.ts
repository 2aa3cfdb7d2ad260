// Indirect object identification (Wang et al. 2023): "When Mary and John went to the store, John
// gave a drink to" -> " Mary". Roles: IO (the indirect object), S1 and S2 (the two mentions of the
// subject), END (the last token, where the answer is read). Templates are BABA (S first) or ABBA
// (IO first). Corruptions as compared by Zhang & Nanda (2024):
//   s2-io        S2 -> IO: "When Mary and John went ..., Mary gave a drink to" (the answer flips to John)
//   s1-io-other  S1 and IO -> two other names: "When Alice and Bob went ..., John gave a drink to"
//   abc          IO, S1, S2 -> three other distinct names (Wang et al.'s ABC distribution)
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import { deriveSeed, Random } from '../core/random.js';
import { strictObject } from '../core/zod-issues.js';
import { corruptionName, type PromptCorruption } from '../core/vocabulary.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { parseTaskOptions } from './options.js';
import { checkedPair, differingPositions, rolePositions } from './pairs.js';
import { requireTokenizer, tokenAfter, tokenizeSegments, type Segment, type SegmentedPrompt } from './tokens.js';
import type { Dataset, PromptPair, Task, TaskContext } from './types.js';
import { readWordList } from './word-lists.js';

/**
 * Templates in the order of their first clause: {A} and {B} are the first two names, {S} is the
 * second mention of the subject. ABBA fills A = IO, B = S1; BABA fills A = S1, B = IO. Every name
 * follows a space, so it is always the " Name" token; every template ends just before the answer.
 */
export const IOI_TEMPLATES: readonly string[] = [
  'When {A} and {B} went to the {PLACE}, {S} gave a {OBJECT} to',
  'Then, {A} and {B} went to the {PLACE}. {S} gave a {OBJECT} to',
  'After {A} and {B} arrived at the {PLACE}, {S} handed a {OBJECT} to',
  'While {A} and {B} were working at the {PLACE}, {S} gave a {OBJECT} to',
  'When {A} and {B} got a {OBJECT} at the {PLACE}, {S} decided to give it to',
  'Then, {A} and {B} had a long argument. Afterwards {S} said to',
  'Friends {A} and {B} found a {OBJECT} at the {PLACE}. {S} gave it to',
  'Afterwards, {A} and {B} went to the {PLACE}. {S} brought a {OBJECT} to',
  'The {PLACE} {A} and {B} went to had a {OBJECT}. {S} gave it to',
  'Yesterday, {A} and {B} walked to the {PLACE}, and {S} passed a {OBJECT} to',
];

export const IOI_CORRUPTIONS = ['s2-io', 's1-io-other', 'abc'] as const;

const optionsSchema = strictObject({
  /** Which name orders to generate; `mixed` alternates ABBA and BABA pair by pair. */
  templates: z.enum(['BABA', 'ABBA', 'mixed']).default('mixed').describe('name orders; mixed alternates ABBA and BABA'),
  /** Word lists, relative to the data directory. */
  namesFile: z.string().min(1).default('names.txt').describe('first names, in the data directory'),
  placesFile: z.string().min(1).default('places.txt').describe('places, in the data directory'),
  objectsFile: z.string().min(1).default('objects.txt').describe('objects, in the data directory'),
});

export type IoiOptions = z.output<typeof optionsSchema>;

interface Names {
  readonly io: string;
  readonly s1: string;
  readonly s2: string;
}

type Order = 'ABBA' | 'BABA';

const NAME = 'ioi';
const KEY_ROLES = ['IO', 'S1', 'S2'] as const;
// abc needs IO and S plus three fresh names.
const MIN_NAMES = 5;

/** The template filled in, as segments with the roles marked. */
function fill(template: string, order: Order, names: Names, place: string, object: string): Segment[] {
  const [a, b] = order === 'ABBA' ? (['IO', 'S1'] as const) : (['S1', 'IO'] as const);
  const slot: Record<string, { text: string; role?: string }> = {
    A: { text: a === 'IO' ? names.io : names.s1, role: a },
    B: { text: b === 'IO' ? names.io : names.s1, role: b },
    S: { text: names.s2, role: 'S2' },
    PLACE: { text: place },
    OBJECT: { text: object },
  };
  const segments: Segment[] = [];
  let last = 0;
  // A name's segment takes the space before it, so that it is the single " Name" token.
  for (const match of template.matchAll(/( ?)\{(\w+)\}/g)) {
    const fillIn = slot[match[2] ?? ''];
    if (fillIn === undefined) throw new Error(`IOI template ${JSON.stringify(template)}: unknown slot ${match[0]}`);
    segments.push({ text: template.slice(last, match.index) });
    const text = (match[1] ?? '') + fillIn.text;
    segments.push(fillIn.role === undefined ? { text } : { text, role: fillIn.role });
    last = match.index + match[0].length;
  }
  segments.push({ text: template.slice(last) });
  return segments.filter((s) => s.text !== '' || s.role !== undefined);
}

/** The names that are one token (" Name") for this tokenizer. */
export function singleTokenNames(tokenizer: Tokenizer, names: readonly string[]): string[] {
  // Asked after a word, as every name occurs after one in the templates.
  return names.filter((name) => tokenAfter(tokenizer, 'When', ` ${name}`) !== undefined);
}

export const ioiTask: Task<IoiOptions> = {
  name: NAME,
  example: { options: { templates: 'mixed' }, prompt: 'clean "When Mary and John went to the store, John gave a drink to" -> " Mary" (wrong " John")' },
  description: 'Indirect object identification: "When Mary and John went to the store, John gave a drink to" -> " Mary"',
  corruptions: IOI_CORRUPTIONS,
  keyRoles: KEY_ROLES,

  roles: ['IO', 'S1', 'S2', 'END'],
  metrics: ['prob', 'logit-diff', 'kl'],
  optionsSchema,

  parseOptions(raw: unknown, where: string): IoiOptions {
    return parseTaskOptions(optionsSchema, raw, where);
  },

  build(ctx: TaskContext, options: IoiOptions, choice: PromptCorruption, seed: number, count: number): Dataset {
    const tokenizer = requireTokenizer(ctx, NAME);
    const allNames = readWordList(ctx.dataDir, options.namesFile);
    const names = singleTokenNames(tokenizer, allNames);
    if (names.length < MIN_NAMES) {
      throw new UserError(
        `task ioi: only ${names.length} of the ${allNames.length} names in ${options.namesFile} are one token for this tokenizer (with a leading space); at least ${MIN_NAMES} are needed`,
      );
    }
    const places = readWordList(ctx.dataDir, options.placesFile);
    const objects = readWordList(ctx.dataDir, options.objectsFile);

    // Separate streams: the clean prompts depend on the seed alone, not on the corruption.
    const cleanRng = new Random(deriveSeed(seed, 0));
    const corruptRng = new Random(deriveSeed(seed, 1));
    const pairs: PromptPair[] = [];
    for (let index = 0; index < count; index++) {
      const order: Order = options.templates === 'mixed' ? (index % 2 === 0 ? 'ABBA' : 'BABA') : options.templates;
      const template = cleanRng.pick(IOI_TEMPLATES);
      const [io, s] = cleanRng.sample(names, 2) as [string, string];
      const place = cleanRng.pick(places);
      const object = cleanRng.pick(objects);
      const cleanNames: Names = { io, s1: s, s2: s };

      let corruptNames = cleanNames;
      if (choice.kind === 'str') {
        const used = new Set([io, s]);
        if (choice.variant === 's2-io') corruptNames = { io, s1: s, s2: io };
        else if (choice.variant === 's1-io-other') {
          const [c, d] = corruptRng.sample(names, 2, used) as [string, string];
          corruptNames = { io: c, s1: d, s2: s };
        } else {
          const [c, d, e] = corruptRng.sample(names, 3, used) as [string, string, string];
          corruptNames = { io: c, s1: d, s2: e };
        }
      }

      const tokenize = (which: string, n: Names): SegmentedPrompt => {
        const prompt = tokenizeSegments(tokenizer, fill(template, order, n, place, object));
        if (typeof prompt === 'string') throw new UserError(`ioi pair ${index}: in the ${which} prompt, ${prompt}`);
        return prompt;
      };
      const clean = tokenize('clean', cleanNames);
      const corrupted = corruptNames === cleanNames ? clean : tokenize('corrupted', corruptNames);
      const end = clean.ids.length - 1;
      const roles: Record<string, number> = { ...clean.roles, END: end };
      const keyPositions = choice.kind === 'gn' ? rolePositions(NAME, index, roles, choice.roles ?? KEY_ROLES) : differingPositions(clean.ids, corrupted.ids);
      const pair = checkedPair(NAME, ctx.vocabSize, {
        index,
        clean: clean.ids,
        corrupted: corrupted.ids,
        targets: [{ position: end, answer: clean.ids[roles.IO ?? end] as number, wrong: clean.ids[roles.S1 ?? end] as number }],
        keyPositions,
        roles,
        cleanText: clean.text,
        corruptedText: corrupted.text,
      });
      // Same length with single-token names means the same role positions; checked all the same.
      for (const role of KEY_ROLES) {
        if (corrupted.roles[role] !== roles[role]) {
          throw new UserError(`ioi pair ${index}: role ${role} is at ${roles[role]} in the clean prompt but at ${corrupted.roles[role]} in the corrupted one`);
        }
      }
      pairs.push(pair);
    }
    return {
      task: NAME,
      corruption: choice,
      settings: { task: NAME, options, corruption: corruptionName(choice), seed, count, tokenizer: tokenizer.kind, bos: tokenizer.bosId !== undefined, singleTokenNames: names.length },
      pairs,
    };
  },
};
