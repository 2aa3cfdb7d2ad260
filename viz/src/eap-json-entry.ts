// eap-json.js: the EAP-IG JSON writer for the viewer's "JSON" download, a separate script loaded on
// first use (downloads.ts), built with the library's own Circuit and toEapJson, so the file is
// exactly what `patchwise circuit export` writes and `patchwise circuit import` reads.
import { Circuit } from '../../src/circuits/circuit.js';
import { toEapJson } from '../../src/circuits/eap-json.js';
import type { LoadedCircuit } from './data.js';
import { EAP_GLOBAL, type EapWriter } from './downloads.js';

const writer: EapWriter = {
  circuitEapJson(c: LoadedCircuit, mask: Uint8Array, tau: number | undefined): string {
    const g = c.ix.graph;
    const R = g.nReceivers;
    const scores = new Float32Array(g.nSenders * R).fill(NaN);
    const dense = new Uint8Array(g.nSenders * R);
    for (let k = 0; k < c.ix.nEdges; k++) {
      const i = c.ix.sender[k]! * R + c.ix.receiver[k]!;
      scores[i] = c.scores[k]!;
      dense[i] = mask[k]!;
    }
    const info = c.info;
    const direction = info.direction === 'denoising' || info.direction === 'noising' ? info.direction : null;
    const circuit = new Circuit(g, {
      scores,
      mask: dense,
      meta: {
        method: info.method,
        metric: info.metric,
        corruption: info.corruption,
        direction,
        threshold: tau ?? info.threshold,
        faithfulness: tau === undefined ? info.faithfulness : null,
        model: { name: info.modelName, fingerprint: info.modelFingerprint },
      },
    });
    return toEapJson(circuit);
  },
};

(window as unknown as Record<string, EapWriter>)[EAP_GLOBAL] = writer;
