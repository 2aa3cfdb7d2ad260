// What every task does with the pairs it makes: read the corruption it was asked for, and check
// the invariants of a PromptPair before anything downstream relies on them.
import { UserError } from '../core/errors.js';
import type { PromptPair, Roles, Task } from './types.js';

/**
 * The corruption name for Gaussian noising, accepted by every task next to its STR variants:
 * `gn` noises the task's default key roles, `gn:IO,S2` the named roles. GN prompts are unchanged
 * (corrupted = clean); the noise itself is the patching engine's business.
 */
export const GN = 'gn';

export type CorruptionChoice = { readonly kind: 'str'; readonly variant: string } | { readonly kind: 'gn'; readonly roles?: readonly string[] };

/** The corruption string for GN on `roles` (the task's defaults when none are given). */
export function gnCorruption(roles?: readonly string[]): string {
  return roles === undefined || roles.length === 0 ? GN : `${GN}:${roles.join(',')}`;
}

/** Reads `corruption` for `task`: one of its STR variants, or `gn` / `gn:ROLE,ROLE`. */
export function parseCorruption(task: Pick<Task<unknown>, 'name' | 'corruptions'>, corruption: string): CorruptionChoice {
  if (task.corruptions.includes(corruption)) return { kind: 'str', variant: corruption };
  if (corruption === GN) return { kind: 'gn' };
  if (corruption.startsWith(`${GN}:`)) {
    const roles = corruption.slice(GN.length + 1).split(',').map((r) => r.trim());
    if (roles.some((r) => r === '')) throw new UserError(`task ${task.name}: corruption ${JSON.stringify(corruption)} names an empty role`);
    return { kind: 'gn', roles };
  }
  const known = [...task.corruptions, GN, `${GN}:ROLE,...`].join(', ');
  throw new UserError(`task ${task.name} has no corruption ${JSON.stringify(corruption)} (known: ${known})`);
}

/** The positions of `chosen` roles, sorted; a role the prompt does not have is an error naming the pair. */
export function rolePositions(task: string, index: number, roles: Roles, chosen: readonly string[]): number[] {
  const positions = chosen.map((role) => {
    const position = roles[role];
    if (position === undefined) {
      throw new UserError(`${task} pair ${index}: no role ${JSON.stringify(role)} to noise (roles: ${Object.keys(roles).join(', ')})`);
    }
    return position;
  });
  return [...new Set(positions)].sort((a, b) => a - b);
}

/** Positions where two equally long prompts differ: the tokens an STR corruption swapped. */
export function differingPositions(clean: readonly number[], corrupted: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < clean.length; i++) if (clean[i] !== corrupted[i]) out.push(i);
  return out;
}

/**
 * A PromptPair after checking its invariants: clean and corrupted equally long (the pair is named,
 * never truncated), every position inside the prompt, every token id inside the model's vocabulary.
 */
export function checkedPair(task: string, vocabSize: number, pair: PromptPair): PromptPair {
  const where = `${task} pair ${pair.index}`;
  const { clean, corrupted } = pair;
  if (clean.length !== corrupted.length) {
    throw new UserError(
      `${where}: clean and corrupted prompts must have the same token length, got ${clean.length} and ${corrupted.length}` +
        (pair.cleanText === undefined ? '' : ` (clean ${JSON.stringify(pair.cleanText)}, corrupted ${JSON.stringify(pair.corruptedText)})`),
    );
  }
  if (clean.length === 0) throw new UserError(`${where}: the prompt is empty`);
  const inPrompt = (p: number): boolean => Number.isInteger(p) && p >= 0 && p < clean.length;
  if (!inPrompt(pair.metricPosition)) throw new UserError(`${where}: metric position ${pair.metricPosition} is outside the ${clean.length}-token prompt`);
  for (const p of pair.keyPositions) if (!inPrompt(p)) throw new UserError(`${where}: key position ${p} is outside the ${clean.length}-token prompt`);
  for (const [role, p] of Object.entries(pair.roles)) {
    if (!inPrompt(p)) throw new UserError(`${where}: role ${role} at ${p} is outside the ${clean.length}-token prompt`);
  }
  const ids = [...clean, ...corrupted, pair.answer, ...(pair.wrong === undefined ? [] : [pair.wrong]), ...Object.values(pair.tokenSets ?? {}).flat()];
  const outside = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= vocabSize);
  if (outside !== undefined) throw new UserError(`${where}: token id ${outside} is outside the model's vocabulary (0..${vocabSize - 1})`);
  return pair;
}
