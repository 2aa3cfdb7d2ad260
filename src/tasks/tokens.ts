// Token-level facts about prompts, found with the model's own tokenizer. A word's token depends on
// its context (GPT-2: the leading space; SentencePiece: '▁'), so every question is asked in place:
// what does `text` add when it follows `prefix`, and do the tokens before it stay the same?
import { UserError } from '../core/errors.js';
import type { Tokenizer } from '../tokenizer/types.js';
import type { TaskContext } from './types.js';

/** The tokenizer, or a UserError saying that `task` needs one (models without tokenizer files have none). */
export function requireTokenizer(ctx: TaskContext, task: string): Tokenizer {
  if (ctx.tokenizer === undefined) {
    throw new UserError(`task ${task} builds its prompts from text, so it needs the model's tokenizer, and this model has none`);
  }
  return ctx.tokenizer;
}

/** `ids` with the tokenizer's BOS in front where it has one. */
export function withBos(tokenizer: Tokenizer | undefined, ids: readonly number[]): number[] {
  return tokenizer?.bosId === undefined ? [...ids] : [tokenizer.bosId, ...ids];
}

export function startsWith(ids: readonly number[], prefix: readonly number[]): boolean {
  return prefix.length <= ids.length && prefix.every((id, i) => ids[i] === id);
}

/** Tokens as a reader wants them in a message: `" San", " Francisco"`. */
export function describeTokens(tokenizer: Tokenizer, ids: readonly number[]): string {
  return ids.map((id) => JSON.stringify(tokenizer.tokenText(id))).join(', ');
}

/**
 * The tokens `text` adds after `prefix`. `stable` is false when appending it re-splits the prefix's
 * own tokens (e.g. a prefix ending in a space that merges with the text), in which case `ids` is
 * what `text` tokenizes to alone.
 */
export function continuation(tokenizer: Tokenizer, prefix: string, text: string): { ids: number[]; stable: boolean } {
  const before = tokenizer.encode(prefix);
  const after = tokenizer.encode(prefix + text);
  if (startsWith(after, before)) return { ids: after.slice(before.length), stable: true };
  return { ids: tokenizer.encode(text), stable: false };
}

/** The single token `text` is after `prefix`, or undefined where it is more than one (or re-splits the prefix). */
export function tokenAfter(tokenizer: Tokenizer, prefix: string, text: string): number | undefined {
  const { ids, stable } = continuation(tokenizer, prefix, text);
  return stable && ids.length === 1 ? ids[0] : undefined;
}

/** A piece of a prompt; a piece with a role must be exactly one token where it stands. */
export interface Segment {
  readonly text: string;
  readonly role?: string;
}

export interface SegmentedPrompt {
  readonly text: string;
  /** Token ids of the whole text, with BOS in front where the tokenizer has one. */
  readonly ids: number[];
  /** Token position of each role segment (counting BOS). */
  readonly roles: Record<string, number>;
}

/**
 * Tokenizes the concatenated segments and finds each role's token position. Returns the reason as
 * a string when a role segment is not exactly one token in place, for the caller to put in context.
 */
export function tokenizeSegments(tokenizer: Tokenizer, segments: readonly Segment[]): SegmentedPrompt | string {
  let text = '';
  const roleIds: { role: string; ids: number[] }[] = [];
  for (const segment of segments) {
    if (segment.role !== undefined) {
      const before = tokenizer.encode(text);
      const after = tokenizer.encode(text + segment.text);
      if (after.length !== before.length + 1 || !startsWith(after, before)) {
        return `${segment.role} ${JSON.stringify(segment.text)} is not exactly one token after ${JSON.stringify(text)}`;
      }
      roleIds.push({ role: segment.role, ids: after });
    }
    text += segment.text;
  }
  const ids = tokenizer.encode(text);
  const offset = tokenizer.bosId === undefined ? 0 : 1;
  const roles: Record<string, number> = {};
  for (const { role, ids: prefixIds } of roleIds) {
    // The text after a role could still merge with it; the whole prompt must agree with its prefixes.
    if (!startsWith(ids, prefixIds)) return `${role} does not keep its token once the rest of ${JSON.stringify(text)} follows`;
    roles[role] = prefixIds.length - 1 + offset;
  }
  return { text, ids: withBos(tokenizer, ids), roles };
}
