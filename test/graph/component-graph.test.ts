import { describe, expect, it } from 'vitest';
import { ComponentGraph } from '../../src/graph/component-graph.js';

describe('component graph', () => {
  it('gpt2-small has 157 senders, 445 receivers and 32,491 edges', () => {
    const g = new ComponentGraph({ nLayers: 12, nHeads: 12 });
    expect([g.nSenders, g.nReceivers, g.nEdges]).toEqual([157, 445, 32491]);
    expect([...g.edges()].length).toBe(32491);
  });

  it('names edges as EAP-IG does and parses them back', () => {
    const g = new ComponentGraph({ nLayers: 12, nHeads: 12 });
    for (const name of ['a0.h1->a3.h2<q>', 'input->m0', 'm11->logits', 'a5.h7->m5']) {
      expect(g.edgeName(g.parseEdge(name))).toBe(name);
    }
    expect(() => g.parseEdge('a3.h2->a3.h1<k>')).toThrow(/not upstream/);
    expect(() => g.parseEdge('a0.h1->a3.h2<x>')).toThrow(/unknown receiver/);
    expect(() => g.parseEdge('m12->logits')).toThrow(/unknown sender/);
  });

  it('edges run exactly from earlier senders: heads of layer L feed m{L} but not heads of layer L', () => {
    const g = new ComponentGraph({ nLayers: 2, nHeads: 2 });
    expect(g.hasEdge(g.headSender(0, 0), g.mlpReceiver(0))).toBe(true);
    expect(g.hasEdge(g.headSender(0, 0), g.headInputReceiver(0, 1, 'q'))).toBe(false);
    expect(g.hasEdge(g.mlpSender(0), g.headInputReceiver(1, 0, 'v'))).toBe(true);
    expect(g.hasEdge(g.mlpSender(1), g.mlpReceiver(1))).toBe(false);
    for (const e of g.edges()) expect(g.hasEdge(e.sender, e.receiver)).toBe(true);
  });
});
