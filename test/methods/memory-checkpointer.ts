// An ACDC checkpointer in memory, for tests: `saves` counts the saves, and after `stop` of them
// save throws CheckpointStop (the run stops there, as if killed after that checkpoint).
import type { AcdcCheckpointer, AcdcProgress } from '../../src/methods/acdc-checkpoint.js';

export class MemoryCheckpointer implements AcdcCheckpointer {
  saves = 0;

  constructor(
    readonly everySeconds = 0,
    private readonly stop = Infinity,
    public saved?: AcdcProgress,
  ) {}

  async load(): Promise<AcdcProgress | undefined> {
    return this.saved;
  }

  async save(progress: AcdcProgress, stored: number): Promise<void> {
    if (stored > 0 && stored !== this.saved?.decisions.length) throw new Error(`checkpoint: writer stored ${stored} decisions, the checkpoint has ${this.saved?.decisions.length ?? 0}`);
    this.saved = { ...progress, decisions: [...progress.decisions], pruned: progress.pruned.slice() };
    this.saves++;
    if (this.saves >= this.stop) throw new CheckpointStop(this.saves);
  }
}

/** Thrown by MemoryCheckpointer after its last allowed save: the run stops there, as if killed. */
export class CheckpointStop extends Error {
  constructor(readonly saves: number) {
    super(`stopped after ${saves} checkpoints`);
  }
}
