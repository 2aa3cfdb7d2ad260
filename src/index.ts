// patchwise's public API: what `import { ... } from 'patchwise'` gives. Everything else under src/
// is internal and may change without notice.

// Shared vocabulary and errors.
export {
  DIRECTIONS,
  type Direction,
  type Corruption,
  type NoiseSettings,
  type SigmaSource,
  type Detection,
  type GroundTruth,
  type CurvePoint,
  corruptionName,
} from './core/vocabulary.js';
export { UserError } from './core/errors.js';
export { packagePath } from './core/package-root.js';

// Models: load a checkpoint (Hugging Face directory or GGUF file), or make one (preset shapes, random init, planted circuits).
export { loadModel } from './checkpoints/load.js';
export type { Architecture, LoadedModel, ModelConfig, ModelWeights } from './model/types.js';
export { parameterCount } from './model/types.js';
export { type ModelPreset, presetNames, getPreset, presetConfig } from './synthetic/presets.js';
export { initModel } from './synthetic/init.js';
export { PLANTED_KINDS, type PlantedKind, type PlantedModel, plantInductionModel, writePlanted, readGroundTruth } from './synthetic/planted.js';
export { loadTokenizer } from './tokenizer/load.js';
export type { Tokenizer } from './tokenizer/types.js';

// The component graph: senders, receivers, edges and their EAP-IG names.
export { ComponentGraph, type Edge } from './graph/component-graph.js';
export { type Sender, type Receiver, headName, mlpName, edgeName } from './graph/nodes.js';

// Running and patching: plain runs with a sender cache, patched runs with K edge-mask configurations at once.
export { PatchableModel, type RunResult, type PatchOptions, type PatchedResult } from './runtime/patchable-model.js';
export { EdgeMasks } from './runtime/masks.js';
export type { SenderCache } from './runtime/cache.js';
export type { RunInput, LogitPositions } from './runtime/inputs.js';
export { greedyGenerate } from './runtime/generate.js';

// Tasks and their datasets of clean/corrupted prompt pairs.
export { taskNames, getTask, buildDataset, type DatasetRequest } from './tasks/registry.js';
export type { Dataset, MetricTarget, PromptPair, Task, TaskContext } from './tasks/types.js';

// Experiment building blocks: metrics and patch granularities.
export { METRICS, getMetric, type Metric } from './experiment/metrics.js';
export { GRANULARITIES, getGranularity, type Granularity } from './experiment/components.js';

// One experiment over a dataset: rows, clean and corrupted runs, baselines, scoring of mask configurations.
export { Experiment, type ExperimentOptions, type Baselines } from './experiment/experiment.js';

// Methods, all of one signature, by name: node patching, path patching, ACDC (edges and nodes).
export { METHODS } from './methods/registry.js';
export type { Method, MethodSession, ProgressReporter } from './methods/method.js';
export { pathPatch, type PathPatchOptions, type PathPatchResult } from './methods/path-patching.js';
export { acdc, acdcSweep, acdcCircuit, type AcdcOptions, type AcdcResult } from './methods/acdc.js';
export { attributionScores, attributionCircuit, cutScores, type AttributionResult, type AttributionSelection, type AttributionSettings, type Cut } from './methods/attribution.js';
export { exactEdgeEffects, type ExactEdgeOptions } from './methods/exact-edges.js';
export { edgeAttribution, GradientModel, type AttributionData, type AttributionOptions, type AttributionPoint, type AttributionScheme } from './gradients/edge-attribution.js';
export { scoreGradient } from './gradients/metric-gradients.js';

// Evaluation: detection, faithfulness, ROC, random baselines.
export { detect } from './evaluation/detection.js';
export { jaccard } from './evaluation/measures.js';
export { faithfulness, faithfulnessCurve, sweepRoc, randomBaseline, type FaithfulnessResult } from './evaluation/evaluate.js';

// Circuits: the circuit object, EAP-IG JSON, comparison.
export { Circuit, type CircuitEdge } from './circuits/circuit.js';
export { greedyEdges } from './circuits/greedy.js';
export { compareCircuits, type CircuitComparison } from './circuits/compare.js';
export { toEapJson, fromEapJson } from './circuits/eap-json.js';
export { readCircuitFile, writeCircuitFile } from './circuits/files.js';

// The SQLite store of runs, effects and circuits.
export { Store } from './store/store.js';

// Pipelines: the YAML format and its resumable runner.
export { loadPipeline, expandGrid, type Pipeline } from './pipeline/spec.js';
export { runPipeline, type PipelineResult, type RunPipelineOptions } from './pipeline/run-pipeline.js';
