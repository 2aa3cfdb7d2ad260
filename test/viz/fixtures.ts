// A results database for the viewer tests, written through the Store API: node-level runs (two
// corruptions x two metrics on heads, a sliding-window run), detections, two small known circuits
// with curves, and a random-score gpt2-small-shaped circuit with all 32,491 edges scored. Model names
// and prompts carry markup, to check that the viewer shows them as text.
import { Circuit } from '../../src/circuits/circuit.js';
import { ComponentGraph } from '../../src/graph/component-graph.js';
import { Store } from '../../src/store/store.js';
import type { EffectRow } from '../../src/store/types.js';
import { Random } from '../../src/core/random.js';
import { effectAgreement, type EffectAgreement } from '../../src/evaluation/method-agreement.js';

export const HOSTILE_MODEL = 'tiny <img src=x onerror="window.__xss=1">';
export const HOSTILE_PROMPT = 'When Mary and John went <script>window.__xss=2</script> to the store';
export const SMALL = { nLayers: 3, nHeads: 4 } as const;
export const GPT2 = { nLayers: 12, nHeads: 12 } as const;

export interface Fixture {
  readonly runs: { readonly id: number; readonly corruption: string; readonly metric: string; readonly granularity: string; readonly window: number }[];
  /** The two small circuits (pipeline e2e) and the gpt2-small-shaped one (pipeline scale). */
  readonly kl: { readonly id: number; readonly circuit: Circuit };
  readonly ld: { readonly id: number; readonly circuit: Circuit };
  readonly big?: { readonly id: number; readonly circuit: Circuit };
}

/** A circuit whose planted edges score far above the noise, cut at `tau` (dead ends pruned). */
function plantedCircuit(shape: { nLayers: number; nHeads: number }, planted: readonly string[], seed: number, meta: { metric: string; corruption: string }, tau: number): Circuit {
  const g = new ComponentGraph(shape);
  const r = new Random(seed);
  const scores = new Float32Array(g.nSenders * g.nReceivers).fill(NaN);
  for (const e of g.edges()) scores[e.sender * g.nReceivers + e.receiver] = 0.05 * r.normal();
  planted.forEach((name, i) => {
    const e = g.parseEdge(name);
    scores[e.sender * g.nReceivers + e.receiver] = (i % 3 === 2 ? -1 : 1) * (1 + 0.1 * i);
  });
  return new Circuit(g, { scores, meta: { method: 'eap', metric: meta.metric, corruption: meta.corruption, direction: 'denoising', model: { name: HOSTILE_MODEL, fingerprint: 'fp-tiny' } } })
    .withThreshold(tau)
    .withMeta({ faithfulness: 0.9 });
}

export const KL_EDGES = ['input->a0.h3<v>', 'a0.h3->a1.h2<k>', 'input->a1.h2<q>', 'a1.h2->m1', 'm1->logits', 'a1.h2->a2.h0<v>', 'a2.h0->logits', 'input->a1.h2<v>'];
export const LD_EDGES = ['input->a0.h3<v>', 'a0.h3->a1.h2<k>', 'input->a1.h2<q>', 'a1.h2->logits', 'input->m0', 'm0->a2.h1<q>', 'a2.h1->logits'];

