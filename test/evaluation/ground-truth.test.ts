// Ground truths from files: our JSON, EAP-IG graph JSON and lists of edge names, checked against
// the model's graph; `ground-truth.json` beside a model path; a pipeline's `groundTruth: FILE`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { parseGroundTruth, readGroundTruthFile, truthScores } from '../../src/evaluation/ground-truth.js';
import { ComponentGraph } from '../../src/graph/component-graph.js';
import { loadPipelineModel } from '../../src/pipeline/model-source.js';
import { loadPipeline } from '../../src/pipeline/spec.js';
import { plantInductionModel, writePlanted } from '../../src/synthetic/planted.js';
import { toEapJson } from '../../src/circuits/eap-json.js';
import { build } from '../circuits/build.js';

const dir = mkdtempSync(join(tmpdir(), 'patchwise-truth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const graph = new ComponentGraph({ nLayers: 2, nHeads: 2 });

describe('ground-truth files', () => {
  it('reads our JSON, a list of edge names and EAP-IG graph JSON alike', () => {
    const edges = ['input->a0.h0<q>', 'a0.h0->m1', 'm1->logits'];
    expect(parseGroundTruth(edges, 'list.json', graph)).toEqual({ edges });
    expect(parseGroundTruth({ edges, nodes: ['a0.h0'], positionalEdges: ['input->a1.h1<k>'] }, 'ours.json', graph)).toEqual({
      edges,
      nodes: ['a0.h0'],
      positionalEdges: ['input->a1.h1<k>'],
    });
    const eap = join(dir, 'eap.json');
    writeFileSync(eap, toEapJson(build({ nLayers: 2, nHeads: 2 }, edges, { 'a1.h1->logits': 0.3 }, { method: 'acdc' })));
    expect(new Set(readGroundTruthFile(eap, graph).edges)).toEqual(new Set(edges));
  });

  it('names the file, field and edge of a truth that does not fit the graph', () => {
    expect(() => parseGroundTruth(['a0.h0->m1', 'a0.h9->m1'], 't.json', graph)).toThrow(/^t\.json: \(list\): edge "a0\.h9->m1": /);
    expect(() => parseGroundTruth({ edges: ['m1->a0.h0<q>'] }, 't.json', graph)).toThrow(/^t\.json: edges: edge "m1->a0\.h0<q>"/);
    expect(() => parseGroundTruth({ edges: ['a0.h0->m1'], positionalEdges: ['a0.h0->m1'] }, 't.json', graph)).toThrow('t.json: positionalEdges: edge "a0.h0->m1" is also in edges');
    expect(() => parseGroundTruth({ nodes: [] }, 't.json', graph)).toThrow(UserError);
    expect(() => parseGroundTruth({ edges: [], ablationEdges: { noise: [] } }, 't.json', graph)).toThrow('t.json: ablationEdges.noise: not an ablation (zero, mean, resample)');
    expect(() => parseGroundTruth({ edges: [], ablationEdges: { zero: ['a1.h0->a0.h0<q>'] } }, 't.json', graph)).toThrow(/^t\.json: ablationEdges\.zero: edge "a1\.h0->a0\.h0<q>"/);
  });

  it('scores a circuit: precision and recall of its edges, ROC-AUC of its scores; position-only edges count neither way', () => {
    const c = build({ nLayers: 2, nHeads: 2 }, ['a0.h0->m1', 'm1->logits', 'input->m0'], { 'a0.h0->m1': 3, 'm1->logits': 2, 'input->m0': 1 }, { method: 'acdc' });
    const s = truthScores(c, { edges: ['a0.h0->m1', 'm1->logits'], positionalEdges: ['input->m0'] });
    // Both true edges found, the only other one is excluded: a perfect circuit and ranking.
    expect(s).toEqual({ precision: 1, recall: 1, auc: 1 });
    const t = truthScores(c, { edges: ['a0.h0->m1', 'input->a1.h1<k>'] });
    expect(t.precision).toBeCloseTo(1 / 3, 12);
    expect(t.recall).toBe(0.5);
  });

  it("ground-truth.json beside a model path is the pipeline model's ground truth; a pipeline's groundTruth file overrides it", async () => {
    const modelDir = join(dir, 'planted');
    writePlanted(modelDir);
    const pm = await loadPipelineModel({ path: modelDir });
    expect(pm.groundTruth?.edges).toEqual(plantInductionModel().groundTruth.edges);
    expect(pm.groundTruth?.positionalEdges).toEqual(plantInductionModel().groundTruth.positionalEdges);
    expect(pm.groundTruth?.ablationEdges).toEqual(plantInductionModel().groundTruth.ablationEdges);

    const own = join(dir, 'own-truth.json');
    writeFileSync(own, JSON.stringify(['a0.h3->a1.h7<k>']));
    const file = join(dir, 'p.yaml');
    writeFileSync(file, `model: { path: planted }\ngroundTruth: own-truth.json\ntask: { name: induction }\ndiscovery: { corruption: zero }\n`);
    const p = loadPipeline(file);
    expect(p.groundTruth).toBe(own);
    expect((await loadPipelineModel(p.model, p.groundTruth)).groundTruth).toEqual({ edges: ['a0.h3->a1.h7<k>'] });
    writeFileSync(file, `model: { path: planted }\ngroundTruth: missing.json\ntask: { name: induction }\ndiscovery: { corruption: zero }\n`);
    expect(() => loadPipeline(file)).toThrow(`${file}: groundTruth: no such file ${join(dir, 'missing.json')}`);
  });
});
