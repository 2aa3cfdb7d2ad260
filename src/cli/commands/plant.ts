// `patchwise model plant <kind>`: write a model with a hand-set, known circuit and its ground truth,
// and show that it really does the task, measured with the ordinary runtime.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { UserError } from '../../core/errors.js';
import { ComponentGraph } from '../../graph/component-graph.js';
import { GROUND_TRUTH_FILE, PLANTED_KINDS, plantInductionModel, writePlanted } from '../../synthetic/planted.js';
import { parameterCount } from '../../model/types.js';
import { PatchableModel } from '../../runtime/patchable-model.js';
import { Random } from '../../core/random.js';

export interface AccuracyOptions {
  /** Number of random sequences (default 200). */
  readonly samples?: number;
  /** Sequence lengths L are uniform in [minLength, maxLength] (default 10..30); prompts are 2L tokens. */
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly seed?: number;
}

export interface InductionAccuracy {
  readonly samples: number;
  /** Top-1 accuracy predicting tokens 2..L of the second copy (positions L .. 2L-2). */
  readonly secondCopy: number;
  /** Top-1 accuracy predicting tokens 2..L of the first copy: nothing to copy yet, so ~0. */
  readonly firstCopy: number;
  /** Predictions scored per copy. */
  readonly predictions: number;
}

/**
 * Accuracy on seeded random sequences of distinct tokens, each repeated once, through the real
 * runtime (PatchableModel.run, logits at every position). Distinct tokens make the next token of
 * the second copy unambiguous.
 */
export async function inductionAccuracy(pm: PatchableModel, opts: AccuracyOptions = {}): Promise<InductionAccuracy> {
  const samples = opts.samples ?? 200;
  const lo = opts.minLength ?? 10;
  const hi = opts.maxLength ?? 30;
  const V = pm.config.vocabSize;
  if (!(lo >= 2 && hi >= lo && hi <= V && 2 * hi <= pm.config.maxPositions)) {
    throw new UserError(`sequence lengths ${lo}..${hi} need 2 <= min <= max <= ${Math.min(V, pm.config.maxPositions / 2)}`);
  }
  const rng = new Random(opts.seed ?? 0);
  const pool = Array.from({ length: V }, (_, i) => i);
  const byLength = new Map<number, number[][]>();
  for (let n = 0; n < samples; n++) {
    const L = lo + rng.int(hi - lo + 1);
    const seq = rng.sample(pool, L);
    byLength.set(L, [...(byLength.get(L) ?? []), [...seq, ...seq]]);
  }
  let second = 0;
  let first = 0;
  let scored = 0;
  for (const [L, prompts] of byLength) {
    const T = 2 * L;
    const { logits } = await pm.run({ tokens: prompts }, 'all');
    prompts.forEach((tokens, b) => {
      for (let i = 0; i < L - 1; i++) {
        if (argmax(logits, (b * T + L + i) * V, V) === tokens[L + i + 1]) second++;
        if (argmax(logits, (b * T + i) * V, V) === tokens[i + 1]) first++;
        scored++;
      }
    });
  }
  return { samples, secondCopy: second / scored, firstCopy: first / scored, predictions: scored };
}

function argmax(x: Float32Array, offset: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (x[offset + i]! > x[offset + best]!) best = i;
  return best;
}

export const plant: CommandModule<object, { kind: string; out: string; seed: number; samples: number; force: boolean }> = {
  command: 'plant <kind>',
  describe: 'Write a small GPT-2 with a hand-set circuit (induction: previous-token head -> induction head) and its ground truth',
  builder: (y) =>
    y
      .positional('kind', { type: 'string', demandOption: true, choices: [...PLANTED_KINDS], describe: 'which circuit' })
      .option('out', { type: 'string', demandOption: true, describe: 'output directory' })
      .option('seed', { type: 'number', default: 0, describe: 'seeds the basis and the distractor weights' })
      .option('samples', { type: 'number', default: 200, describe: 'random repeated sequences to measure accuracy on' })
      .option('force', { type: 'boolean', default: false, describe: 'overwrite a non-empty output directory' }),
  handler: async (argv) => {
    if (!Number.isInteger(argv.seed)) throw new UserError(`--seed must be an integer, got ${argv.seed}`);
    if (!Number.isInteger(argv.samples) || argv.samples < 1) throw new UserError(`--samples must be a positive integer, got ${argv.samples}`);
    if (existsSync(argv.out) && readdirSync(argv.out).length > 0 && !argv.force) {
      throw new UserError(`${argv.out} is not empty; pass --force to overwrite`);
    }
    const { model, groundTruth: gt } = writePlanted(argv.out, plantInductionModel({ seed: argv.seed }));
    const c = model.config;
    const g = ComponentGraph.forModel(c);
    console.log(
      `wrote planted ${argv.kind} model (seed ${argv.seed}, d_model ${c.dModel}, ${c.nLayers} layers x ${c.nHeads} heads, ` +
        `vocabulary ${c.vocabSize}, ${parameterCount(model.weights, c).toLocaleString('en-US')} parameters, ` +
        `${g.nEdges.toLocaleString('en-US')} edges) to ${argv.out}`,
    );
    console.log(`circuit: ${gt.heads.previousToken} (previous token) -> ${gt.heads.induction} (induction)`);
    console.log(`ground truth: ${gt.nodes.length} nodes, ${gt.edges.length} edges (+${gt.positionalEdges.length} position-only) in ${join(argv.out, GROUND_TRUTH_FILE)}`);
    const pm = new PatchableModel(model);
    try {
      const acc = await inductionAccuracy(pm, { samples: argv.samples, seed: argv.seed });
      console.log(
        `accuracy on ${acc.samples} random sequences of 10..30 distinct tokens, repeated (${acc.predictions} predictions per copy): ` +
          `second copy ${acc.secondCopy.toFixed(3)}, first copy ${acc.firstCopy.toFixed(3)} (nothing to copy yet; chance ~${(1 / c.vocabSize).toFixed(3)})`,
      );
    } finally {
      await pm.release();
    }
  },
};
