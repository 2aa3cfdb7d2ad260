// The Circuit object: node semantics, dead-end pruning (against a naive EAP-IG-style fixed point),
// threshold and top-n cuts, and our JSON format's lossless round trip and its errors.
import { describe, expect, it } from 'vitest';
import { Circuit, circuitJsonSchema, forEachEdge, pruneDeadEnds } from '../../src/circuits/circuit.js';
import { UserError } from '../../src/core/errors.js';
import { ComponentGraph } from '../../src/graph/component-graph.js';
import { canonicalJson } from '../../src/store/json.js';
import { circuitFromDense } from '../../src/circuits/adapters.js';
import { build } from './build.js';
import { Random } from '../../src/core/random.js';

const names = (c: Circuit): string[] => c.edges().map((e) => e.name);

describe('Circuit basics', () => {
  it('has the gpt2-small edge count and starts empty and unscored', () => {
    const c = Circuit.empty({ nLayers: 12, nHeads: 12 }, { method: 'eap' });
    expect(c.graph.nEdges).toBe(32491);
    expect(c.size).toBe(0);
    expect(c.nScored).toBe(0);
    expect(c.nodes()).toEqual([]);
    expect(c.meta).toEqual({
      method: 'eap',
      metric: null,
      corruption: null,
      direction: null,
      threshold: null,
      model: { fingerprint: null, name: null, dModel: null },
      faithfulness: null,
      extra: {},
    });
  });

  it('rejects masks on non-edges and values other than 0/1; ignores scores on non-edges', () => {
    const g = new ComponentGraph({ nLayers: 1, nHeads: 1 });
    const R = g.nReceivers;
    const bad = new Uint8Array(g.nSenders * R);
    bad[g.mlpSender(0) * R + g.mlpReceiver(0)] = 1; // m0 -> m0 is not an edge
    expect(() => new Circuit(g, { mask: bad, meta: { method: 't' } })).toThrow(/not edges of the graph/);
    const two = new Uint8Array(g.nSenders * R);
    two[0 * R + g.logitsReceiver] = 2;
    expect(() => new Circuit(g, { mask: two, meta: { method: 't' } })).toThrow(/input->logits is 2/);
    const s = new Float32Array(g.nSenders * R).fill(1);
    const c = new Circuit(g, { scores: s, meta: { method: 't' } });
    expect(c.score(g.mlpSender(0), g.mlpReceiver(0))).toBeNaN();
    expect(c.scores[g.mlpSender(0) * R + g.mlpReceiver(0)]).toBeNaN();
    expect(c.nScored).toBe(g.nEdges);
  });

  it('canonicalises -0 to 0 and copies its inputs', () => {
    const g = new ComponentGraph({ nLayers: 1, nHeads: 1 });
    const s = new Float32Array(g.nSenders * g.nReceivers).fill(-0);
    const c = new Circuit(g, { scores: s, meta: { method: 't' } });
    expect(Object.is(c.score(0, g.logitsReceiver), 0)).toBe(true);
    s[0] = 5;
    expect(c.scores[0]).toBe(0);
  });

  it('rejects metadata JSON cannot hold', () => {
    expect(() => Circuit.empty({ nLayers: 1, nHeads: 1 }, { method: 't', extra: { x: NaN } })).toThrow(/extra.x is NaN/);
    expect(() => Circuit.empty({ nLayers: 1, nHeads: 1 }, { method: 't', threshold: Infinity })).toThrow(/threshold/);
  });
});

describe('nodes', () => {
  it('counts a head when its sender or any of its q/k/v receivers is in the circuit', () => {
    const c = build({ nLayers: 2, nHeads: 2 }, ['input->a0.h1<k>', 'a1.h0->logits', 'a0.h0->m0']);
    expect(c.nodes()).toEqual(['input', 'a0.h0', 'a0.h1', 'm0', 'a1.h0', 'logits']);
  });
});

/** EAP-IG's Graph.prune, naively: drop nodes without an in-edge (input exempt) or out-edge (logits exempt) and their edges, until nothing changes. */
function naivePrune(g: ComponentGraph, mask: Uint8Array): Uint8Array {
  const R = g.nReceivers;
  const m = Uint8Array.from(mask);
  const nodeOfReceiver = (r: number): number => {
    const x = g.receivers[r]!;
    return x.kind === 'head-input' ? g.headSender(x.layer, x.head) : x.kind === 'mlp' ? g.mlpSender(x.layer) : -1;
  };
  for (;;) {
    const hasOut = new Uint8Array(g.nSenders);
    const hasIn = new Uint8Array(g.nSenders);
    hasIn[0] = 1;
    forEachEdge(g, (s, r) => {
      if (m[s * R + r] === 1) {
        hasOut[s] = 1;
        const n = nodeOfReceiver(r);
        if (n >= 0) hasIn[n] = 1;
      }
    });
    let changed = false;
    forEachEdge(g, (s, r) => {
      const i = s * R + r;
      if (m[i] !== 1) return;
      const n = nodeOfReceiver(r);
      const senderAlive = hasIn[s] === 1 && hasOut[s] === 1;
      const receiverAlive = n < 0 || (hasIn[n] === 1 && hasOut[n] === 1);
      if (!senderAlive || !receiverAlive) {
        m[i] = 0;
        changed = true;
      }
    });
    if (!changed) return m;
  }
}

