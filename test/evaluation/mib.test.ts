// MIB-style evaluation: the integration (trapezoids over the fraction of edges kept, MIB's fractions,
// int(p * |E|) edges), the rankings (signed for CPR, |score| for CMD, unscored last), and the
// pipeline setting `discovery.mib` on the planted induction model: CPR/CMD stored per circuit,
// consistent with the stored curves, printed by `patchwise show` and read back by the viewer.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { formatNumber } from '../../src/cli/format-table.js';
import { MIB_FRACTIONS, mibAreas } from '../../src/evaluation/measures.js';
import { mibEdgeCounts, topRankedMask } from '../../src/evaluation/mib.js';
import { runPipeline } from '../../src/pipeline/run-pipeline.js';
import { loadPipeline } from '../../src/pipeline/spec.js';
import { Store } from '../../src/store/store.js';
import { storedMibAreas } from '../../viz/src/patching-view.js';
import type { VizCurve } from '../../src/viz-export/format.js';
import { vizCurve } from '../../src/viz-export/collect.js';
import { build } from '../circuits/build.js';

describe('MIB areas', () => {
  it('integrates by trapezoids over the fractions, no closing points', () => {
    // f = 1 everywhere: CPR is the x range 1 - 0.001, CMD is 0.
    const ones = MIB_FRACTIONS.map(() => 1);
    expect(mibAreas(MIB_FRACTIONS, ones).under).toBeCloseTo(0.999, 12);
    expect(mibAreas(MIB_FRACTIONS, ones).fromOne).toBeCloseTo(0, 12);
    // Three points by hand: x 0, 0.5, 1; f 0, 1, 0.5 -> under 0.5*0.5 + 0.5*0.75 = 0.625;
    // |1 - f| = 1, 0, 0.5 -> 0.5*0.5 + 0.5*0.25 = 0.375.
    expect(mibAreas([0, 0.5, 1], [0, 1, 0.5])).toEqual({ under: 0.625, fromOne: 0.375 });
    // Overshoot counts in CMD: f = 2 at both ends of [0, 1] gives |1 - f| = 1.
    expect(mibAreas([0, 1], [2, 2])).toEqual({ under: 2, fromOne: 1 });
    expect(() => mibAreas([0, 1], [1])).toThrow(/2 fractions but 1/);
  });

  it('edge counts truncate p * |E| as MIB does', () => {
    expect(mibEdgeCounts(1108)).toEqual([1, 2, 5, 11, 22, 55, 110, 221, 554, 1108]);
    expect(mibEdgeCounts(40)).toEqual([0, 0, 0, 0, 0, 2, 4, 8, 20, 40]);
  });
});

describe('MIB rankings', () => {
  it('CPR ranks by signed score, CMD by |score|, unscored edges last; dead ends dropped', () => {
    const c = build({ nLayers: 1, nHeads: 1 }, [], { 'm0->logits': 0.3, 'input->m0': -0.5, 'input->a0.h0<q>': 0.2, 'a0.h0->logits': 0.1 });
    const names = (mask: Uint8Array): string[] =>
      c
        .withMask(mask)
        .edges()
        .map((e) => e.name)
        .sort();
    // Signed: m0->logits (0.3) is taken first but m0 is not fed, so it is dropped as a dead end.
    expect(names(topRankedMask(c.graph, c.scores, 3, 'signed'))).toEqual(['a0.h0->logits', 'input->a0.h0<q>']);
    expect(names(topRankedMask(c.graph, c.scores, 2, 'absolute'))).toEqual(['input->m0', 'm0->logits']);
    // Four scored edges come before any unscored one.
    expect(names(topRankedMask(c.graph, c.scores, 4, 'absolute'))).toEqual(['a0.h0->logits', 'input->a0.h0<q>', 'input->m0', 'm0->logits']);
  });
});

