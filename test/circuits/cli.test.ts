// `patchwise circuit list|show|export|import|compare` through their yargs handlers in-process
// (output captured from console.log), and once through bin/patchwise.js for registration.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import yargs from 'yargs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { eapGraphSchema } from '../../src/circuits/eap-json.js';
import { circuitCommand } from '../../src/cli/commands/circuit.js';
import { Experiment } from '../../src/experiment/experiment.js';
import { acdc, acdcCircuit } from '../../src/methods/acdc.js';
import { PatchableModel } from '../../src/runtime/patchable-model.js';
import { Store } from '../../src/store/store.js';
import { smallDataset, smallModel } from '../methods/fixtures.js';
import { build } from './build.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');
const fixture = (name: string): string => join(here, 'fixtures', name);
const dir = mkdtempSync(join(tmpdir(), 'patchwise-circuit-cli-'));
const db = join(dir, 'results.db');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const shape = { nLayers: 2, nHeads: 2 };
const model = { fingerprint: 'aa11', name: 'tiny-2x2', dModel: 16 };
const a = build(
  shape,
  ['input->a0.h0<q>', 'a0.h0->m1', 'm1->logits', 'input->m0', 'm0->logits'],
  { 'input->a0.h0<q>': 0.9, 'a0.h0->m1': 0.5, 'm1->logits': 0.7, 'input->m0': -0.2, 'm0->logits': 0.3, 'a1.h1->logits': 0.05 },
  { method: 'eap-ig', metric: 'kl', corruption: 'str-abc', direction: 'denoising', threshold: 0.2, faithfulness: 0.9, model: { fingerprint: model.fingerprint, name: model.name } },
);
const b = build(
  shape,
  ['input->a0.h0<q>', 'a0.h0->m1', 'm1->logits', 'input->a1.h1<k>', 'a1.h1->logits'],
  { 'input->a0.h0<q>': 0.8, 'a0.h0->m1': 0.4, 'm1->logits': -0.6, 'input->a1.h1<k>': 0.25, 'a1.h1->logits': 0.35 },
  { method: 'acdc', metric: 'kl', corruption: 'str-abc', direction: 'noising', threshold: 0.05 },
);

beforeAll(async () => {
  const s = await Store.open(db);
  await s.models.upsert({ fingerprint: model.fingerprint, name: model.name, path: '/m', architecture: 'gpt2', config: { nLayers: 2, nHeads: 2, dModel: model.dModel } });
  await s.models.upsert({ fingerprint: 'bb22', name: 'tiny-1x2', path: '/m2', architecture: 'gpt2', config: { nLayers: 1, nHeads: 2, dModel: 8 } });
  await s.circuits.save({ pipeline: 'ioi', key: 'ioi-eap-ig', circuit: a, settings: { steps: 5 } });
  await s.circuits.save({ pipeline: 'ioi', key: 'ioi-acdc', circuit: b, settings: { steps: 1 } });
  await s.close();
});

/** Runs `patchwise circuit ...` in-process; returns stdout and stderr lines. */
async function run(args: string[]): Promise<{ out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...x: unknown[]) => void out.push(x.map(String).join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...x: unknown[]) => void err.push(x.map(String).join(' ')));
  try {
    await yargs(['circuit', ...args])
      .command(circuitCommand)
      .strict()
      .exitProcess(false)
      .fail((msg, e) => {
        throw e ?? new Error(msg);
      })
      .parseAsync();
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
  return { out: out.join('\n'), err: err.join('\n') };
}