export async function writeFixture(path: string, opts: { big?: boolean } = {}): Promise<Fixture> {
  const store = await Store.open(path);
  try {
    const modelId = await store.models.upsert({ fingerprint: 'fp-tiny', name: HOSTILE_MODEL, path: '/models/tiny', architecture: 'gpt2', config: SMALL });
    const pairs = [0, 1, 2].map((i) => ({
      index: i,
      clean: [1, 2, 3, 4, 5, 6],
      corrupted: [1, 2, 3, 4, 9, 6],
      cleanText: i === 0 ? HOSTILE_PROMPT : `When Anna and Bob went to the park ${i}`,
      corruptedText: `When Anna and Carl went to the park ${i}`,
      roles: { IO: 2, S1: 1, S2: 4, END: 5 },
    }));
    const datasetId = await store.datasets.upsert({ fingerprint: 'ds-e2e', task: 'ioi', settings: { count: 3 }, pairs });
    const r = new Random(7);
    const runs: { id: number; corruption: string; metric: string; granularity: string; window: number }[] = [];
    let key = 0;
    const addRun = async (corruption: string, metric: string, granularity: string, window: number, rows: EffectRow[], detected: EffectRow[]): Promise<void> => {
      const settings = { task: 'ioi', corruption, direction: 'denoising', metric, granularity, window, detectK: 2 };
      const opened = await store.runs.open({ pipeline: 'e2e', key: `run${++key}`, modelId, datasetId, settings, codeVersion: 'test' });
      await store.runs.saveUnit(opened.id, 'all', rows, 0.1);
      await store.runs.saveDetections(
        opened.id,
        detected.map((d) => ({
          component: d.component,
          layer: d.layer,
          head: d.head,
          position: d.position,
          window: d.window,
          mean: d.value,
          std: 0.01,
          zscore: 3 * Math.sign(d.value),
          sign: d.value < 0 ? -1 : 1,
        })),
      );
      await store.runs.finish(opened.id, { seconds: 1, detail: { stage: 'patching', baselines: { clean: 3.2, corrupted: 0.4, normaliser: 2.8 }, sigma: null, units: 1, groundTruth: null } });
      runs.push({ id: opened.id, corruption, metric, granularity, window });
    };
    // Heads: a1.h2 carries the behaviour, a0.h3 works against it; GN smears the picture.
    for (const corruption of ['s2-io', 'gn']) {
      for (const metric of ['logit-diff', 'kl']) {
        const rows: EffectRow[] = [];
        const det: EffectRow[] = [];
        for (let L = 0; L < SMALL.nLayers; L++) {
          for (let H = 0; H < SMALL.nHeads; H++) {
            const base = L === 1 && H === 2 ? 0.8 : L === 0 && H === 3 ? -0.5 : 0;
            const scale = corruption === 'gn' ? 0.6 : 1;
            for (let p = 0; p < 3; p++) {
              rows.push({ component: `a${L}.h${H}`, kind: 'head', layer: L, head: H, position: null, window: 1, prompt: p, value: scale * base + 0.03 * r.normal() });
            }
            if (base !== 0) det.push({ component: `a${L}.h${H}`, kind: 'head', layer: L, head: H, position: null, window: 1, prompt: 0, value: base });
          }
        }
        await addRun(corruption, metric, 'heads', 1, rows, det);
      }
    }
    // Attention with a window of 2 (and its single layers), per position.
    {
      const rows: EffectRow[] = [];
      for (let p = 0; p < 6; p++) {
        const single = [0.1 * p, p === 4 ? 0.6 : 0.05, p === 5 ? 0.3 : 0.02];
        for (let L = 0; L < SMALL.nLayers; L++) {
          for (let q = 0; q < 3; q++) rows.push({ component: `attn.L${L}@${p}`, kind: 'attn', layer: L, head: null, position: p, window: 1, prompt: q, value: single[L]! });
        }
        for (let L = 0; L + 1 < SMALL.nLayers; L++) {
          // A window is not the sum of its layers: interactions make it larger here.
          for (let q = 0; q < 3; q++)
            rows.push({ component: `attn.L${L}-${L + 1}@${p}`, kind: 'attn', layer: L, head: null, position: p, window: 2, prompt: q, value: 1.2 * (single[L]! + single[L + 1]!) });
        }
      }
      await addRun('s2-io', 'logit-diff', 'attn', 2, rows, [{ component: 'attn.L1-2@4', kind: 'attn', layer: 1, head: null, position: 4, window: 2, prompt: 0, value: 0.78 }]);
    }

    const kl = plantedCircuit(SMALL, KL_EDGES, 11, { metric: 'kl', corruption: 's2-io' }, 0.5);
    const ld = plantedCircuit(SMALL, LD_EDGES, 12, { metric: 'logit-diff', corruption: 's2-io' }, 0.5);
    const klId = await store.circuits.save({ pipeline: 'e2e', key: 'eap-kl', circuit: kl, settings: { topN: null } });
    const ldId = await store.circuits.save({ pipeline: 'e2e', key: 'eap-logit-diff', circuit: ld, settings: { topN: null } });
    for (const [id, c, k] of [
      [klId, kl, 'eap-kl'],
      [ldId, ld, 'eap-logit-diff'],
    ] as const) {
      const points = [1, 2, 4, 8, 16, 32, 64].map((n) => {
        const cut = c.topN(n);
        return { threshold: null, size: cut.size, faithfulness: Math.min(1, cut.size / c.size) };
      });
      await store.curves.save({ pipeline: 'e2e', key: k, kind: 'faithfulness', circuitId: id, points });
      await store.curves.save({
        pipeline: 'e2e',
        key: k,
        kind: 'roc',
        circuitId: id,
        points: [0, 0.1, 0.3, 0.6, 1].map((fpr, i) => ({ threshold: null, size: null, faithfulness: null, fpr, tpr: Math.min(1, [0, 0.6, 0.85, 0.95, 1][i]!) })),
      });
    }

    let big: { id: number; circuit: Circuit } | undefined;
    if (opts.big) {
      const g = new ComponentGraph(GPT2);
      const rr = new Random(99);
      const scores = new Float32Array(g.nSenders * g.nReceivers).fill(NaN);
      for (const e of g.edges()) scores[e.sender * g.nReceivers + e.receiver] = rr.normal() * Math.exp(rr.normal());
      const circuit = new Circuit(g, {
        scores,
        meta: { method: 'eap-ig', metric: 'logit-diff', corruption: 's2-io', direction: 'denoising', model: { name: 'gpt2-small (random)', fingerprint: 'fp-gpt2' } },
      }).topN(4000);
      const id = await store.circuits.save({ pipeline: 'scale', key: 'gpt2-random', circuit, settings: {} });
      const points = [10, 30, 100, 300, 1000, 3000, 10000, 32491].map((n) => ({ threshold: null, size: circuit.topN(n).size, faithfulness: 1 - Math.exp(-n / 800) }));
      await store.curves.save({ pipeline: 'scale', key: 'gpt2-random', kind: 'faithfulness', circuitId: id, points });
      big = { id, circuit };
    }
    return { runs, kl: { id: klId, circuit: kl }, ld: { id: ldId, circuit: ld }, big };
  } finally {
    await store.close();
  }
}

