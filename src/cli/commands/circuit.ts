// `patchwise circuit <list|show|export|import|compare>`: circuits in the results database, and
// their interchange with files (ours, and EAP-IG's graph JSON).
import { existsSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import type { Circuit, CircuitMetaInit } from '../../circuits/circuit.js';
import { compareCircuits, type CircuitComparison, type ComparedEdge } from '../../circuits/compare.js';
import { readCircuitFile, writeCircuitFile, writeMibImportances, type CircuitFileFormat } from '../../circuits/files.js';
import { UserError } from '../../core/errors.js';
import type { GroundTruth } from '../../core/vocabulary.js';
import { readGroundTruthFile, truthScores } from '../../evaluation/ground-truth.js';
import type { GraphShape } from '../../graph/component-graph.js';
import { loadModel } from '../../checkpoints/load.js';
import { fingerprintModel } from '../../pipeline/model-source.js';
import { isJsonObject, type Json } from '../../store/json.js';
import { parseRunRef } from '../../store/run-ref.js';
import { Store } from '../../store/store.js';
import type { CircuitSummary } from '../../store/types.js';
import { formatNumber, formatTable, formatValue, type Column } from '../format-table.js';

const DB = { type: 'string', default: 'patchwise.db', describe: 'results database' } as const;

async function withStore<T>(db: string, fn: (s: Store) => Promise<T>, create = false): Promise<T> {
  const store = await Store.open(db, { create });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

const nonNegativeInt = (v: number, flag: string): void => {
  if (!Number.isInteger(v) || v < 0) throw new UserError(`${flag} must be a non-negative integer, got ${v}`);
};

const label = (c: CircuitSummary): string => `circuit ${c.id} (${c.pipeline}/${c.key})`;

// ---- list ----

export function circuitsTable(rows: readonly CircuitSummary[]): string {
  const columns: Column[] = [
    { header: 'id', align: 'right' },
    { header: 'pipeline' },
    { header: 'key' },
    { header: 'method' },
    { header: 'metric' },
    { header: 'corruption' },
    { header: 'direction' },
    { header: 'threshold', align: 'right' },
    { header: 'edges', align: 'right' },
    { header: 'scored', align: 'right' },
    { header: 'faithfulness', align: 'right' },
    { header: 'model' },
  ];
  return formatTable(
    columns,
    rows.map((c) => [
      String(c.id),
      c.pipeline,
      c.key,
      c.method,
      c.metric ?? '-',
      c.corruption ?? '-',
      c.direction ?? '-',
      formatNumber(c.threshold),
      String(c.size),
      String(c.nScored),
      formatNumber(c.faithfulness),
      c.modelName ?? (c.modelFingerprint === null ? '-' : c.modelFingerprint.slice(0, 12)),
    ]),
  );
}

const list: CommandModule<object, { db: string; pipeline?: string; method?: string; json: boolean }> = {
  command: 'list',
  describe: 'List the circuits in a results database',
  builder: (y) =>
    y
      .option('db', DB)
      .option('pipeline', { type: 'string', describe: 'only the circuits of this pipeline' })
      .option('method', { type: 'string', describe: 'only the circuits of this method (acdc, acdc-nodes, eap, eap-ig-inputs, clean-corrupted, exact, or an imported one such as eap-ig)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the circuits as a JSON array' }),
  handler: (argv) =>
    withStore(argv.db, async (store) => {
      const rows = await store.circuits.list({
        ...(argv.pipeline === undefined ? {} : { pipeline: argv.pipeline }),
        ...(argv.method === undefined ? {} : { method: argv.method }),
      });
      if (argv.json) console.log(JSON.stringify(rows, null, 2));
      else console.log(rows.length === 0 ? `no circuits in ${argv.db}` : circuitsTable(rows));
    }),
};

// ---- show ----

export function circuitReport(s: CircuitSummary, c: Circuit, nEdges: number): string {
  const nodes = c.nodes();
  const dangling = c.danglingEdges();
  const model = [c.meta.model.name, c.meta.model.fingerprint === null ? null : `fingerprint ${c.meta.model.fingerprint}`].filter((x) => x !== null);
  const lines: [string, string][] = [
    ['circuit', `${s.id}  (pipeline ${s.pipeline}, key ${s.key})`],
    ['run', s.runId === null ? '-' : String(s.runId)],
    ['method', c.meta.method],
    ['metric', c.meta.metric ?? '-'],
    ['corruption', c.meta.corruption ?? '-'],
    ['direction', c.meta.direction ?? '-'],
    ['threshold', c.meta.threshold === null ? '-' : String(c.meta.threshold)],
    ['model', model.length === 0 ? '-' : model.join(', ')],
    ['graph', `${c.graph.nLayers} layers x ${c.graph.nHeads} heads, ${c.graph.nEdges} edges, ${c.nScored} scored`],
    ['size', `${c.size} edges, ${nodes.length} nodes${dangling > 0 ? `, ${dangling} dangling edges` : ''}`],
    ['faithfulness', formatNumber(c.meta.faithfulness)],
    ['created', s.createdAt],
  ];
  const width = Math.max(...lines.map(([k]) => k.length));
  const out = lines.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
  const settings: [string, Json][] = isJsonObject(s.settings) ? Object.entries(s.settings) : [['value', s.settings]];
  const extra = Object.entries(c.meta.extra);
  for (const [title, entries] of [
    ['settings', settings],
    ['extra', extra],
  ] as const) {
    if (entries.length === 0) continue;
    out.push('', title);
    const sw = Math.max(...entries.map(([k]) => k.length));
    for (const [k, v] of entries) out.push(`  ${k.padEnd(sw)}  ${formatValue(v)}`);
  }
  out.push('', `nodes (${nodes.length})`, nodes.length === 0 ? '  (none)' : `  ${nodes.join(' ')}`);
  if (nEdges > 0) {
    const edges = c.edges();
    const top = [...edges].sort((a, b) => magnitude(b.score) - magnitude(a.score)).slice(0, nEdges);
    out.push('', `edges (${edges.length}${top.length < edges.length ? `, top ${top.length} by |score|` : ''})`);
    if (top.length > 0)
      out.push(
        formatTable(
          ['edge', { header: 'score', align: 'right' }],
          top.map((e) => [e.name, formatNumber(e.score)]),
        ),
      );
  }
  return out.join('\n');
}

/** The circuit as data, for --json: its summary, metadata, nodes, and in-circuit edges by |score| (the top nEdges). */
export function circuitJson(s: CircuitSummary, c: Circuit, nEdges: number): Record<string, unknown> {
  const edges = [...c.edges()].sort((a, b) => magnitude(b.score) - magnitude(a.score)).slice(0, nEdges);
  return {
    ...s,
    meta: c.meta,
    graph: { layers: c.graph.nLayers, heads: c.graph.nHeads, edges: c.graph.nEdges },
    nodes: c.nodes(),
    danglingEdges: c.danglingEdges(),
    // NaN (an edge never scored) is not JSON: null.
    edges: edges.map((e) => ({ edge: e.name, score: Number.isFinite(e.score) ? e.score : null })),
  };
}

/** |x|, with NaN sorting last. */
const magnitude = (x: number): number => (Number.isNaN(x) ? -1 : Math.abs(x));

const show: CommandModule<object, { circuit: string; db: string; edges: number; json: boolean }> = {
  command: 'show <circuit>',
  describe: "One circuit's metadata, settings, nodes and its top edges by |score|",
  builder: (y) =>
    y
      .positional('circuit', { type: 'string', demandOption: true, describe: 'circuit id, or key (a unique prefix will do)' })
      .option('db', DB)
      .option('edges', { type: 'number', default: 20, describe: 'in-circuit edges to list (0: none)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the circuit (metadata, nodes, its top --edges edges) as JSON' }),
  handler: async (argv) => {
    nonNegativeInt(argv.edges, '--edges');
    await withStore(argv.db, async (store) => {
      const ref = parseRunRef(argv.circuit);
      const s = await store.circuits.get(ref);
      const c = await store.circuits.load(s.id);
      console.log(argv.json ? JSON.stringify(circuitJson(s, c, argv.edges), null, 2) : circuitReport(s, c, argv.edges));
    });
  },
};

// ---- export ----

const exportCmd: CommandModule<object, { circuit: string; out: string; format: CircuitFileFormat | 'mib'; db: string; dModel?: number; task?: string; modelName?: string }> = {
  command: 'export <circuit>',
  describe: 'Write a circuit to a file: our lossless JSON, EAP-IG graph JSON, or a MIB submission folder',
  builder: (y) =>
    y
      .positional('circuit', { type: 'string', demandOption: true, describe: 'circuit id, or key (a unique prefix will do)' })
      .option('out', { type: 'string', demandOption: true, describe: 'file to write (--format mib: the folder that gets {task}_{model}/importances.json)' })
      .option('format', { choices: ['patchwise', 'eap', 'mib'] as const, default: 'patchwise' as const, describe: 'file format' })
      .option('task', { type: 'string', describe: "--format mib: the task's name in the folder (default: the task the circuit was found on)" })
      .option('model-name', { type: 'string', describe: "--format mib: the model's name in the folder (default: the circuit's model name)" })
      .option('d-model', { type: 'number', describe: "EAP-IG cfg.d_model when the circuit's model is not known" })
      .option('db', DB)
      .example('$0 circuit export ioi-eap --format eap --out ioi.json', 'for EAP-IG Graph.from_json')
      .example('$0 circuit export 7 --format mib --out submission', 'writes submission/{task}_{model}/importances.json'),
  handler: async (argv) => {
    await withStore(argv.db, async (store) => {
      const s = await store.circuits.get(parseRunRef(argv.circuit));
      const c = await store.circuits.load(s.id);
      let dModel = argv.dModel ?? c.meta.model.dModel ?? undefined;
      const eapLike = argv.format === 'eap' || argv.format === 'mib';
      if (eapLike && dModel === undefined && c.meta.model.fingerprint !== null) {
        const m = await store.models.find(c.meta.model.fingerprint);
        const cfg = m?.config;
        if (isJsonObject(cfg) && typeof cfg.dModel === 'number') dModel = cfg.dModel;
      }
      if (eapLike && dModel === undefined) {
        console.error(`patchwise: warning: d_model unknown (give --d-model); EAP-IG's Graph.from_json needs cfg.d_model`);
      }
      const opts = dModel === undefined ? {} : { dModel };
      if (argv.format === 'mib') {
        const settings = isJsonObject(s.settings) ? s.settings : {};
        const task = argv.task ?? (typeof settings.task === 'string' ? settings.task : undefined);
        if (task === undefined) throw new UserError(`circuit ${s.id}: no task recorded (an imported circuit?); give --task`);
        const model = argv.modelName ?? c.meta.model.name ?? undefined;
        if (model === undefined) throw new UserError(`circuit ${s.id}: no model name recorded; give --model-name`);
        const path = writeMibImportances(argv.out, c, task, model, opts);
        console.log(`wrote ${label(s)}, ${c.graph.nEdges} scored edges (${c.graph.nEdges - c.nScored} unscored as 0), to ${path} (MIB submission)`);
        return;
      }
      writeCircuitFile(argv.out, c, argv.format, opts);
      console.log(`wrote ${label(s)}, ${c.size} edges, to ${argv.out} (${argv.format} format)`);
    });
  },
};

// ---- import ----

interface ModelInfo {
  readonly shape?: GraphShape;
  readonly model: { fingerprint: string; name: string | null; dModel: number | null };
}

/** --model: a model path (loaded, fingerprinted, its shape checked) or a fingerprint (looked up in the store). */
async function resolveModel(spec: string, store: Store): Promise<ModelInfo> {
  if (existsSync(spec)) {
    const m = await loadModel(spec);
    const c = m.config;
    return { shape: { nLayers: c.nLayers, nHeads: c.nHeads }, model: { fingerprint: fingerprintModel(m), name: c.name, dModel: c.dModel } };
  }
  const stored = await store.models.find(spec);
  if (stored !== undefined) {
    const cfg = stored.config;
    const num = (k: string): number | undefined => (isJsonObject(cfg) && typeof cfg[k] === 'number' ? cfg[k] : undefined);
    const nLayers = num('nLayers');
    const nHeads = num('nHeads');
    return {
      ...(nLayers !== undefined && nHeads !== undefined ? { shape: { nLayers, nHeads } } : {}),
      model: { fingerprint: stored.fingerprint, name: stored.name, dModel: num('dModel') ?? null },
    };
  }
  if (/^[0-9a-f]{16,64}$/.test(spec)) return { model: { fingerprint: spec, name: null, dModel: null } };
  throw new UserError(`--model ${spec}: no such file or directory, and no model with that fingerprint in ${store.path}`);
}

const importCmd: CommandModule<object, { file: string; model?: string; name?: string; pipeline: string; method?: string; db: string }> = {
  command: 'import <file>',
  describe: 'Import a circuit file (EAP-IG graph JSON or our JSON) into the results database',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'circuit JSON file' })
      .option('model', { type: 'string', describe: 'the model it is a circuit of: a model path (shape checked) or a stored model fingerprint' })
      .option('name', { type: 'string', describe: 'key to store it under (default: the file name without extension)' })
      .option('pipeline', { type: 'string', default: 'import', describe: 'pipeline name to store it under' })
      .option('method', { type: 'string', describe: "set the discovery method (EAP-IG files without patchwise metadata say 'imported')" })
      .option('db', DB)
      .example('$0 circuit import ioi-eap-ig.json --model models/gpt2 --name ioi-published', 'an EAP-IG circuit for GPT-2 small'),
  handler: async (argv) => {
    await withStore(
      argv.db,
      async (store) => {
        const info = argv.model === undefined ? undefined : await resolveModel(argv.model, store);
        const meta: Partial<CircuitMetaInit> = {
          ...(info === undefined ? {} : { model: info.model }),
          ...(argv.method === undefined ? {} : { method: argv.method }),
        };
        const read = readCircuitFile(argv.file, { ...(info?.shape === undefined ? {} : { expectShape: info.shape }), meta });
        for (const w of read.warnings) console.error(`patchwise: warning: ${argv.file}: ${w}`);
        const key = argv.name ?? basename(argv.file, extname(argv.file));
        const c = read.circuit;
        const id = await store.circuits.save({ pipeline: argv.pipeline, key, circuit: c, settings: { importedFrom: resolve(argv.file), format: read.format } });
        console.log(`imported ${argv.file} (${read.format} format) as circuit ${id} (${argv.pipeline}/${key}): ${c.nScored} scored edges, ${c.size} in the circuit, ${c.nodes().length} nodes`);
      },
      true,
    );
  },
};

