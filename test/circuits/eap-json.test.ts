// EAP-IG graph JSON: reading hand-written files in EAP-IG's format (current and older), writing
// files in EAP-IG's order, and lossless round trips through it.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Circuit, forEachEdge } from '../../src/circuits/circuit.js';
import { float32Text, fromEapJson, parsePythonJson, toEapJson } from '../../src/circuits/eap-json.js';
import { parseCircuitText, readCircuitFile } from '../../src/circuits/files.js';
import { UserError } from '../../src/core/errors.js';
import { ComponentGraph } from '../../src/graph/component-graph.js';
import { build } from './build.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const fixture = (name: string): string => join(fixtures, name);

function userError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return (e as Error).message;
  }
  throw new Error('expected a UserError');
}

describe('Python-flavoured JSON', () => {
  it('reads NaN and infinities outside strings only', () => {
    expect(parsePythonJson('{"a NaN": [NaN, Infinity, -Infinity, "x\\"NaN"]}', 'f')).toEqual({ 'a NaN': [null, Infinity, -Infinity, 'x"NaN'] });
    expect(userError(() => parsePythonJson('{"a": }', 'bad.json'))).toMatch(/^bad\.json: not valid JSON: /);
  });

  it('writes the shortest float32 decimal', () => {
    expect(float32Text(Math.fround(0.1))).toBe('0.1');
    expect(float32Text(Math.fround(1 / 3))).toBe('0.33333334');
    expect(float32Text(NaN)).toBe('NaN');
    expect(float32Text(-Infinity)).toBe('-Infinity');
    for (const x of [1e-30, 3.4e38, -2.5e-8, 123456.789, 7]) {
      const f = Math.fround(x);
      expect(Math.fround(Number(float32Text(f)))).toBe(f);
    }
  });
});

describe('reading EAP-IG files', () => {
  it('reads the current format: scores as float32, NaN unscored, in_graph as the mask', () => {
    const { circuit: c, format, warnings } = readCircuitFile(fixture('eap-ig-1l2h.json'));
    expect(format).toBe('eap');
    expect(warnings).toEqual([]);
    expect([c.graph.nLayers, c.graph.nHeads, c.graph.nEdges]).toEqual([1, 2, 13]);
    expect(c.edges().map((e) => [e.name, e.score])).toEqual([
      ['input->a0.h1<v>', 0.4375],
      ['input->m0', -0.25],
      ['a0.h1->logits', 0.75],
      ['m0->logits', -Infinity],
    ]);
    const g = c.graph;
    expect(c.score(0, g.headInputReceiver(0, 0, 'v'))).toBeNaN();
    expect(c.score(g.headSender(0, 1), g.mlpReceiver(0))).toBe(Math.fround(0.1));
    expect(c.score(0, g.headInputReceiver(0, 0, 'q'))).toBe(Math.fround(0.012));
    expect(c.nScored).toBe(12);
    expect(c.nodes()).toEqual(['input', 'a0.h1', 'm0', 'logits']);
    expect(c.meta.method).toBe('imported');
    expect(c.meta.model.dModel).toBe(8);
  });

  it('reads the older format (nodes as booleans, null scores) and says what disagrees', () => {
    const { circuit: c, warnings } = readCircuitFile(fixture('eap-ig-old-format.json'));
    expect(c.size).toBe(3);
    expect(c.nScored).toBe(2);
    expect(c.nodes()).toEqual(['input', 'a0.h0', 'a0.h1', 'logits']);
    expect(warnings).toEqual([
      '1 node flag(s) disagree with the edges, e.g. m0 (in in the file); patchwise derives nodes from edges',
      '1 in-circuit edge(s) lie on no input->logits path (kept as in the file; see Circuit.pruneDeadEnds)',
    ]);
    expect(
      c
        .pruneDeadEnds()
        .edges()
        .map((e) => e.name),
    ).toEqual(['input->a0.h1<v>', 'a0.h1->logits']);
  });

  it('rejects unknown edges and nodes, shape mismatches and parallel blocks, naming the file', () => {
    const base = JSON.parse(readFileSync(fixture('eap-ig-old-format.json'), 'utf8')) as {
      cfg: Record<string, unknown>;
      nodes: Record<string, unknown>;
      edges: Record<string, unknown>;
    };
    const withEdge = (name: string) => ({ ...base, edges: { ...base.edges, [name]: { score: 1, in_graph: false } } });
    expect(userError(() => fromEapJson(withEdge('a0.h3->logits'), 'c.json'))).toMatch(/^c\.json: edge "a0\.h3->logits": unknown sender "a0\.h3"/);
    expect(userError(() => fromEapJson(withEdge('m0->a0.h0<q>'), 'c.json'))).toMatch(/^c\.json: edge "m0->a0\.h0<q>": .*m0 is not upstream of a0\.h0<q>/);
    expect(userError(() => fromEapJson(withEdge('input-m0'), 'c.json'))).toMatch(/^c\.json: edge "input-m0": /);
    expect(userError(() => fromEapJson({ ...base, nodes: { ...base.nodes, m7: true } }, 'c.json'))).toMatch(/^c\.json: node "m7": unknown node/);
    expect(userError(() => fromEapJson(base, 'c.json', { expectShape: { nLayers: 12, nHeads: 12 } }))).toBe('c.json: cfg: the file is for 1 layers x 2 heads, the model has 12 x 12');
    expect(userError(() => fromEapJson({ ...base, cfg: { ...base.cfg, parallel_attn_mlp: true } }, 'c.json'))).toMatch(/^c\.json: cfg\.parallel_attn_mlp: true/);
    expect(userError(() => fromEapJson({ ...base, edges: { 'input->m0': { score: 'big', in_graph: true } } }, 'c.json'))).toMatch(
      /^c\.json: edges\["input->m0"\]\.score: expected a number, NaN or null/,
    );
    expect(userError(() => fromEapJson({ ...base, cfg: { n_heads: 2 } }, 'c.json'))).toMatch(/^c\.json: cfg\.n_layers: /);
    expect(userError(() => parseCircuitText('{"hello": 1}', 'h.json'))).toMatch(/^h\.json: neither a patchwise circuit/);
  });
});