describe('pruneDeadEnds', () => {
  it('drops dangling edges of a hand-built circuit, through chains several edges long', () => {
    const kept = ['input->a0.h0<q>', 'a0.h0->m1', 'm1->a2.h0<k>', 'a2.h0->logits'];
    const upstreamDead = ['m0->a1.h0<v>', 'a1.h0->m2', 'm2->logits', 'a1.h0->a2.h0<q>']; // m0 has no input
    const downstreamDead = ['input->a0.h1<q>', 'a0.h1->a1.h1<k>', 'a1.h1->a2.h1<v>', 'm1->a2.h1<q>']; // a2.h1 reaches nothing
    const c = build({ nLayers: 3, nHeads: 2 }, [...kept, ...upstreamDead, ...downstreamDead]);
    expect(c.size).toBe(12);
    expect(c.danglingEdges()).toBe(8);
    expect(c.nodes()).toEqual(['input', 'a0.h0', 'a0.h1', 'm0', 'a1.h0', 'a1.h1', 'm1', 'a2.h0', 'a2.h1', 'm2', 'logits']);
    const p = c.pruneDeadEnds();
    expect(names(p).sort()).toEqual([...kept].sort());
    expect(p.nodes()).toEqual(['input', 'a0.h0', 'm1', 'a2.h0', 'logits']);
    expect(p.danglingEdges()).toBe(0);
  });

  it('agrees with the naive fixed point on random masks', () => {
    const g = new ComponentGraph({ nLayers: 3, nHeads: 2 });
    const random = new Random(12345);
    const rand = (): number => random.uniform();
    for (let trial = 0; trial < 300; trial++) {
      const density = 0.02 + 0.3 * rand();
      const mask = new Uint8Array(g.nSenders * g.nReceivers);
      forEachEdge(g, (s, r) => {
        if (rand() < density) mask[s * g.nReceivers + r] = 1;
      });
      expect(Array.from(pruneDeadEnds(g, mask))).toEqual(Array.from(naivePrune(g, mask)));
    }
  });
});

describe('withThreshold and topN', () => {
  // 1 layer, 1 head: input, a0.h0, m0 -> a0.h0<q|k|v>, m0, logits.
  const scores = {
    'input->a0.h0<q>': 0.9,
    'input->a0.h0<k>': -0.5,
    'input->a0.h0<v>': 0.1,
    'a0.h0->m0': 0.3,
    'input->logits': -0.05,
    'a0.h0->logits': 0.02,
    'm0->logits': 0.4,
  }; // input->m0 unscored
  const c = build({ nLayers: 1, nHeads: 1 }, [], scores);

  it('keeps |score| >= tau, then drops dead ends; never picks unscored edges', () => {
    const t = c.withThreshold(0.3);
    expect(names(t)).toEqual(['input->a0.h0<q>', 'input->a0.h0<k>', 'a0.h0->m0', 'm0->logits']);
    expect(t.meta.threshold).toBe(0.3);
    // a0.h0 keeps its inputs but loses its only output: everything goes.
    expect(c.withThreshold(0.45).size).toBe(0);
    expect(c.withThreshold(0.01).size).toBe(7);
    expect(c.withThreshold(-Infinity).size).toBe(7);
    expect(
      c
        .withThreshold(0)
        .edges()
        .some((e) => e.name === 'input->m0'),
    ).toBe(false);
  });

  it('keeps the top n by |score| (then prunes), ties in graph order, and records n', () => {
    expect(c.topN(3).size).toBe(0); // q, k, m0->logits: a0.h0 has no output and m0 no input
    const t4 = c.topN(4);
    expect(names(t4)).toEqual(['input->a0.h0<q>', 'input->a0.h0<k>', 'a0.h0->m0', 'm0->logits']);
    expect(t4.meta.threshold).toBeNull();
    expect(t4.meta.extra).toEqual({ topN: 4 });
    expect(c.topN(100).size).toBe(7);
    expect(t4.withThreshold(0.3).meta.extra).toEqual({});
    const tie = build({ nLayers: 1, nHeads: 1 }, [], { 'input->logits': 0.5, 'a0.h0->logits': -0.5, 'input->a0.h0<q>': 0.5 });
    // Graph order is receiver-major: input->a0.h0<q> (receiver 0), then input->logits, a0.h0->logits.
    expect(tie.topN(1).size).toBe(0); // the q edge alone dangles
    expect(names(tie.topN(2))).toEqual(['input->logits']);
    expect(names(tie.topN(3))).toEqual(['input->a0.h0<q>', 'input->logits', 'a0.h0->logits']);
  });

  it('clears faithfulness, which belonged to the old mask', () => {
    expect(c.withMeta({ faithfulness: 0.8 }).withThreshold(0.3).meta.faithfulness).toBeNull();
  });
});

