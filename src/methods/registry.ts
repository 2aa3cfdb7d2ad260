// Every method by name, each with the signature of method.ts: units of work on an experiment, data
// checks, and a session computing one unit at a time with a progress reporter.
import type { MethodName } from '../core/vocabulary.js';
import { acdcEdges } from './acdc.js';
import { acdcNodes } from './acdc-nodes.js';
import { cleanCorrupted, eap, eapIgActivations, eapIgInputs, exact } from './attribution.js';
import type { Method } from './method.js';
import { nodeAttribution } from './node-attribution.js';
import { nodePatching } from './node-patching.js';
import { pathPatching } from './path-patching.js';

export const METHODS = {
  'node-patching': nodePatching,
  'node-attribution': nodeAttribution,
  'path-patching': pathPatching,
  acdc: acdcEdges,
  'acdc-nodes': acdcNodes,
  eap,
  'eap-ig-inputs': eapIgInputs,
  'eap-ig-activations': eapIgActivations,
  'clean-corrupted': cleanCorrupted,
  exact,
} as const satisfies Readonly<Record<MethodName, Method<never, unknown>>>;
