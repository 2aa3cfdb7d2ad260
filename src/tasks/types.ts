// The vocabulary of tasks: what a patching experiment needs from a dataset, whatever task made it.
import type { z } from 'zod';
import type { MetricName, PromptCorruption } from '../core/vocabulary.js';
import type { Tokenizer } from '../tokenizer/types.js';

/** Named token positions of a prompt (IOI: IO, S1, S2, END; greater-than: YY, END; ...). */
export type Roles = Readonly<Record<string, number>>;

/**
 * Where a metric reads a prompt: the next-token distribution at `position`, with the correct next
 * token there and its competitor. A pair has one or more; every metric averages over them.
 */
export interface MetricTarget {
  readonly position: number;
  /** The correct next token r at `position` on the clean prompt. */
  readonly answer: number;
  /** The competing token r' for logit difference (IOI: the subject name). */
  readonly wrong?: number;
}

/**
 * One clean/corrupted prompt pair. Token ids include BOS where the model expects one, and both
 * prompts have the same length: a pair that does not is an error naming the pair, never truncated.
 */
export interface PromptPair {
  /** Position of this pair in its dataset (0-based), used in error messages and stored results. */
  readonly index: number;
  readonly clean: readonly number[];
  /** The STR/ABC/resample corrupted prompt; for Gaussian noising, equal to `clean`. */
  readonly corrupted: readonly number[];
  /**
   * Where the metrics read (at least one; usually the last position alone). Induction and tasks
   * with several answers per prompt list many; a pair's score is the mean over them.
   */
  readonly targets: readonly MetricTarget[];
  /** Positions of the key tokens: where STR swaps tokens and where GN adds noise. */
  readonly keyPositions: readonly number[];
  readonly roles: Roles;
  /**
   * Task-specific token sets for task metrics, e.g. greater-than: `greater` = year tokens above YY,
   * `notGreater` = year tokens at or below YY.
   */
  readonly tokenSets?: Readonly<Record<string, readonly number[]>>;
  /** Human-readable prompt texts, for tables and the viewer. */
  readonly cleanText?: string;
  readonly corruptedText?: string;
}

export interface Dataset {
  readonly task: string;
  /** Everything that determined the dataset (task options, seed, corruption variant), stored with results. */
  readonly settings: Readonly<Record<string, unknown>>;
  /** The corruption its corrupted prompts and key positions were made for. */
  readonly corruption: PromptCorruption;
  readonly pairs: readonly PromptPair[];
}

export interface TaskContext {
  /**
   * Absent for models without tokenizer files (a planted or randomly initialised model): only tasks
   * that need no text (induction) can run then; the others throw a UserError saying so.
   */
  readonly tokenizer?: Tokenizer;
  /**
   * For a model without a tokenizer: the BOS its config.json names (bos_token_id), which prompts
   * built from token ids (induction) start with. With a tokenizer, the tokenizer's BOS rules.
   */
  readonly bosId?: number;
  /** The model's vocabulary size (may exceed the tokenizer's: padded embeddings). */
  readonly vocabSize: number;
  /** Directory holding word lists (data/). */
  readonly dataDir: string;
  /** Directory that relative file options (paired-jsonl's `file`) are resolved against; the working directory when absent. */
  readonly baseDir?: string;
}

/** A task: builds a dataset of prompt pairs for a model's tokenizer. Registered in tasks/registry.ts. */
export interface Task<Options> {
  readonly name: string;
  readonly description: string;
  /** The STR variants this task can make (first is the default). */
  readonly corruptions: readonly string[];
  /**
   * Roles whose positions Gaussian noising corrupts when the corruption names none (see pairs.ts GN);
   * absent where the task's key tokens are not roles (induction: the second copy; paired-jsonl: each line's keys).
   */
  readonly keyRoles?: readonly string[];
  /** Every role its prompts name, which `gn:ROLE,...` may noise (empty: the task has no roles to name). */
  readonly roles: readonly string[];
  /**
   * The metrics every one of its pairs supports (a metric outside them is an error at load); absent
   * where it depends on the data (paired-jsonl: a line may lack a wrong answer), checked per pair.
   */
  readonly metrics?: readonly MetricName[];
  /** A pipeline's task section for it and what a prompt looks like, for `patchwise tasks`. */
  readonly example: { readonly options: Readonly<Record<string, unknown>>; readonly prompt: string };
  /** Its options, with their defaults: the pipeline schema embeds it, so a bad option fails at load. */
  readonly optionsSchema: z.ZodType<Options>;
  /** Parses and checks options (absent: all defaults); throws a UserError naming the field. */
  parseOptions(raw: unknown, where: string): Options;
  /**
   * `corruption` is a parsed corruption (see tasks/pairs.ts parseCorruption): one of `corruptions`,
   * or Gaussian noising (clean = corrupted; keyPositions = the roles' positions). The same seed
   * gives the same clean prompts whatever the corruption, so corruptions compare on identical prompts.
   */
  build(ctx: TaskContext, options: Options, corruption: PromptCorruption, seed: number, count: number): Dataset;
}