describe('our JSON format', () => {
  const g = new ComponentGraph({ nLayers: 2, nHeads: 3 });
  const S = new Float32Array(g.nSenders * g.nReceivers).fill(NaN);
  let k = 0;
  forEachEdge(g, (s, r) => {
    const i = s * g.nReceivers + r;
    // NaN every 5th edge, an infinity, tiny and huge values.
    S[i] = k % 5 === 0 ? NaN : k === 7 ? -Infinity : Math.sin(k) * 10 ** ((k % 9) - 4);
    k++;
  });
  const original = new Circuit(g, {
    scores: S,
    meta: {
      method: 'eap-ig',
      metric: 'kl',
      corruption: 'str-abc',
      direction: 'noising',
      faithfulness: 0.91,
      model: { fingerprint: 'abc', name: 'tiny', dModel: 16 },
      extra: { steps: 5, nested: { a: [1, 2] } },
    },
  }).withThreshold(0.05);

  it('round-trips losslessly, NaN and infinite scores included', () => {
    expect(original.size).toBeGreaterThan(0);
    const text = JSON.stringify(original.toJSON());
    const back = Circuit.fromJSON(JSON.parse(text) as unknown, 'x.json');
    expect(back.equals(original)).toBe(true);
    expect(new Uint32Array(back.scores.buffer)).toEqual(new Uint32Array(original.scores.buffer));
    expect(back.meta).toEqual(original.meta);
    expect(back.toJSON()).toEqual(original.toJSON());
  });

  it('lists the in-circuit edges by name for people', () => {
    expect(original.toJSON().circuitEdges).toEqual(names(original));
  });

  it('reports a bad file as a UserError naming the file and the field', () => {
    const good = original.toJSON();
    const cases: [unknown, RegExp][] = [
      [{ ...good, meta: { ...good.meta, threshold: 'high' } }, /^f\.json: meta\.threshold: /],
      [{ ...good, graph: { ...good.graph, nEdges: 3 } }, /^f\.json: graph\.nEdges: is 3/],
      [{ ...good, scores: 'AAAA' }, /^f\.json: scores: decodes to 3 bytes/],
      [{ ...good, scores: 'not base64!' }, /^f\.json: scores: must be base64/],
      [{ ...good, circuitEdges: [...good.circuitEdges, 'input->a9.h0<q>'] }, /^f\.json: circuitEdges: unknown receiver "a9.h0<q>"/],
      [{ ...good, circuitEdges: good.circuitEdges.slice(1) }, /^f\.json: circuitEdges: lists \d+ distinct edges, inCircuit marks \d+/],
      [{ ...good, format: 'other' }, /^f\.json: format: /],
      [{ ...good, meta: { ...good.meta, direction: 'sideways' } }, /^f\.json: meta\.direction: /],
    ];
    for (const [value, re] of cases) {
      let err: unknown;
      try {
        Circuit.fromJSON(value, 'f.json');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toMatch(re);
    }
  });

  it('publishes a JSON schema for the format', () => {
    const schema = circuitJsonSchema();
    expect(schema.type).toBe('object');
    expect(canonicalJson(schema)).toContain('circuitEdges');
  });
});

describe('circuitFromDense', () => {
  it("wraps a discovery result in Circuit's layout, tau as the threshold", () => {
    const g = new ComponentGraph({ nLayers: 1, nHeads: 1 });
    const scores = new Float32Array(g.nSenders * g.nReceivers).fill(NaN);
    const inCircuit = new Uint8Array(g.nSenders * g.nReceivers);
    const i = 0 * g.nReceivers + g.logitsReceiver;
    scores[i] = 0.5;
    inCircuit[i] = 1;
    const c = circuitFromDense({ graph: g, scores, inCircuit, metric: 'kl', direction: 'noising', tau: 0.01 }, { method: 'acdc', extra: { rule: 'absolute' } });
    expect(c.edges()).toEqual([{ sender: 0, receiver: g.logitsReceiver, name: 'input->logits', score: 0.5 }]);
    expect(c.meta).toMatchObject({ method: 'acdc', metric: 'kl', direction: 'noising', threshold: 0.01, extra: { rule: 'absolute' } });
  });
});
