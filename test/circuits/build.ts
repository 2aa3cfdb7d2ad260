// Hand-built circuits for the tests: edges by name.
import { Circuit, type CircuitMetaInit } from '../../src/circuits/circuit.js';
import { ComponentGraph } from '../../src/graph/component-graph.js';

/** A circuit on `shape` with the named edges in it and the given scores. */
export function build(shape: { nLayers: number; nHeads: number }, inCircuit: readonly string[], scores: Record<string, number> = {}, meta: CircuitMetaInit = { method: 'test' }): Circuit {
  const g = new ComponentGraph(shape);
  const S = new Float32Array(g.nSenders * g.nReceivers).fill(NaN);
  const M = new Uint8Array(g.nSenders * g.nReceivers);
  for (const [name, v] of Object.entries(scores)) {
    const e = g.parseEdge(name);
    S[e.sender * g.nReceivers + e.receiver] = v;
  }
  for (const name of inCircuit) {
    const e = g.parseEdge(name);
    M[e.sender * g.nReceivers + e.receiver] = 1;
  }
  return new Circuit(g, { scores: S, mask: M, meta });
}
