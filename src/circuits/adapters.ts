// From discovery results to Circuit. Typed structurally (AcdcResult in src/methods has these
// fields) so this module does not depend on any one algorithm.
import type { ComponentGraph } from '../graph/component-graph.js';
import type { Direction } from '../core/vocabulary.js';
import { Circuit, type CircuitMetaInit } from './circuit.js';

/** A dense result in Circuit's layout: [nSenders x nReceivers], entry (s, r) at s * nReceivers + r. */
export interface DenseResult {
  readonly graph: ComponentGraph;
  /** NaN where no score. */
  readonly scores: Float32Array;
  readonly inCircuit: Uint8Array;
  readonly metric: string;
  readonly direction: Direction;
  /** The algorithm's cut (ACDC's tau); becomes meta.threshold unless meta says otherwise. */
  readonly tau?: number;
}

/**
 * The result as a Circuit (arrays copied). Note that for ACDC, meta.threshold is tau on the metric
 * change, so withThreshold(tau) on its scores only approximates ACDC's sequential decisions.
 */
export function circuitFromDense(r: DenseResult, meta: CircuitMetaInit): Circuit {
  return new Circuit(r.graph, {
    scores: r.scores,
    mask: r.inCircuit,
    meta: { metric: r.metric, direction: r.direction, threshold: r.tau ?? null, ...meta },
  });
}
