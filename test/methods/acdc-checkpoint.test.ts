// ACDC checkpoints: a run stopped after any checkpoint and resumed from it makes no decision again
// (its progress reports only the decisions after the stored ones, and it does not evaluate the
// starting circuit) and ends with the decision log, scores, circuit and metrics of the
// uninterrupted run, bit for bit; progress stored under other settings is not applied.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AcdcOptions, type AcdcResult, acdc, acdcTuned, type Speculation } from '../../src/methods/acdc.js';
import type { ProgressReporter } from '../../src/methods/method.js';
import { Experiment } from '../../src/experiment/experiment.js';
import { PatchableModel } from '../../src/runtime/patchable-model.js';
import { smallDataset, smallModel } from './fixtures.js';
import { CheckpointStop, MemoryCheckpointer } from './memory-checkpointer.js';

/** Records every progress step and note. */
class Recorder implements ProgressReporter {
  readonly steps: number[] = [];
  readonly notes: string[] = [];
  step(done: number): void {
    this.steps.push(done);
  }
  note(text: string): void {
    this.notes.push(text);
  }
}

/** What must equal between a resumed and an uninterrupted run (everything but timings and work counts). */
function outcome(r: AcdcResult) {
  return { log: r.log, scores: r.scores, inCircuit: r.inCircuit, nodeScores: r.nodeScores, nEdges: r.nEdges, initialMetric: r.initialMetric, finalMetric: r.finalMetric, complete: r.complete };
}

describe('ACDC checkpoints on a small random GPT-2', () => {
  const model = smallModel();
  const dataset = smallDataset(4);
  let pm: PatchableModel;
  let runs: Experiment;
  beforeAll(async () => {
    pm = new PatchableModel(model, { threads: 1 });
    runs = await Experiment.prepare(pm, dataset);
  });
  afterAll(async () => pm.release());

  const cases: { name: string; opts: AcdcOptions; speculation: Speculation }[] = [
    { name: 'KL, noising, edges, batch 3', opts: { tau: 0.03, metric: 'kl', batch: 3 }, speculation: 'auto' },
    { name: 'KL, denoising, edges, batch 4, speculating kept', opts: { tau: 0.1, metric: 'kl', direction: 'denoising', batch: 4 }, speculation: 'kept' },
    { name: 'logit difference, noising, nodes, batch 2', opts: { tau: 0.05, metric: 'logit-diff', level: 'node', batch: 2 }, speculation: 'pruned' },
  ];
  for (const c of cases) {
    it(`${c.name}: stopped after any checkpoint, it resumes after the last stored decision and ends as the uninterrupted run`, async () => {
      const full = await acdcTuned(runs, c.opts, { speculation: c.speculation });
      // How many checkpoints an uninterrupted run writes when it saves after every batch.
      const counting = new MemoryCheckpointer(0);
      const counted = await acdcTuned(runs, { ...c.opts, checkpoint: counting }, { speculation: c.speculation });
      expect(outcome(counted)).toEqual(outcome(full));
      expect(counting.saved?.decisions).toHaveLength(full.log.length);
      expect(counting.saves).toBeGreaterThan(2);
      for (const stop of [1, Math.floor(counting.saves / 2), counting.saves - 1]) {
        const killed = new MemoryCheckpointer(0, stop);
        await expect(acdcTuned(runs, { ...c.opts, checkpoint: killed }, { speculation: c.speculation })).rejects.toBeInstanceOf(CheckpointStop);
        const stored = killed.saved!;
        const n = stored.decisions.length;
        expect(n).toBeGreaterThan(0);
        expect(n).toBeLessThan(full.log.length);
        const progress = new Recorder();
        const again = new MemoryCheckpointer(0, Infinity, stored);
        const resumed = await acdcTuned(runs, { ...c.opts, checkpoint: again, progress }, { speculation: c.speculation });
        expect(outcome(resumed), `stopped after checkpoint ${stop}`).toEqual(outcome(full));
        // No decision made again: steps n+1 .. total only, each once, and the start not re-evaluated.
        expect(progress.steps).toEqual(Array.from({ length: full.log.length - n }, (_, k) => n + k + 1));
        expect(progress.notes).toEqual([
          `resumed after ${n} of ${full.log.length} decisions (${n - stored.decisions.filter((d) => d.pruned).length} ${c.opts.level === 'node' ? 'nodes' : 'edges'} kept)`,
        ]);
        expect(resumed.stats.resumed).toBe(n);
        expect(resumed.stats.initialSeconds).toBe(0);
        expect(again.saved?.decisions).toEqual(full.log);
      }
    });
  }

  it('a run that stopped after its last decision only rebuilds the result', async () => {
    const opts: AcdcOptions = { tau: 0.03, batch: 3 };
    const full = await acdc(runs, opts);
    const done = new MemoryCheckpointer(0);
    await acdc(runs, { ...opts, checkpoint: done });
    const passes = runs.passes;
    const again = await acdc(runs, { ...opts, checkpoint: new MemoryCheckpointer(0, Infinity, done.saved) });
    expect(outcome(again)).toEqual(outcome(full));
    expect(runs.passes).toBe(passes);
    expect(again.stats.evaluations).toBe(0);
  });

  it('progress stored under another threshold or starting set is not applied', async () => {
    const g = pm.graph;
    const other = new MemoryCheckpointer(0, 3);
    await expect(acdc(runs, { tau: 0.1, batch: 3, checkpoint: other })).rejects.toBeInstanceOf(CheckpointStop);
    const full = await acdc(runs, { tau: 0.03, batch: 3 });
    const progress = new Recorder();
    const fresh = await acdc(runs, { tau: 0.03, batch: 3, progress, checkpoint: new MemoryCheckpointer(0, Infinity, other.saved) });
    expect(outcome(fresh)).toEqual(outcome(full));
    expect(progress.notes).toEqual(['stored ACDC progress not used (stored under other settings); starting the threshold afresh']);
    expect(progress.steps[0]).toBe(1);

    const seed = new Uint8Array(g.nSenders * g.nReceivers);
    seed[g.nReceivers + g.logitsReceiver] = 1;
    const seeded = new Recorder();
    await acdc(runs, { tau: 0.1, batch: 3, initialPruned: seed, progress: seeded, checkpoint: new MemoryCheckpointer(0, Infinity, other.saved) });
    expect(seeded.notes).toEqual(['stored ACDC progress not used (stored under other settings); starting the threshold afresh']);
  });

  it('saves at most once per everySeconds, and always after the last decision', async () => {
    const slow = new MemoryCheckpointer(3600);
    const r = await acdc(runs, { tau: 0.03, batch: 3, checkpoint: slow });
    expect(slow.saves).toBe(1);
    expect(slow.saved?.decisions).toEqual(r.log);
  });
});
