// What every task does with the pairs it makes: read the corruption it was asked for, and check
// the invariants of a PromptPair before anything downstream relies on them.
import { UserError } from '../core/errors.js';
import type { PromptCorruption } from '../core/vocabulary.js';
import type { PromptPair, Roles, Task } from './types.js';

/** `str` in a pipeline: the task's default STR variant (its first). */
export const DEFAULT_STR = 'str';

/** Gaussian noising: `gn` noises the task's default key roles, `gn:IO,S2` the named roles. */
export const GN = 'gn';

/**
 * The one parser of a corruption name for `task` (the pipeline schema calls it): one of its STR
 * variants, `str` (its default variant), or `gn` / `gn:ROLE,ROLE` with roles the task's prompts
 * have. GN prompts are unchanged (corrupted = clean); the noise itself is the experiment's business.
 */
export function parseCorruption(task: Pick<Task<unknown>, 'name' | 'corruptions' | 'roles'>, corruption: string): PromptCorruption {
  if (corruption === DEFAULT_STR) {
    const variant = task.corruptions[0];
    if (variant === undefined) throw new Error(`task ${task.name} lists no corruptions`);
    return { kind: 'str', variant };
  }
  if (task.corruptions.includes(corruption)) return { kind: 'str', variant: corruption };
  if (corruption === GN) return { kind: 'gn' };
  if (corruption.startsWith(`${GN}:`)) {
    const roles = corruption
      .slice(GN.length + 1)
      .split(',')
      .map((r) => r.trim());
    if (roles.some((r) => r === '')) throw new UserError(`task ${task.name}: corruption ${JSON.stringify(corruption)} names an empty role`);
    if (task.roles.length === 0) {
      throw new UserError(`task ${task.name} has no roles to noise; use plain ${JSON.stringify(GN)}, which noises each prompt's key tokens`);
    }
    const unknown = roles.filter((r) => !task.roles.includes(r));
    if (unknown.length > 0) {
      throw new UserError(`task ${task.name} has no role${unknown.length > 1 ? 's' : ''} ${unknown.map((r) => JSON.stringify(r)).join(', ')} to noise (roles: ${task.roles.join(', ')})`);
    }
    return { kind: 'gn', roles };
  }
  const known = [...task.corruptions, DEFAULT_STR, GN, `${GN}:ROLE,...`].join(', ');
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
  if (pair.targets.length === 0) throw new UserError(`${where}: no metric target (position and answer)`);
  pair.targets.forEach((t, i) => {
    if (!inPrompt(t.position)) throw new UserError(`${where}: target ${i}: metric position ${t.position} is outside the ${clean.length}-token prompt`);
    if (t.wrong !== undefined && t.wrong === t.answer) throw new UserError(`${where}: target ${i}: the wrong answer ${t.wrong} is the answer itself`);
  });
  for (const p of pair.keyPositions) if (!inPrompt(p)) throw new UserError(`${where}: key position ${p} is outside the ${clean.length}-token prompt`);
  for (const [role, p] of Object.entries(pair.roles)) {
    if (!inPrompt(p)) throw new UserError(`${where}: role ${role} at ${p} is outside the ${clean.length}-token prompt`);
  }
  const answers = pair.targets.flatMap((t) => (t.wrong === undefined ? [t.answer] : [t.answer, t.wrong]));
  const ids = [...clean, ...corrupted, ...answers, ...Object.values(pair.tokenSets ?? {}).flat()];
  const outside = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= vocabSize);
  if (outside !== undefined) throw new UserError(`${where}: token id ${outside} is outside the model's vocabulary (0..${vocabSize - 1})`);
  return pair;
}