describe('patchwise circuit list / show', () => {
  it('lists circuits, one line each', async () => {
    const { out } = await run(['list', '--db', db]);
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^id\s+pipeline\s+key\s+method\s+metric\s+corruption\s+direction\s+threshold\s+edges\s+scored\s+faithfulness\s+model$/);
    expect(lines[2]).toMatch(/^ 1\s+ioi\s+ioi-eap-ig\s+eap-ig\s+kl\s+str-abc\s+denoising\s+0\.2000\s+5\s+6\s+0\.9000\s+tiny-2x2$/);
    expect(lines[3]).toMatch(/^ 2\s+ioi\s+ioi-acdc\s+acdc\s+.*noising\s+0\.0500\s+5\s+5\s+-\s+-$/);
    expect(lines).toHaveLength(4);
  });

  it('shows metadata, settings, nodes and the top edges', async () => {
    const { out } = await run(['show', 'ioi-eap', '--db', db, '--edges', '2']);
    expect(out).toContain('circuit       1  (pipeline ioi, key ioi-eap-ig)');
    expect(out).toContain('model         tiny-2x2, fingerprint aa11');
    expect(out).toContain('size          5 edges, 5 nodes');
    expect(out).toContain('graph         2 layers x 2 heads, 46 edges, 6 scored');
    expect(out).toMatch(/settings\n {2}steps {2}5/);
    expect(out).toContain('nodes (5)\n  input a0.h0 m0 m1 logits');
    expect(out).toContain(['edges (5, top 2 by |score|)', 'edge              score', '---------------  ------', 'input->a0.h0<q>  0.9000', 'm1->logits       0.7000'].join('\n'));
    await expect(run(['show', '7', '--db', db])).rejects.toThrow(`no circuit 7 in ${db}`);
  });

  it('--json: list and show parse, with the same facts as the tables', async () => {
    const list = JSON.parse((await run(['list', '--db', db, '--json'])).out) as { id: number; method: string; size: number }[];
    expect(list.map((c) => [c.id, c.method, c.size])).toEqual([
      [1, 'eap-ig', 5],
      [2, 'acdc', 5],
    ]);
    const shown = JSON.parse((await run(['show', 'ioi-eap', '--db', db, '--edges', '2', '--json'])).out) as {
      id: number;
      nodes: string[];
      edges: { edge: string; score: number }[];
      graph: { edges: number };
    };
    expect(shown.id).toBe(1);
    expect(shown.nodes).toEqual(['input', 'a0.h0', 'm0', 'm1', 'logits']);
    // Scores are stored as float32, and printed exactly as stored.
    expect(shown.edges).toEqual([
      { edge: 'input->a0.h0<q>', score: Math.fround(0.9) },
      { edge: 'm1->logits', score: Math.fround(0.7) },
    ]);
    expect(shown.graph.edges).toBe(46);
  });
});

describe('patchwise circuit list --method', () => {
  it('finds node-level ACDC circuits as acdc-nodes, the name pipelines use', async () => {
    const nodesDb = join(dir, 'nodes.db');
    const pm = new PatchableModel(smallModel(), { threads: 1 });
    try {
      const runs = await Experiment.prepare(pm, smallDataset(3));
      const circuit = acdcCircuit(await acdc(runs, { tau: 0.1, metric: 'kl', level: 'node' }), { metric: 'kl' });
      expect(circuit.meta.method).toBe('acdc-nodes');
      const s = await Store.open(nodesDb);
      await s.circuits.save({ pipeline: 'p', key: 'nodes', circuit, settings: {} });
      await s.circuits.save({ pipeline: 'p', key: 'edges', circuit: b, settings: {} });
      await s.close();
    } finally {
      await pm.release();
    }
    const nodes = (await run(['list', '--db', nodesDb, '--method', 'acdc-nodes'])).out.split('\n');
    expect(nodes).toHaveLength(3);
    expect(nodes[2]).toMatch(/^ 1\s+p\s+nodes\s+acdc-nodes\s+kl\s/);
    const edges = (await run(['list', '--db', nodesDb, '--method', 'acdc'])).out.split('\n');
    expect(edges.slice(2).map((l) => l.split(/\s+/)[3])).toEqual(['edges']);
  });
});

describe('patchwise circuit compare', () => {
  it('prints counts, Jaccard, faithfulness, differing settings and the edge lists', async () => {
    const { out } = await run(['compare', '1', 'ioi-acdc', '--db', db, '--limit', '1']);
    expect(out).toContain('circuit 1 (ioi/ioi-eap-ig) vs circuit 2 (ioi/ioi-acdc)');
    expect(out).toMatch(/\nedges\s+5\s+5\s+3\s+2\s+2\s+0\.4286\n/);
    expect(out).toMatch(/\nnodes\s+5\s+5\s+4\s+1\s+1\s+0\.6667\n/);
    expect(out).toMatch(/\nfaithfulness\s+0\.9000\s+-\n/);
    expect(out).toMatch(/settings that differ\nsetting\s+circuit 1\s+circuit 2\n[- ]+\ndirection\s+denoising\s+noising\nmethod\s+eap-ig\s+acdc\nmodel\.fingerprint\s+aa11\s+null\n/);
    expect(out).toMatch(/settings\.steps\s+5\s+1\nthreshold\s+0\.2\s+0\.05/);
    expect(out).toMatch(/edges in both \(3\)\nedge\s+circuit 1 score\s+circuit 2 score\n[- ]+\ninput->a0\.h0<q>\s+0\.9000\s+0\.8000\n\.\.\. and 2 more \(--limit\)/);
    expect(out).toMatch(/edges only in circuit 2 \(2\)\n.*\n.*\na1\.h1->logits\s+0\.0500\s+0\.3500/);
    expect(out).toContain('nodes only in circuit 1 (1)\n  m0');
  });
});

