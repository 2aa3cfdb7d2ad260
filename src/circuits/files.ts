// Circuit files on disk: ours (format "patchwise-circuit") or EAP-IG's graph JSON, told apart by
// their top-level keys so that import needs no format flag.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../core/errors.js';
import { CIRCUIT_FORMAT, Circuit, type CircuitMetaInit } from './circuit.js';
import { fromEapJson, looksLikeEapJson, parsePythonJson, toEapJson, type EapExportOptions, type EapImportOptions } from './eap-json.js';

export type CircuitFileFormat = 'patchwise' | 'eap';

export interface ReadCircuit {
  readonly circuit: Circuit;
  readonly format: CircuitFileFormat;
  readonly warnings: string[];
}

/** Parses circuit file text of either format; `source` names the file in errors. */
export function parseCircuitText(text: string, source: string, opts: EapImportOptions = {}): ReadCircuit {
  const value = parsePythonJson(text, source);
  if (typeof value === 'object' && value !== null && (value as { format?: unknown }).format === CIRCUIT_FORMAT) {
    let circuit = Circuit.fromJSON(value, source);
    const want = opts.expectShape;
    if (want !== undefined && (want.nLayers !== circuit.graph.nLayers || want.nHeads !== circuit.graph.nHeads)) {
      throw new UserError(`${source}: graph: the file is for ${circuit.graph.nLayers} layers x ${circuit.graph.nHeads} heads, the model has ${want.nLayers} x ${want.nHeads}`);
    }
    if (opts.meta !== undefined) circuit = circuit.withMeta(mergeMeta(circuit.meta, opts.meta));
    return { circuit, format: 'patchwise', warnings: [] };
  }
  if (looksLikeEapJson(value)) return { ...fromEapJson(value, source, opts), format: 'eap' };
  throw new UserError(`${source}: neither a patchwise circuit (format "${CIRCUIT_FORMAT}") nor EAP-IG graph JSON (cfg, nodes, edges)`);
}

function mergeMeta(base: CircuitMetaInit, over: Partial<CircuitMetaInit>): Partial<CircuitMetaInit> {
  return { ...over, model: { ...base.model, ...over.model } };
}

export function readCircuitFile(path: string, opts: EapImportOptions = {}): ReadCircuit {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UserError(`${path}: cannot read: ${(e as Error).message}`);
  }
  return parseCircuitText(text, path, opts);
}

/** The file text of a circuit in either format (ours pretty-printed, one in-circuit edge a line). */
export function circuitText(c: Circuit, format: CircuitFileFormat, opts: EapExportOptions = {}): string {
  return format === 'eap' ? toEapJson(c, opts) : `${JSON.stringify(c.toJSON(), null, 1)}\n`;
}

export function writeCircuitFile(path: string, c: Circuit, format: CircuitFileFormat, opts: EapExportOptions = {}): void {
  writeFileSync(path, circuitText(c, format, opts));
}

/** A folder name part for a MIB submission: letters, digits, '.', '-' kept, anything else '-'. */
function mibNamePart(v: string, what: string): string {
  const out = v.trim().replace(/[^A-Za-z0-9.-]+/g, '-');
  if (out === '' || out === '.' || out === '..') throw new UserError(`MIB export: ${what} '${v}' gives no usable folder name`);
  return out;
}

/**
 * A circuit as a MIB circuit-track submission: `dir/{task}_{model}/importances.json`, EAP-IG graph
 * JSON with a score on every edge (unscored edges, e.g. ACDC's never-tried ones, score 0 as
 * EAP-IG reads a missing edge). Returns the file's path.
 */
export function writeMibImportances(dir: string, c: Circuit, task: string, model: string, opts: EapExportOptions = {}): string {
  const folder = join(dir, `${mibNamePart(task, 'task')}_${mibNamePart(model, 'model')}`);
  mkdirSync(folder, { recursive: true });
  const path = join(folder, 'importances.json');
  writeFileSync(path, toEapJson(c, { ...opts, unscoredAs: 0 }));
  return path;
}
