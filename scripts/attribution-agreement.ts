// How well eap-ig-inputs agrees with exact edge patching on a real model (issue 10): stories260K,
// the induction task, logit difference, noising. Prints the Spearman rank correlation of the two
// edge scorings (over every edge), and the MIB CPR and CMD of each (src/evaluation/mib.ts).
// Usage: npx tsx scripts/attribution-agreement.ts [--model ../shared/models/stories260K.gguf] [--pairs 16] [--corruption all-random] [--steps 5]
import { parseArgs } from 'node:util';
import { loadModel } from '../src/checkpoints/load.js';
import { Experiment } from '../src/experiment/experiment.js';
import { getMetric } from '../src/experiment/metrics.js';
import { spearman } from '../src/evaluation/method-agreement.js';
import { mibEvaluate } from '../src/evaluation/mib.js';
import { attributionScores } from '../src/methods/attribution.js';
import { PatchableModel } from '../src/runtime/patchable-model.js';
import { parseCorruption } from '../src/tasks/pairs.js';
import { buildDataset, getTask } from '../src/tasks/registry.js';
import { loadTokenizer } from '../src/tokenizer/load.js';
import { machine } from './bench-support.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: '../shared/models/stories260K.gguf' },
    pairs: { type: 'string', default: '16' },
    corruption: { type: 'string', default: 'all-random' },
    steps: { type: 'string', default: '5' },
    seed: { type: 'string', default: '0' },
  },
});

const model = await loadModel(args.model!);
const tokenizer = await loadTokenizer(args.model!);
const bosId = tokenizer === undefined ? model.config.bosTokenId : undefined;
const dataset = buildDataset(
  { ...(tokenizer === undefined ? {} : { tokenizer }), ...(bosId === undefined ? {} : { bosId }), vocabSize: model.config.vocabSize, dataDir: '' },
  { task: 'induction', corruption: parseCorruption(getTask('induction'), args.corruption!), seed: Number(args.seed), count: Number(args.pairs) },
);
const pm = new PatchableModel(model);
const exp = await Experiment.prepare(pm, dataset);
const metric = getMetric('logit-diff');
const direction = 'noising' as const;
const settings = { metric, direction, steps: Number(args.steps) };

const t0 = performance.now();
const ig = await attributionScores(exp, 'eap-ig-inputs', settings);
const tIg = (performance.now() - t0) / 1000;
const t1 = performance.now();
const exact = await attributionScores(exp, 'exact', settings);
const tExact = (performance.now() - t1) / 1000;

const graph = pm.graph;
const cells = [...graph.edges()].map((e) => e.sender * graph.nReceivers + e.receiver);
const rhoSigned = spearman(
  cells.map((c) => ig[c]!),
  cells.map((c) => exact[c]!),
);
const rhoAbs = spearman(
  cells.map((c) => Math.abs(ig[c]!)),
  cells.map((c) => Math.abs(exact[c]!)),
);
const mibIg = await mibEvaluate(exp, ig, { direction, metric });
const mibExact = await mibEvaluate(exp, exact, { direction, metric });

console.log(
  `Machine: ${machine()}. Model: ${args.model} (${graph.nEdges} edges), induction, ${dataset.pairs.length} pairs, corruption ${args.corruption}, logit difference, noising, eap-ig-inputs with ${args.steps} steps.\n`,
);
console.log(`Spearman rank correlation, eap-ig-inputs vs exact, over ${cells.length} edges: signed scores ${rhoSigned?.toFixed(3) ?? 'undefined'}, |scores| ${rhoAbs?.toFixed(3) ?? 'undefined'}\n`);
console.log('| scores | time (s) | CPR (higher is better) | CMD (lower is better) |');
console.log('|---|---:|---:|---:|');
console.log(`| eap-ig-inputs (${args.steps} steps) | ${tIg.toFixed(1)} | ${mibIg.cpr.toFixed(3)} | ${mibIg.cmd.toFixed(3)} |`);
console.log(`| exact | ${tExact.toFixed(1)} | ${mibExact.cpr.toFixed(3)} | ${mibExact.cmd.toFixed(3)} |`);
await pm.release();