// ---- compare ----

export function comparisonText(a: CircuitSummary, b: CircuitSummary, r: CircuitComparison, limit: number): string {
  const A = `circuit ${a.id}`;
  const B = `circuit ${b.id}`;
  const out: string[] = [`${label(a)} vs ${label(b)}`, ''];
  const e = r.edges;
  const n = r.nodes;
  out.push(
    formatTable(
      [
        '',
        { header: A, align: 'right' },
        { header: B, align: 'right' },
        { header: 'both', align: 'right' },
        { header: `only ${A}`, align: 'right' },
        { header: `only ${B}`, align: 'right' },
        { header: 'Jaccard', align: 'right' },
      ],
      [
        ['edges', String(r.size.a), String(r.size.b), String(e.both.length), String(e.onlyA.length), String(e.onlyB.length), e.jaccard.toFixed(4)],
        ['nodes', String(n.both.length + n.onlyA.length), String(n.both.length + n.onlyB.length), String(n.both.length), String(n.onlyA.length), String(n.onlyB.length), n.jaccard.toFixed(4)],
        ['faithfulness', formatNumber(r.faithfulness.a), formatNumber(r.faithfulness.b), '', '', '', ''],
      ],
    ),
  );
  const show = (v: Json | undefined): string => (v === undefined ? '(absent)' : formatValue(v));
  out.push('');
  if (r.differences.length === 0) out.push('settings: identical');
  else
    out.push(
      'settings that differ',
      formatTable(
        ['setting', A, B],
        r.differences.map((d) => [d.field, show(d.a), show(d.b)]),
      ),
    );

  const edgeSection = (title: string, rows: readonly ComparedEdge[]): void => {
    out.push('', `${title} (${rows.length})`);
    if (rows.length === 0) return;
    const shown = rows.slice(0, limit);
    out.push(
      formatTable(
        ['edge', { header: `${A} score`, align: 'right' }, { header: `${B} score`, align: 'right' }],
        shown.map((x) => [x.name, formatNumber(x.scoreA), formatNumber(x.scoreB)]),
      ),
    );
    if (shown.length < rows.length) out.push(`... and ${rows.length - shown.length} more (--limit)`);
  };
  edgeSection('edges in both', e.both);
  edgeSection(`edges only in ${A}`, e.onlyA);
  edgeSection(`edges only in ${B}`, e.onlyB);
  for (const [title, names] of [
    [`nodes only in ${A}`, n.onlyA],
    [`nodes only in ${B}`, n.onlyB],
  ] as const) {
    out.push('', `${title} (${names.length})`);
    if (names.length > 0) out.push(`  ${names.slice(0, limit).join(' ')}${names.length > limit ? ` ... and ${names.length - limit} more` : ''}`);
  }
  return out.join('\n');
}