describe('discovery.mib on the planted induction model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'patchwise-mib-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('stores CPR/CMD per circuit and both curves; show prints them; the viewer reads them back', async () => {
    const file = join(dir, 'mib.yaml');
    writeFileSync(
      file,
      `name: mib
model: { plant: induction, seed: 0 }
task: { name: induction, count: 8, seed: 3, options: { length: 5, cut: last } }
discovery:
  method: [eap-ig-inputs]
  corruption: [all-random]
  metric: [logit-diff]
  edges: [5, 20]
  steps: 4
  mib: true
`,
    );
    const db = join(dir, 'mib.db');
    const store = await Store.open(db);
    let runId: number;
    try {
      const [r] = (await runPipeline(loadPipeline(file), store, { log: () => undefined })).discovery;
      runId = r!.runId;
      const graph = (await store.circuits.load(r!.circuits[0]!.circuitId)).graph;
      const counts = mibEdgeCounts(graph.nEdges);
      for (const c of r!.circuits) {
        expect(Number.isFinite(c.cpr)).toBe(true);
        expect(Number.isFinite(c.cmd)).toBe(true);
        const curves = await store.curves.list({ circuitId: c.circuitId });
        expect(curves.map((cv) => cv.kind).sort()).toEqual(['mib-cmd', 'mib-cpr']);
        for (const cv of curves) {
          expect(cv.points.map((p) => p.threshold)).toEqual(MIB_FRACTIONS);
          // Pruning dead ends only ever drops edges; the full graph keeps them all and scores exactly 1.
          cv.points.forEach((p, i) => expect(p.size!).toBeLessThanOrEqual(counts[i]!));
          expect(cv.points.at(-1)!.size).toBe(graph.nEdges);
          expect(cv.points.at(-1)!.faithfulness).toBe(1);
          const f = cv.points.map((p) => p.faithfulness!);
          // The stored numbers are MIB's integral of the stored curve.
          if (cv.kind === 'mib-cpr') expect(c.cpr).toBe(mibAreas(MIB_FRACTIONS, f).under);
          else expect(c.cmd).toBe(mibAreas(MIB_FRACTIONS, f).fromOne);
        }
        const stored = await store.circuits.load(c.circuitId);
        expect(stored.meta.extra.mib).toEqual({ cpr: c.cpr, cmd: c.cmd });
      }
      // One score vector per attribution run: both cuts carry the same numbers.
      expect(r!.circuits[1]!.cpr).toBe(r!.circuits[0]!.cpr);
      // |score| ranking finds the planted circuit's few edges first (about 1 % of 606), so from
      // 0.5 % of the edges on faithfulness is near 1 and CMD is small (the first 0.4 % cost ~0.003).
      expect(r!.circuits[0]!.cmd).toBeLessThan(0.05);

      const viz: VizCurve[] = (await store.curves.list({ runId })).map(vizCurve);
      expect(storedMibAreas(viz, runId)).toEqual({ cpr: r!.circuits[0]!.cpr, cmd: r!.circuits[0]!.cmd });
      expect(storedMibAreas(viz, runId + 1000)).toBeUndefined();
    } finally {
      await store.close();
    }

    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      const store2 = await Store.open(db, { create: false });
      const detail = (await store2.runs.get(runId)).detail;
      await store2.close();
      await main(['show', String(runId), '--db', db]);
      const printed = log.mock.calls.map((c) => c.join(' ')).join('\n');
      const first = detail?.stage === 'discovery' ? detail.circuits[0] : undefined;
      // The planted model has a ground truth, so its precision, recall and ROC-AUC columns come before CPR and CMD.
      expect(printed).toMatch(/faithfulness\s+precision\s+recall\s+ROC-AUC\s+CPR\s+CMD/);
      // `patchwise run` again: every unit is stored, and its summary gains the two columns.
      log.mockClear();
      await main(['run', file, '--db', db, '--no-progress']);
      const summary = log.mock.calls.map((c) => c.join(' ')).join('\n');
      expect(summary).toMatch(/ROC-AUC\s+CPR\s+CMD/);
      const esc = (x: string): string => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      expect(summary).toMatch(new RegExp(`${esc(formatNumber(first!.cpr!))}\\s+${esc(formatNumber(first!.cmd!))}\\n`));
      expect(printed).toContain(formatNumber(first!.cpr!));
      expect(printed).toContain(formatNumber(first!.cmd!));
    } finally {
      log.mockRestore();
    }
  }, 180_000);

  it('evaluates ACDC circuits too: unscored edges rank last, one CPR/CMD per threshold', async () => {
    const file = join(dir, 'mib-acdc.yaml');
    writeFileSync(
      file,
      `name: mib-acdc
model: { plant: induction, seed: 0 }
task: { name: induction, count: 4, seed: 3, options: { length: 5, cut: last } }
discovery:
  method: [acdc]
  corruption: [all-random]
  metric: [kl]
  thresholds: [0.05]
  mib: true
`,
    );
    const store = await Store.open(join(dir, 'mib-acdc.db'));
    try {
      const [r] = (await runPipeline(loadPipeline(file), store, { log: () => undefined })).discovery;
      const c = r!.circuits[0]!;
      expect(Number.isFinite(c.cpr)).toBe(true);
      expect(Number.isFinite(c.cmd)).toBe(true);
      const curves = await store.curves.list({ circuitId: c.circuitId });
      const cmd = curves.find((cv) => cv.kind === 'mib-cmd')!;
      expect(c.cmd).toBe(
        mibAreas(
          MIB_FRACTIONS,
          cmd.points.map((p) => p.faithfulness!),
        ).fromOne,
      );
      expect(cmd.points.at(-1)!.faithfulness).toBe(1);
    } finally {
      await store.close();
    }
  }, 180_000);
});
