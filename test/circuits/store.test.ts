// Circuits and curves in the results database: lossless save and load (gpt2-small shape, timed),
// replacement under the same key, listing, lookup by key, and curve points.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Circuit, forEachEdge } from '../../src/circuits/circuit.js';
import { UserError } from '../../src/core/errors.js';
import { ComponentGraph } from '../../src/graph/component-graph.js';
import { SCHEMA_VERSION } from '../../src/store/migrations.js';
import { Store } from '../../src/store/store.js';
import { build } from './build.js';

const dir = mkdtempSync(join(tmpdir(), 'patchwise-circuits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(dir, `c${++n}.db`);

/** gpt2-small shape with every edge scored except every 11th, a few -0, infinities and huge values, and a mask. */
function gpt2Circuit(seed: number): Circuit {
  const g = new ComponentGraph({ nLayers: 12, nHeads: 12 });
  const S = new Float32Array(g.nSenders * g.nReceivers);
  const M = new Uint8Array(g.nSenders * g.nReceivers);
  let k = 0;
  forEachEdge(g, (s, r) => {
    const i = s * g.nReceivers + r;
    S[i] = k % 11 === 0 ? NaN : k % 1000 === 1 ? -0 : k === 2 ? Infinity : Math.sin(seed + k * 0.731) * 10 ** ((k % 13) - 8);
    M[i] = (k + seed) % 29 === 0 ? 1 : 0;
    k++;
  });
  return new Circuit(g, {
    scores: S,
    mask: M,
    meta: {
      method: 'eap-ig',
      metric: 'kl',
      corruption: 'str-abc',
      direction: 'denoising',
      threshold: 0.0125,
      faithfulness: 0.8731,
      model: { fingerprint: 'f'.repeat(64), name: 'gpt2-small', dModel: 768 },
      extra: { steps: 5, note: 'test' },
    },
  });
}

describe('circuits in the store', () => {
  it('adds migration 2 with the circuit tables', async () => {
    const s = await Store.open(fresh());
    try {
      expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(2);
      const tables = await s.query<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'circuit%' ORDER BY name`);
      expect(tables.map((t) => t.name)).toEqual(['circuit_curves', 'circuit_edges', 'circuits']);
    } finally {
      await s.close();
    }
  });

  it('migration 4 renames node-level ACDC circuits stored as acdc-node to acdc-nodes', async () => {
    const path = fresh();
    let s = await Store.open(path);
    try {
      const circuit = build({ nLayers: 2, nHeads: 2 }, ['a0.h1->m1', 'input->logits'], {}, { method: 'acdc-node' });
      await s.circuits.save({ pipeline: 'p', key: 'old-name', circuit, settings: {} });
      // Roll the file back to how schema 3 left it: the old name, and migration 4 not yet applied.
      await s.query(`DELETE FROM schema_migrations WHERE version >= 4`);
      // What migrations after 4 created goes too, so that they apply again.
      for (const table of ['acdc_decisions', 'acdc_checkpoints', 'method_agreements']) await s.query(`DROP TABLE ${table}`);
      await s.query(`PRAGMA user_version = 3`);
      expect((await s.circuits.list({ method: 'acdc-node' })).length).toBe(1);
    } finally {
      await s.close();
    }
    s = await Store.open(path);
    try {
      expect((await s.circuits.list({ method: 'acdc-node' })).length).toBe(0);
      expect((await s.circuits.list({ method: 'acdc-nodes' })).map((c) => c.key)).toEqual(['old-name']);
    } finally {
      await s.close();
    }
  });

  it('saves and loads the gpt2-small graph (32,491 edges) bit for bit, quickly', async () => {
    const path = fresh();
    const c = gpt2Circuit(1);
    expect(c.graph.nEdges).toBe(32491);
    const s = await Store.open(path);
    let id: number;
    try {
      const t0 = performance.now();
      id = await s.circuits.save({ pipeline: 'ioi', key: 'eap-ig-kl', circuit: c, settings: { steps: 5, corruption: { kind: 'str', variant: 'abc' } } });
      const t1 = performance.now();
      const back = await s.circuits.load(id);
      const t2 = performance.now();
      console.log(`store, gpt2-small shape: save ${(t1 - t0).toFixed(0)} ms, load ${(t2 - t1).toFixed(0)} ms (${c.nScored} scored, ${c.size} in circuit)`);
      expect(t1 - t0 + (t2 - t1)).toBeLessThan(3000);
      expect(back.equals(c)).toBe(true);
      expect(new Uint32Array(back.scores.buffer)).toEqual(new Uint32Array(c.scores.buffer));
      expect(back.mask).toEqual(c.mask);
      expect(back.meta).toEqual(c.meta);
      // Every scored or in-circuit edge is a row.
      let rows = 0;
      forEachEdge(c.graph, (snd, r) => {
        const i = snd * c.graph.nReceivers + r;
        if (!Number.isNaN(c.scores[i]!) || c.mask[i] === 1) rows++;
      });
      expect(await s.query('SELECT count(*) AS n FROM circuit_edges WHERE circuit_id = ?', [id])).toEqual([{ n: rows }]);
      expect(await s.query('SELECT count(*) AS n FROM circuit_edges WHERE circuit_id = ? AND in_circuit = 1', [id])).toEqual([{ n: c.size }]);
    } finally {
      await s.close();
    }
    // And from a fresh connection (nothing cached).
    const again = await Store.open(path, { create: false });
    try {
      expect((await again.circuits.load('eap-ig-kl')).equals(c)).toBe(true);
    } finally {
      await again.close();
    }
  });

  it('replaces a circuit saved under the same name atomically, keeping its id', async () => {
    const s = await Store.open(fresh());
    try {
      const a = build({ nLayers: 1, nHeads: 1 }, ['input->logits'], { 'input->logits': 1, 'm0->logits': 0.5 });
      const b = build({ nLayers: 2, nHeads: 1 }, ['input->m1', 'm1->logits'], { 'input->m1': 2 }, { method: 'acdc', threshold: 0.1 });
      const id = await s.circuits.save({ pipeline: 'p', key: 'k', circuit: a, settings: {} });
      const other = await s.circuits.save({ pipeline: 'q', key: 'k2', circuit: a, settings: {} });
      expect(await s.circuits.save({ pipeline: 'p', key: 'k', circuit: b, settings: { tau: 0.1 } })).toBe(id);
      expect((await s.circuits.load(id)).equals(b)).toBe(true);
      expect((await s.circuits.load(other)).equals(a)).toBe(true);
      expect(await s.query('SELECT count(*) AS n FROM circuit_edges WHERE circuit_id = ?', [id])).toEqual([{ n: 2 }]);
      const summary = await s.circuits.get('k');
      expect(summary).toMatchObject({ id, pipeline: 'p', key: 'k', method: 'acdc', threshold: 0.1, size: 2, nScored: 1, nLayers: 2, nHeads: 1, settings: { tau: 0.1 } });
      // A failed save (no such run) changes nothing.
      await expect(s.circuits.save({ pipeline: 'p', key: 'k', runId: 99, circuit: a, settings: {} })).rejects.toThrow(/no run 99/);
      expect((await s.circuits.load(id)).equals(b)).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('lists circuits with filters and resolves keys like runs (exact, unique prefix)', async () => {
    const s = await Store.open(fresh());
    try {
      const c = build({ nLayers: 1, nHeads: 1 }, ['input->logits'], { 'input->logits': 1 }, { method: 'eap', model: { fingerprint: 'm1' } });
      await s.circuits.save({ pipeline: 'p', key: 'ioi-eap', circuit: c, settings: {} });
      await s.circuits.save({ pipeline: 'p', key: 'ioi-acdc', circuit: c.withMeta({ method: 'acdc' }), settings: {} });
      await s.circuits.save({ pipeline: 'other', key: 'gt-eap', circuit: c, settings: {} });
      expect((await s.circuits.list()).map((x) => x.key)).toEqual(['ioi-eap', 'ioi-acdc', 'gt-eap']);
      expect((await s.circuits.list({ pipeline: 'p', method: 'acdc' })).map((x) => x.key)).toEqual(['ioi-acdc']);
      expect((await s.circuits.list({ modelFingerprint: 'm1' })).length).toBe(3);
      expect((await s.circuits.get('gt')).key).toBe('gt-eap');
      await expect(s.circuits.get('ioi')).rejects.toThrow(UserError);
      await expect(s.circuits.get('ioi')).rejects.toThrow(/matches circuits 1 \(p\/ioi-eap\), 2 \(p\/ioi-acdc\)/);
      await expect(s.circuits.load(42)).rejects.toThrow(/no circuit 42 in/);
      await expect(s.circuits.load('nope')).rejects.toThrow(/no circuit with key "nope"/);
    } finally {
      await s.close();
    }
  });

  it('ties a circuit to its run; deleting the run deletes it', async () => {
    const s = await Store.open(fresh());
    try {
      const modelId = await s.models.upsert({ fingerprint: 'm', name: 'tiny', path: '/m', architecture: 'gpt2', config: { dModel: 8 } });
      const datasetId = await s.datasets.upsert({ fingerprint: 'd', task: 'ioi', settings: {}, pairs: [] });
      const run = await s.runs.open({ pipeline: 'p', key: 'r', modelId, datasetId, settings: {}, codeVersion: 'v' });
      const id = await s.circuits.save({ pipeline: 'p', key: 'r', runId: run.id, circuit: build({ nLayers: 1, nHeads: 1 }, ['input->logits']), settings: {} });
      expect((await s.circuits.list({ runId: run.id })).map((c) => c.id)).toEqual([id]);
      expect(await s.models.find('m')).toMatchObject({ id: modelId, name: 'tiny', config: { dModel: 8 } });
      expect(await s.models.find('zz')).toBeUndefined();
    } finally {
      await s.close();
    }
  });
});

describe('curves', () => {
  it('saves points in order, replaces them by (pipeline, key, kind), and lists them', async () => {
    const s = await Store.open(fresh());
    try {
      const cid = await s.circuits.save({ pipeline: 'p', key: 'c', circuit: build({ nLayers: 1, nHeads: 1 }, []), settings: {} });
      const faith = [
        { threshold: 0.1, size: 10, faithfulness: 0.95 },
        { threshold: 0.2, size: 5, faithfulness: 0.7 },
        { threshold: 0.4, size: 1, faithfulness: null },
      ];
      await s.curves.save({ pipeline: 'p', key: 'eap', kind: 'faithfulness', circuitId: cid, points: faith });
      await s.curves.save({ pipeline: 'p', key: 'eap', kind: 'roc', points: [{ threshold: null, size: 3, faithfulness: null, tpr: 0.5, fpr: 0.01 }] });
      await s.curves.save({ pipeline: 'p', key: 'eap', kind: 'faithfulness', circuitId: cid, points: faith.slice(0, 2) });
      const curves = await s.curves.list({ pipeline: 'p' });
      expect(curves).toEqual([
        { pipeline: 'p', key: 'eap', kind: 'faithfulness', runId: null, circuitId: cid, points: faith.slice(0, 2).map((p) => ({ ...p, tpr: null, fpr: null })) },
        { pipeline: 'p', key: 'eap', kind: 'roc', runId: null, circuitId: null, points: [{ threshold: null, size: 3, faithfulness: null, tpr: 0.5, fpr: 0.01 }] },
      ]);
      expect((await s.curves.list({ kind: 'roc' })).length).toBe(1);
      expect((await s.curves.list({ circuitId: cid })).length).toBe(1);
      await expect(s.curves.save({ pipeline: 'p', key: 'eap', kind: 'x', points: [{ threshold: NaN, size: 1, faithfulness: 1 }] })).rejects.toThrow(/point 0: threshold must be a finite number/);
    } finally {
      await s.close();
    }
  });
});