/** Precision, recall and ROC-AUC of each circuit against a ground truth (read for its own graph), one row each. */
export function truthText(file: string, circuits: readonly { summary: CircuitSummary; circuit: Circuit; truth: GroundTruth }[]): string {
  const truth = circuits[0]!.truth;
  const positional = truth.positionalEdges?.length ?? 0;
  const head = `against ${file}: ${truth.edges.length} edges${positional > 0 ? ` (+${positional} position-only, counted neither way)` : ''}`;
  const rows = circuits.map(({ summary, circuit, truth: t }) => {
    const sc = truthScores(circuit, t);
    return [label(summary), String(circuit.size), formatNumber(sc.precision), formatNumber(sc.recall), formatNumber(sc.auc)];
  });
  return [
    head,
    formatTable(['circuit', { header: 'edges', align: 'right' }, { header: 'precision', align: 'right' }, { header: 'recall', align: 'right' }, { header: 'ROC-AUC', align: 'right' }], rows),
  ].join('\n');
}

const compare: CommandModule<object, { a: string; b?: string; truth?: string; db: string; limit: number }> = {
  command: 'compare <a> [b]',
  describe: 'Edges and nodes two circuits share or not, their Jaccard indices, faithfulness and differing settings; with --truth, precision, recall and ROC-AUC against a ground truth',
  builder: (y) =>
    y
      .positional('a', { type: 'string', demandOption: true, describe: 'circuit id or key' })
      .positional('b', { type: 'string', describe: 'circuit id or key (optional with --truth)' })
      .option('truth', { type: 'string', describe: 'ground-truth file: ground-truth.json, EAP-IG graph JSON, or a JSON list of edge names' })
      .option('limit', { type: 'number', default: 20, describe: 'rows to list per section' })
      .option('db', DB),
  handler: async (argv) => {
    nonNegativeInt(argv.limit, '--limit');
    if (argv.b === undefined && argv.truth === undefined) throw new UserError('circuit compare: give a second circuit, or --truth FILE to score one circuit against a ground truth');
    await withStore(argv.db, async (store) => {
      const refs = argv.b === undefined ? [argv.a] : [argv.a, argv.b];
      const circuits = [];
      for (const ref of refs) {
        const summary = await store.circuits.get(parseRunRef(ref));
        circuits.push({ summary, circuit: await store.circuits.load(summary.id) });
      }
      const [a, b] = circuits;
      if (b !== undefined) {
        console.log(comparisonText(a!.summary, b.summary, compareCircuits(a!.circuit, b.circuit, { settingsA: a!.summary.settings, settingsB: b.summary.settings }), argv.limit));
      }
      if (argv.truth !== undefined) {
        const file = argv.truth;
        // Each circuit's own graph checks the truth's edge names (two circuits may be for different models).
        if (b !== undefined) console.log('');
        console.log(
          truthText(
            file,
            circuits.map((c) => ({ ...c, truth: readGroundTruthFile(file, c.circuit.graph) })),
          ),
        );
      }
    });
  },
};

export const circuitCommand: CommandModule = {
  command: 'circuit <command>',
  describe: 'List, show, export, import and compare circuits',
  builder: (y: Argv) =>
    y
      .command(list as unknown as CommandModule)
      .command(show as unknown as CommandModule)
      .command(exportCmd as unknown as CommandModule)
      .command(importCmd as unknown as CommandModule)
      .command(compare as unknown as CommandModule)
      .demandCommand(1, 'Give a circuit command: list, show, export, import or compare.'),
  handler: () => undefined,
};