/**
 * A database whose circuit's model can be rebuilt at `viz build` (the planted induction model,
 * stored by its spec as the quickstart stores it), with one run over repeated-sequence prompts: for
 * the node-writes export.
 */
export async function writePlantedFixture(path: string): Promise<{ circuitId: number; fingerprint: string; prompts: number[][]; metricPosition: number }> {
  const { plantInductionModel } = await import('../../src/synthetic/planted.js');
  const { fingerprintModel } = await import('../../src/pipeline/model-source.js');
  const { model } = plantInductionModel({ seed: 0 });
  const fingerprint = fingerprintModel(model);
  const rand = new Random(5);
  const r = () => rand.uniform();
  const V = model.config.vocabSize;
  const prompts = [0, 1, 2, 3].map(() => {
    const half = Array.from({ length: 5 }, () => Math.floor(r() * V));
    return [...half, ...half];
  });
  const metricPosition = 8;
  const store = await Store.open(path);
  try {
    const modelId = await store.models.upsert({
      fingerprint,
      name: model.config.name,
      path: JSON.stringify({ plant: 'induction', seed: 0 }),
      architecture: 'gpt2',
      config: { nLayers: model.config.nLayers, nHeads: model.config.nHeads },
    });
    const pairs = prompts.map((clean, index) => ({
      index,
      clean,
      corrupted: clean,
      targets: [{ position: metricPosition, answer: 0 }],
      cleanText: clean.join(' '),
      corruptedText: clean.join(' '),
      roles: {},
    }));
    const datasetId = await store.datasets.upsert({ fingerprint: 'ds-planted', task: 'induction', settings: {}, pairs });
    const run = await store.runs.open({
      pipeline: 'planted',
      key: 'heads',
      modelId,
      datasetId,
      settings: { corruption: 'key-token', metric: 'prob', direction: 'denoising', granularity: 'heads', window: 1 },
      codeVersion: 'test',
    });
    await store.runs.saveUnit(run.id, 'all', [{ component: 'a1.h7', kind: 'head', layer: 1, head: 7, position: null, window: 1, prompt: 0, value: 0.5 }], 0.1);
    await store.runs.finish(run.id, { seconds: 1 });
    const g = new ComponentGraph({ nLayers: model.config.nLayers, nHeads: model.config.nHeads });
    const scores = new Float32Array(g.nSenders * g.nReceivers).fill(NaN);
    for (const e of g.edges()) scores[e.sender * g.nReceivers + e.receiver] = 0.01;
    for (const name of ['input->a0.h3<v>', 'a0.h3->a1.h7<k>', 'input->a1.h7<v>', 'a1.h7->logits']) {
      const e = g.parseEdge(name);
      scores[e.sender * g.nReceivers + e.receiver] = 1;
    }
    const circuit = new Circuit(g, { scores, meta: { method: 'acdc', metric: 'kl', corruption: 'all-random', direction: 'noising', model: { name: model.config.name, fingerprint } } }).withThreshold(
      0.5,
    );
    const circuitId = await store.circuits.save({ pipeline: 'planted', key: 'acdc', circuit, settings: {} });
    return { circuitId, fingerprint, prompts, metricPosition };
  } finally {
    await store.close();
  }
}

