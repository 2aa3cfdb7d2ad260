// ACDC's progress inside one threshold, as a checkpoint: the decisions made so far (in visiting
// order), the pruned set they leave, and the score of the current circuit. With it a threshold that
// was killed continues after its last stored decision instead of from the full graph: nothing is
// recomputed, and the result is the one an uninterrupted run gives (the next speculative batch
// starts where the uninterrupted run's next batch starts, so even the batches are the same).
// The store keeps checkpoints (store/acdc-checkpoints.ts); acdc.ts only sees this interface.
import { createHash } from 'node:crypto';
import type { AcdcDecision } from './acdc.js';

/** ACDC's state after `decisions.length` decisions of one threshold. */
export interface AcdcProgress {
  /** The checkpoint's key (see acdcCheckpointKey): progress stored under another key is not applied. */
  readonly key: string;
  /** Mean score (not the ACDC metric: KL's score is -KL) of the starting circuit. */
  readonly initial: number;
  /** Mean score of the current circuit (the starting one with every pruned decision's edges removed). */
  readonly current: number;
  /** Every decision so far, in visiting order. */
  readonly decisions: readonly AcdcDecision[];
  /** [S * R] 1 where an edge is removed: the starting pruned set plus every pruned decision's edges. */
  readonly pruned: Uint8Array;
}

/** Where one threshold keeps its progress (a store row bound to a run and unit, or memory in tests). */
export interface AcdcCheckpointer {
  /** The stored progress, or undefined when there is none. */
  load(): Promise<AcdcProgress | undefined>;
  /**
   * Stores `progress`, replacing what was stored. `stored` is how many of its decisions the last
   * save (or load) of this writer stored already: those are not written again; 0 replaces whatever
   * is there (a checkpoint of another key, or none).
   */
  save(progress: AcdcProgress, stored: number): Promise<void>;
  /** Minimum seconds between saves (a save follows a speculative batch); the last decisions are always saved. Default 1. */
  readonly everySeconds?: number;
}

/** What decides a threshold's decisions besides the model and data (the run key covers those): progress under another key is not applied. */
export interface AcdcCheckpointScope {
  readonly tau: number;
  readonly metric: string;
  readonly direction: string;
  readonly level: 'edge' | 'node';
  readonly rule: string;
  readonly nSenders: number;
  readonly nReceivers: number;
  /** The edges removed before the first decision (attribution-seeded ACDC). */
  readonly initialPruned: Uint8Array;
  /** Names of the units in visiting order. */
  readonly order: readonly string[];
}

/** A short hash of the scope: equal scopes, equal keys. */
export function acdcCheckpointKey(scope: AcdcCheckpointScope): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ ...scope, initialPruned: undefined, order: undefined }));
  h.update(scope.initialPruned);
  for (const name of scope.order) h.update(`${name}\n`);
  return h.digest('hex').slice(0, 24);
}
