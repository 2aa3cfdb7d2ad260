// ACDC's exactness: every decision of a run, batched and speculated, replayed through the float64
// reference forward (mask = the edges removed so far + the candidate; metrics hand-written) must
// agree: same visiting order, same before/after metric values within 1e-4, same decisions, same
// final circuit; and the batch size and speculation strategy must not change any decision.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AcdcOptions, type AcdcResult, acdc, acdcSweep, acdcTuned } from '../../src/methods/acdc.js';
import { Experiment } from '../../src/experiment/experiment.js';
import { PatchableModel } from '../../src/runtime/patchable-model.js';
import { Reference, smallDataset, smallModel } from './fixtures.js';

const TOL = 1e-4;

describe('ACDC on a small random GPT-2 (d 16, 2 layers, 2 heads)', () => {
  const model = smallModel();
  const dataset = smallDataset(4);
  let pm: PatchableModel;
  let runs: Experiment;
  let ref: Reference;
  beforeAll(async () => {
    pm = new PatchableModel(model, { threads: 1 });
    runs = await Experiment.prepare(pm, dataset);
    ref = new Reference(model, pm.graph, dataset);
  });
  afterAll(async () => pm.release());

  /** The edges (as cells s * R + r) a decision removes. */
  const cellsOf = (r: AcdcResult, i: number): number[] => {
    const g = pm.graph;
    const d = r.log[i]!;
    if (d.receiver !== undefined) return [d.sender * g.nReceivers + d.receiver];
    return [...g.edges()].filter((e) => e.sender === d.sender).map((e) => e.sender * g.nReceivers + e.receiver);
  };

  /** Replays a run through the reference, deciding independently; checks values, decisions and the circuit. */
  function replay(r: AcdcResult): void {
    const g = pm.graph;
    const R = g.nReceivers;
    const isKl = r.metric === 'kl';
    const removed = new Set<number>();
    const mean = (cells: Set<number>): number =>
      ref.mean(r.metric, r.direction, (s, rc) => {
        if (!g.hasEdge(s, rc)) return 0;
        const gone = cells.has(s * R + rc);
        return (r.direction === 'noising' ? gone : !gone) ? 1 : 0;
      });
    const value = (score: number) => (isKl ? -score : score);
    let current = mean(removed);
    expect(Math.abs(value(current) - r.initialMetric)).toBeLessThan(TOL);
    r.log.forEach((d, i) => {
      const tried = new Set([...removed, ...cellsOf(r, i)]);
      const after = mean(tried);
      expect(Math.abs(value(current) - d.before), `before, decision ${i} (${d.name})`).toBeLessThan(TOL);
      expect(Math.abs(value(after) - d.after), `after, decision ${i} (${d.name})`).toBeLessThan(TOL);
      const damage = current - after;
      // Margin: a tie within float noise of tau would make the comparison meaningless.
      const x = r.rule === 'signed' ? damage : Math.abs(damage);
      expect(Math.abs(x - r.tau), `decision ${i} (${d.name}) is too close to tau`).toBeGreaterThan(10 * TOL);
      const prune = x < r.tau;
      expect(d.pruned, `decision ${i} (${d.name})`).toBe(prune);
      if (prune) {
        cellsOf(r, i).forEach((c) => removed.add(c));
        current = after;
      }
    });
    expect(Math.abs(value(current) - r.finalMetric)).toBeLessThan(TOL);
    for (const e of g.edges()) expect(r.inCircuit[e.sender * R + e.receiver]).toBe(removed.has(e.sender * R + e.receiver) ? 0 : 1);
  }

  const cases: { name: string; opts: AcdcOptions }[] = [
    { name: 'KL, noising, edges', opts: { tau: 0.03, metric: 'kl' } },
    { name: 'KL, noising, edges, tau 0.1', opts: { tau: 0.1, metric: 'kl' } },
    { name: 'KL, denoising, edges', opts: { tau: 0.1, metric: 'kl', direction: 'denoising' } },
    { name: 'logit difference (absolute rule), noising, edges', opts: { tau: 0.03, metric: 'logit-diff' } },
    { name: 'KL, noising, nodes', opts: { tau: 0.1, metric: 'kl', level: 'node' } },
    { name: 'logit difference (absolute rule), denoising, nodes', opts: { tau: 0.05, metric: 'logit-diff', direction: 'denoising', level: 'node' } },
  ];
  for (const c of cases) {
    it(`${c.name}: decisions replay exactly through the float64 reference; K = 1 and K > 1 agree`, async () => {
      const batched = await acdc(runs, { ...c.opts, batch: 8 });
      replay(batched);
      expect(batched.log.filter((d) => d.pruned).length).toBeGreaterThan(0);
      expect(batched.log.filter((d) => !d.pruned).length).toBeGreaterThan(0);
      const decisions = (r: AcdcResult) => r.log.map((d) => `${d.name}:${d.pruned}`);
      for (const variant of [{ batch: 1 }, { batch: 5, speculation: 'kept' as const }, { batch: 3, speculation: 'pruned' as const }]) {
        const other = await acdcTuned(runs, { ...c.opts, batch: variant.batch }, { speculation: variant.speculation });
        expect(decisions(other)).toEqual(decisions(batched));
        expect(other.inCircuit).toEqual(batched.inCircuit);
        other.log.forEach((d, i) => expect(Math.abs(d.after - batched.log[i]!.after)).toBeLessThan(TOL));
      }
    });
  }

  it('decides edges into a node no kept path reads without a run, as the reference does (damage 0)', async () => {
    const r = await acdc(runs, { tau: 0.1, metric: 'kl' });
    replay(r);
    expect(r.stats.unread).toBeGreaterThan(0);
    const free = r.log.filter((d) => d.score === 0 && d.before === d.after);
    expect(free.length).toBe(r.stats.unread);
    expect(free.every((d) => d.pruned)).toBe(true);
    // Denoising and node-level runs have no such shortcut.
    expect((await acdc(runs, { tau: 0.1, metric: 'kl', direction: 'denoising' })).stats.unread).toBe(0);
    expect((await acdc(runs, { tau: 0.1, metric: 'kl', level: 'node' })).stats.unread).toBe(0);
  });

  it("visits receivers from the logits back and each receiver's senders from the latest", async () => {
    const g = pm.graph;
    const r = await acdc(runs, { tau: 0.03 });
    const expected: string[] = [];
    for (let rc = g.nReceivers - 1; rc >= 0; rc--) for (let s = g.fanIn[rc]! - 1; s >= 0; s--) expected.push(g.edgeName({ sender: s, receiver: rc }));
    expect(r.log.map((d) => d.name)).toEqual(expected);
    expect(expected.slice(0, 8)).toEqual(['m1->logits', 'a1.h1->logits', 'a1.h0->logits', 'm0->logits', 'a0.h1->logits', 'a0.h0->logits', 'input->logits', 'a1.h1->m1']);
    expect(r.complete).toBe(true);
    // Edge scores are the logged damages.
    r.log.forEach((d) => expect(r.scores[d.sender * g.nReceivers + d.receiver!]).toBeCloseTo(d.score, 6));
  });

  it('a threshold sweep equals independent runs (its shared memo changes no decision)', async () => {
    const taus = [0.01, 0.03, 0.1];
    const swept = await acdcSweep(runs, taus);
    for (const [i, tau] of taus.entries()) {
      const alone = await acdc(runs, { tau });
      expect(swept[i]!.log.map((d) => d.pruned)).toEqual(alone.log.map((d) => d.pruned));
      expect(swept[i]!.inCircuit).toEqual(alone.inCircuit);
    }
    expect(swept.slice(1).some((r) => r.stats.reused > 0)).toBe(true);
  });

  it('resuming from initialPruned continues the run exactly', async () => {
    const g = pm.graph;
    const R = g.nReceivers;
    const full = await acdc(runs, { tau: 0.03 });
    // The state after the logits' and m1's edges, then the rest from there.
    const split = full.log.findIndex((d) => d.receiver! < g.mlpReceiver(1));
    const state = new Uint8Array(g.nSenders * R);
    full.log.slice(0, split).forEach((d) => {
      if (d.pruned) state[d.sender * R + d.receiver!] = 1;
    });
    const rest = Array.from({ length: g.mlpReceiver(1) }, (_, r) => r);
    const resumed = await acdc(runs, { tau: 0.03, initialPruned: state, receivers: rest });
    expect(resumed.log.map((d) => `${d.name}:${d.pruned}`)).toEqual(full.log.slice(split).map((d) => `${d.name}:${d.pruned}`));
    expect(resumed.inCircuit).toEqual(full.inCircuit);
  });

  it('maxDecisions stops early; receivers restricts the visit', async () => {
    const g = pm.graph;
    const partial = await acdcTuned(runs, { tau: 0.03 }, { maxDecisions: 5 });
    expect(partial.log).toHaveLength(5);
    expect(partial.complete).toBe(false);
    const only = await acdc(runs, { tau: 0.03, receivers: [g.mlpReceiver(1)] });
    expect(new Set(only.log.map((d) => d.receiver))).toEqual(new Set([g.mlpReceiver(1)]));
  });
});