/** The sender x receiver-set layout a path-patching fixture stores (two sets, one corruption and metric). */
export const PATH_SETS = { keys: ['a1.h1<k>', 'a1.h1<v>'], out: ['logits'] } as const;
export const PATH_SENDERS = { keys: ['input', 'a0.h0', 'a0.h1', 'm0'], out: ['input', 'a0.h0', 'a0.h1', 'm0', 'a1.h0', 'a1.h1', 'm1'] } as const;

/**
 * A database with path-patching runs as the pipeline stores them (settings with `receivers` and
 * `receiverSet`, one effect row per sender and prompt, kind 'path') beside one node-level heads run.
 */
export async function writePathFixture(path: string): Promise<{ pathRuns: number[]; headsRun: number }> {
  const store = await Store.open(path);
  try {
    const modelId = await store.models.upsert({ fingerprint: 'fp-paths', name: 'tiny-2x2', path: '/models/tiny2', architecture: 'gpt2', config: { nLayers: 2, nHeads: 2 } });
    const pairs = [0, 1].map((index) => ({ index, clean: [1, 2, 3, 1], corrupted: [1, 4, 3, 1], cleanText: `a b c a ${index}`, corruptedText: `a d c a ${index}`, roles: {} }));
    const datasetId = await store.datasets.upsert({ fingerprint: 'ds-paths', task: 'induction', settings: {}, pairs });
    const coords = (name: string): { layer: number; head: number | null } => {
      const m = /^a(\d+)\.h(\d+)$/.exec(name) ?? /^m(\d+)$/.exec(name);
      return name === 'input' ? { layer: 0, head: null } : { layer: Number(m![1]), head: m![2] === undefined ? null : Number(m![2]) };
    };
    const pathRuns: number[] = [];
    for (const set of ['keys', 'out'] as const) {
      const settings = {
        task: 'induction',
        corruption: 'key-token',
        direction: 'noising',
        metric: 'logit-diff',
        receivers: [...PATH_SETS[set]],
        receiverSet: set,
        senders: null,
        position: 'all',
        batch: 4,
      };
      const run = await store.runs.open({ pipeline: 'paths', key: `path-${set}`, modelId, datasetId, settings, codeVersion: 'test' });
      const rows = PATH_SENDERS[set].flatMap((sender, i) =>
        [0, 1].map((prompt) => ({ component: sender, kind: 'path', ...coords(sender), position: null, window: 1, prompt, value: (sender === 'a0.h1' ? -0.7 : 0.1 * i) + 0.01 * prompt })),
      );
      await store.runs.saveUnit(run.id, 'all', rows, 0.1);
      await store.runs.finish(run.id, { seconds: 1 });
      pathRuns.push(run.id);
    }
    const heads = await store.runs.open({
      pipeline: 'paths',
      key: 'heads',
      modelId,
      datasetId,
      settings: { corruption: 'key-token', metric: 'logit-diff', direction: 'noising', granularity: 'heads', window: 1 },
      codeVersion: 'test',
    });
    await store.runs.saveUnit(
      heads.id,
      'all',
      [0, 1].flatMap((L) => [0, 1].map((H) => ({ component: `a${L}.h${H}`, kind: 'head', layer: L, head: H, position: null, window: 1, prompt: 0, value: 0.2 * (L + H) }))),
      0.1,
    );
    await store.runs.finish(heads.id, { seconds: 1 });
    return { pathRuns, headsRun: heads.id };
  } finally {
    await store.close();
  }
}