describe('patchwise circuit compare --truth', () => {
  it('prints precision, recall and ROC-AUC of one or two circuits against a ground-truth file', async () => {
    const truth = join(dir, 'truth.json');
    writeFileSync(truth, JSON.stringify(['input->a0.h0<q>', 'a0.h0->m1', 'a1.h1->logits']));
    const { out } = await run(['compare', '1', '--truth', truth, '--db', db]);
    // Circuit 1: 2 of its 5 edges are true (precision 0.4), 2 of the 3 true edges found (recall 2/3).
    // Its scores rank the positives 0.9, 0.5, 0.05 against negatives 0.7, |-0.2|, 0.3 and the
    // unscored rest (lowest): they beat nNeg, nNeg - 1 and nNeg - 3 negatives.
    const nNeg = [...a.graph.edges()].length - 3;
    const auc = (3 * nNeg - 4) / (3 * nNeg);
    expect(out).toContain(`against ${truth}: 3 edges`);
    expect(out).toMatch(new RegExp(`circuit 1 \\(ioi/ioi-eap-ig\\)\\s+5\\s+0\\.4000\\s+0\\.6667\\s+${auc.toFixed(4).replace('.', '\\.')}\\n?`));
    const both = await run(['compare', '1', '2', '--truth', truth, '--db', db]);
    expect(both.out).toContain('circuit 1 (ioi/ioi-eap-ig) vs circuit 2 (ioi/ioi-acdc)');
    // Circuit 2 holds all three true edges among its 5.
    expect(both.out).toMatch(/circuit 2 \(ioi\/ioi-acdc\)\s+5\s+0\.6000\s+1\.0000\s+/);
  });

  it('names the file and edge of a ground truth that does not fit the model, and needs a second circuit or --truth', async () => {
    const bad = join(dir, 'bad-truth.json');
    writeFileSync(bad, JSON.stringify({ edges: ['input->a5.h0<q>'] }));
    await expect(run(['compare', '1', '--truth', bad, '--db', db])).rejects.toThrow(`${bad}: edges: edge "input->a5.h0<q>"`);
    await expect(run(['compare', '1', '--db', db])).rejects.toThrow('circuit compare: give a second circuit, or --truth FILE');
  });
});

