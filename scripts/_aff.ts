import { readFileSync, readdirSync } from 'node:fs';
import type { StrCorruption } from '../src/core/vocabulary.js';
import { Experiment } from '../src/experiment/experiment.js';
import { PatchableModel } from '../src/runtime/patchable-model.js';
import { initModel } from '../src/synthetic/init.js';
import { benchDataset } from './bench-support.js';
const show = (w: string) => {
  const m = new Map<string, number>();
  for (const t of readdirSync('/proc/self/task')) {
    const a = /Cpus_allowed_list:\s+(\S+)/.exec(readFileSync(`/proc/self/task/${t}/status`, 'utf8'))![1]!;
    m.set(a, (m.get(a) ?? 0) + 1);
  }
  console.log(w, [...m]);
};
const dataset = benchDataset({ pairs: 50, length: 16, keyPositions: [5] });
const pm = new PatchableModel(initModel('gpt2-small', 0));
show('start');
const exp = await Experiment.prepare(pm, dataset, { corruption: dataset.corruption as StrCorruption, batchSize: 50 });
show('after prepare');
for (let i = 0; i < 3; i++) {
  await pm.plainForward({ tokens: dataset.pairs.map((p) => p.clean) });
  show(`after plain ${i}`);
}
const main = /Cpus_allowed_list:\s+(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1];
console.log('main thread', main, exp.groups.length);