/**
 * A database with an exact heads run and the AtP run of the same point (settings `method:
 * attribution`), their agreement stored as the patching stage stores it.
 */
export async function writeAtpFixture(path: string): Promise<{ exactRun: number; atpRun: number; agreement: EffectAgreement }> {
  const store = await Store.open(path);
  try {
    const modelId = await store.models.upsert({ fingerprint: 'fp-atp', name: 'tiny-2x3', path: '/models/tiny3', architecture: 'gpt2', config: { nLayers: 2, nHeads: 3 } });
    const pairs = [0, 1].map((index) => ({ index, clean: [1, 2, 3, 1], corrupted: [1, 4, 3, 1], cleanText: `a b c a ${index}`, corruptedText: `a d c a ${index}`, roles: {} }));
    const datasetId = await store.datasets.upsert({ fingerprint: 'ds-atp', task: 'induction', settings: {}, pairs });
    const settings = { task: 'induction', corruption: 'key-token', direction: 'denoising', metric: 'logit-diff', granularity: 'heads', window: 1, detectK: 2 };
    // AtP overshoots the first-layer head and misses the sign of a small one, as on saturated attention.
    const exactMeans = [0.1, 0.9, -0.05, 0.02, 0.6, 0];
    const atpMeans = [0.15, 2.1, 0.04, 0.01, 0.4, 0];
    const ids: number[] = [];
    for (const [key, means, extra] of [
      ['exact', exactMeans, {}],
      ['atp', atpMeans, { method: 'attribution' }],
    ] as const) {
      const run = await store.runs.open({ pipeline: 'atp', key, modelId, datasetId, settings: { ...settings, ...extra }, codeVersion: 'test' });
      const rows = means.flatMap((m, i) =>
        [0, 1].map((prompt) => ({ component: `a${Math.floor(i / 3)}.h${i % 3}`, kind: 'head', layer: Math.floor(i / 3), head: i % 3, position: null, window: 1, prompt, value: m })),
      );
      await store.runs.saveUnit(run.id, 'all', rows, 0.1);
      await store.runs.saveDetections(run.id, [{ component: 'a0.h1', layer: 0, head: 1, position: null, window: 1, mean: means[1]!, std: 0, zscore: 2.1, sign: 1 }]);
      await store.runs.finish(run.id, { seconds: 1, detail: { stage: 'patching', baselines: { clean: 2, corrupted: 0.5, normaliser: 1.5 }, sigma: null, units: 1, groundTruth: null } });
      ids.push(run.id);
    }
    const [exactRun, atpRun] = ids as [number, number];
    const agreement = effectAgreement(
      { effects: await store.runs.meanEffects(exactRun), detections: await store.runs.detections(exactRun) },
      { effects: await store.runs.meanEffects(atpRun), detections: await store.runs.detections(atpRun) },
    );
    await store.agreements.save(exactRun, atpRun, agreement);
    return { exactRun, atpRun, agreement };
  } finally {
    await store.close();
  }
}
