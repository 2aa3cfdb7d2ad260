// The real stories260K model against golden values from an independent float64 implementation.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadModel } from '../../src/checkpoints/load.js';
import { greedyGenerate, topK } from '../../src/runtime/generate.js';
import { PatchableModel } from '../../src/runtime/patchable-model.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import { describeShared, stories260kGoldenPath, stories260kPath } from '../support/shared.js';

interface Golden {
  greedy_from_bos: number[];
  top5_after_bos: [number, number][];
  top5_at_position_10: [number, number][];
  top5_at_position_63: [number, number][];
  logsumexp_per_position_first8: number[];
}

describeShared('stories260K golden values', () => {
  let pm: PatchableModel;
  let golden: Golden;
  beforeAll(async () => {
    golden = JSON.parse(readFileSync(stories260kGoldenPath, 'utf8')) as Golden;
    pm = new PatchableModel(await loadModel(stories260kPath));
  });
  afterAll(async () => pm.release());

  it('greedy generation from BOS reproduces the 64 golden tokens and decodes to the known story', async () => {
    const ids = await greedyGenerate(pm, [1], { tokens: 64 });
    expect(ids).toEqual(golden.greedy_from_bos);
    const tok = (await loadTokenizer(stories260kPath))!;
    expect(tok.decode(ids)).toMatch(/^Once upon a time, there was a little girl named Lily\./);
  });

  it('top-5 logits match within 1e-3 on both the plain and the patchable path', async () => {
    const seq = golden.greedy_from_bos.slice(0, 64);
    const { logits } = await pm.run({ tokens: [seq] }, 'all');
    const plain = await pm.plainForward({ tokens: [seq] }, 'all');
    const V = pm.config.vocabSize;
    const cases: [number, [number, number][]][] = [
      [0, golden.top5_after_bos],
      [10, golden.top5_at_position_10],
      [63, golden.top5_at_position_63],
    ];
    for (const source of [logits, plain]) {
      for (const [pos, want] of cases) {
        const got = topK(source.subarray(pos * V, (pos + 1) * V), 5);
        expect(got.map(([t]) => t)).toEqual(want.map(([t]) => t));
        got.forEach(([, v], i) => expect(Math.abs(v - want[i]![1])).toBeLessThan(1e-3));
      }
      golden.logsumexp_per_position_first8.forEach((want, pos) => {
        const row = source.subarray(pos * V, (pos + 1) * V);
        const max = Math.max(...row);
        const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
        expect(Math.abs(lse - want)).toBeLessThan(1e-3);
      });
    }
  });
});