describe('writing EAP-IG files', () => {
  it("writes cfg, nodes and edges in EAP-IG's order and naming", () => {
    const { circuit } = readCircuitFile(fixture('eap-ig-1l2h.json'));
    const text = toEapJson(circuit);
    const d = parsePythonJson(text, 'out') as { cfg: Record<string, unknown>; nodes: Record<string, { in_graph: boolean }>; edges: Record<string, { score: number | null; in_graph: boolean }> };
    expect(Object.keys(d.cfg)).toEqual(['n_layers', 'n_heads', 'parallel_attn_mlp', 'd_model', 'patchwise_meta']);
    expect(d.cfg).toMatchObject({ n_layers: 1, n_heads: 2, parallel_attn_mlp: false, d_model: 8 });
    expect(d.nodes).toEqual({ input: { in_graph: true }, 'a0.h0': { in_graph: false }, 'a0.h1': { in_graph: true }, m0: { in_graph: true }, logits: { in_graph: true } });
    // Graph.from_model's order; the unscored, out-of-circuit input->a0.h0<v> is left out.
    expect(Object.keys(d.edges)).toEqual([
      'input->a0.h0<q>',
      'input->a0.h0<k>',
      'input->a0.h1<q>',
      'input->a0.h1<k>',
      'input->a0.h1<v>',
      'input->m0',
      'a0.h0->m0',
      'a0.h1->m0',
      'input->logits',
      'a0.h0->logits',
      'a0.h1->logits',
      'm0->logits',
    ]);
    expect(text).toContain('"a0.h1->m0": {"score": 0.1, "in_graph": false}');
    expect(text).toContain('"m0->logits": {"score": -Infinity, "in_graph": true}');
  });

  it('round-trips losslessly, metadata included, on the gpt2-small shape', () => {
    const g = new ComponentGraph({ nLayers: 12, nHeads: 12 });
    const S = new Float32Array(g.nSenders * g.nReceivers);
    const M = new Uint8Array(g.nSenders * g.nReceivers);
    let k = 0;
    forEachEdge(g, (s, r) => {
      S[s * g.nReceivers + r] = k % 97 === 0 ? NaN : Math.sin(k * 0.37) * 10 ** ((k % 7) - 5);
      M[s * g.nReceivers + r] = k % 13 === 0 ? 1 : 0; // some of them unscored
      k++;
    });
    const meta = { method: 'eap-ig', metric: 'logit-diff', direction: 'denoising', threshold: 0.01, model: { dModel: 768, name: 'gpt2' }, extra: { steps: 5 } } as const;
    const c = new Circuit(g, { scores: S, mask: M, meta });
    expect(c.size).toBe(2500);
    const t0 = performance.now();
    const text = toEapJson(c);
    const back = parseCircuitText(text, 'rt.json');
    const ms = performance.now() - t0;
    console.log(`EAP-IG JSON round trip, gpt2-small shape: ${(text.length / 1e6).toFixed(2)} MB, ${ms.toFixed(0)} ms`);
    expect(back.format).toBe('eap');
    expect(back.circuit.equals(c)).toBe(true);
    // An in-circuit edge with no score survives too (as NaN).
    const g2 = build({ nLayers: 1, nHeads: 1 }, ['input->logits']);
    expect(parseCircuitText(toEapJson(g2), 'x').circuit.equals(g2)).toBe(true);
  });

  it('leaves EAP-IG-only files without patchwise metadata as imported, with the meta given', () => {
    const { circuit } = readCircuitFile(fixture('eap-ig-1l2h.json'), { meta: { method: 'eap-ig', model: { fingerprint: 'ff' } } });
    expect(circuit.meta.method).toBe('eap-ig');
    expect(circuit.meta.model).toEqual({ fingerprint: 'ff', name: null, dModel: 8 });
  });
});