describe('patchwise circuit export / import', () => {
  it('exports our format and imports it back unchanged', async () => {
    const file = join(dir, 'a.json');
    expect((await run(['export', '1', '--out', file, '--db', db])).out).toBe(`wrote circuit 1 (ioi/ioi-eap-ig), 5 edges, to ${file} (patchwise format)`);
    const { out } = await run(['import', file, '--name', 'a-again', '--db', db]);
    expect(out).toMatch(/^imported .*a\.json \(patchwise format\) as circuit 3 \(import\/a-again\): 6 scored edges, 5 in the circuit, 5 nodes$/);
    const s = await Store.open(db, { create: false });
    try {
      expect((await s.circuits.load('a-again')).equals(a)).toBe(true);
      expect((await s.circuits.get(3)).settings).toEqual({ format: 'patchwise', importedFrom: file });
    } finally {
      await s.close();
    }
  });

  it('exports EAP-IG JSON (d_model from the stored model) and imports it back unchanged', async () => {
    const file = join(dir, 'a-eap.json');
    await run(['export', 'ioi-eap-ig', '--out', file, '--format', 'eap', '--db', db]);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^\{"cfg": \{"n_layers":2,"n_heads":2,"parallel_attn_mlp":false,"d_model":16,"patchwise_meta":/);
    const { out } = await run(['import', file, '--db', db, '--model', 'aa11']);
    expect(out).toContain('(eap format) as circuit 4 (import/a-eap)');
    const s = await Store.open(db, { create: false });
    try {
      const back = await s.circuits.load(4);
      expect(back.equals(a.withMeta({ model: { ...a.meta.model, dModel: 16 } }))).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('imports an EAP-IG file, checking its shape against --model, and prints warnings', async () => {
    const { out, err } = await run(['import', fixture('eap-ig-old-format.json'), '--model', 'bb22', '--name', 'old', '--method', 'eap', '--db', db]);
    expect(out).toMatch(/\(eap format\) as circuit 5 \(import\/old\): 2 scored edges, 3 in the circuit, 4 nodes$/);
    expect(err).toContain('patchwise: warning: ');
    expect(err).toContain('1 in-circuit edge(s) lie on no input->logits path');
    const s = await Store.open(db, { create: false });
    try {
      const c = await s.circuits.load('old');
      expect(c.meta.method).toBe('eap');
      expect(c.meta.model).toEqual({ fingerprint: 'bb22', name: 'tiny-1x2', dModel: 8 });
    } finally {
      await s.close();
    }
    await expect(run(['import', fixture('eap-ig-1l2h.json'), '--model', 'aa11', '--db', db])).rejects.toThrow(/eap-ig-1l2h\.json: cfg: the file is for 1 layers x 2 heads, the model has 2 x 2/);
    await expect(run(['import', fixture('eap-ig-1l2h.json'), '--model', 'no/such/model', '--db', db])).rejects.toThrow(/--model no\/such\/model: no such file or directory/);
    await expect(run(['import', join(dir, 'missing.json'), '--db', db])).rejects.toThrow(/missing\.json: cannot read/);
  });
});

describe('patchwise circuit export --format mib', () => {
  it('writes DIR/{task}_{model}/importances.json: EAP-IG graph JSON with a finite score on every edge', async () => {
    const out = join(dir, 'mib');
    // Circuit 1 has no task recorded (saved by hand): --task names it, and leaving it out is an error.
    await expect(run(['export', '1', '--format', 'mib', '--out', out, '--db', db])).rejects.toThrow(/circuit 1: no task recorded .*give --task/);
    const { out: printed } = await run(['export', '1', '--format', 'mib', '--task', 'ioi', '--out', out, '--db', db]);
    const file = join(out, 'ioi_tiny-2x2', 'importances.json');
    expect(printed).toContain(`to ${file} (MIB submission)`);
    const json = eapGraphSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
    expect(json.cfg).toMatchObject({ n_layers: 2, n_heads: 2, d_model: 16 });
    const edges = Object.entries(json.edges);
    expect(edges).toHaveLength(a.graph.nEdges);
    for (const [name, e] of edges) {
      expect(typeof e.score === 'number' && Number.isFinite(e.score), name).toBe(true);
      // Scored edges keep their float32 score (written as its shortest text); the unscored ones score 0.
      const { sender, receiver } = a.graph.parseEdge(name);
      const want = a.score(sender, receiver);
      expect(Math.fround(e.score as number), name).toBe(Number.isNaN(want) ? 0 : want);
    }
    expect(
      edges
        .filter(([, e]) => e.in_graph)
        .map(([n]) => n)
        .sort(),
    ).toEqual(
      a
        .edges()
        .map((e) => e.name)
        .sort(),
    );

    // A discovery circuit records its task, so the folder needs no flag.
    const s = await Store.open(db, { create: false });
    const id = await s.circuits.save({ pipeline: 'ind', key: 'ind-acdc', circuit: b, settings: { task: 'induction' } });
    await s.close();
    await run(['export', String(id), '--format', 'mib', '--model-name', 'planted', '--out', out, '--db', db]);
    const acdcJson = eapGraphSchema.parse(JSON.parse(readFileSync(join(out, 'induction_planted', 'importances.json'), 'utf8')));
    expect(Object.keys(acdcJson.edges)).toHaveLength(b.graph.nEdges);
  });
});

describe('bin/patchwise circuit', () => {
  it('is registered, with help for its subcommands', async () => {
    const exec = promisify(execFile);
    const bin = join(repoRoot, 'bin', 'patchwise.js');
    const help = await exec(process.execPath, [bin, 'circuit', '--help'], { cwd: repoRoot });
    for (const sub of ['list', 'show <circuit>', 'export <circuit>', 'import <file>', 'compare <a> [b]']) expect(help.stdout).toContain(`patchwise circuit ${sub}`);
  });
});
