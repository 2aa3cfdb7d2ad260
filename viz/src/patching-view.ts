// The patching tab: node-level effects as heatmaps (layer x head, layer x position), one per
// corruption (rows) and metric (columns) side by side, detected components outlined, in a diverging
// palette; sliding-window effects against summed single-layer effects; and the stored
// faithfulness-against-size and ROC curves of the pipeline.
import { trapezoidAuc } from '../../src/evaluation/measures.js';
import type { VizRunEffects, VizRunInfo } from '../../src/viz-export/format.js';
import { colorBar, heatmap, lineChart } from './charts.js';
import type { SiteData } from './data.js';
import { fill, h, option, select } from './dom.js';
import { cellKey, familiesOf, familyGrid, familyPositions, hasSingles, windowCurve, type Family } from './effects.js';
import { series } from './palette.js';
import type { StateStore, ViewState } from './state.js';
import { fmt, runLabel } from './text.js';
import type { View } from './view.js';

const distinct = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

/** Column label of a position: the index, and the roles (IO, S2, ...) that sit there. */
function positionLabel(run: VizRunInfo, p: number): string {
  const roles = Object.entries(run.roles)
    .filter(([, v]) => v === p)
    .map(([k]) => k);
  return roles.length > 0 ? `${p} ${roles.join('/')}` : String(p);
}

export class PatchingView implements View {
  private generation = 0;

  constructor(
    private readonly root: HTMLElement,
    private readonly data: SiteData,
    private readonly state: StateStore,
  ) {}

  async mount(): Promise<void> {
    const gen = this.generation;
    const runs = this.data.index.runs;
    const curvesOnly = runs.length === 0;
    if (curvesOnly && this.data.index.curves.length === 0) {
      fill(this.root, h('p', { class: 'empty' }, 'This database has no patching runs.'));
      return;
    }
    const st = this.state.get();
    const pipelines = distinct([...runs.map((r) => r.pipeline), ...this.data.index.curves.map((c) => c.pipeline)]);
    const pipeline = pipelines.includes(st.pipeline ?? '') ? st.pipeline! : pipelines[0]!;
    const inPipeline = runs.filter((r) => r.pipeline === pipeline);
    const models = distinct(inPipeline.map((r) => r.modelFingerprint));
    const model = models.includes(st.model ?? '') ? st.model! : models[0];
    const ofModel = inPipeline.filter((r) => r.modelFingerprint === model);
    const dirs = distinct(ofModel.map((r) => r.direction ?? '-'));
    const dir = dirs.includes(st.dir ?? '') ? st.dir! : dirs[0];
    const selected = ofModel.filter((r) => (r.direction ?? '-') === dir);

    const set = (patch: Partial<ViewState>): void => {
      this.state.update(patch, true);
      this.remount();
    };
    const controls = h(
      'div',
      { class: 'toolbar' },
      h('label', {}, 'pipeline ', select(pipelines.map((p) => option(p, p, p === pipeline)), (v) => set({ pipeline: v, model: undefined, dir: undefined, fam: undefined, pos: undefined, wpos: undefined }), { id: 'patching-pipeline' })),
      models.length > 1
        ? h('label', {}, 'model ', select(models.map((m) => option(m, `${inPipeline.find((r) => r.modelFingerprint === m)!.model} (${m.slice(0, 8)})`, m === model)), (v) => set({ model: v, fam: undefined }), { id: 'patching-model' }))
        : null,
      dirs.length > 0 ? h('label', {}, 'direction ', select(dirs.map((d) => option(d, d, d === dir)), (v) => set({ dir: v, fam: undefined }), { id: 'patching-direction' })) : null,
    );
    const heatBox = h('section', { class: 'heatmaps' }, h('p', { class: 'hint' }, 'loading effects…'));
    const windowBox = h('section', { class: 'windows' });
    const curveBox = h('section', { class: 'curves' });
    const promptBox = h('section', { class: 'prompts' });
    fill(this.root, controls, heatBox, windowBox, curveBox, promptBox);
    this.drawCurves(curveBox, pipeline);
    this.drawPrompts(promptBox, selected[0]);

    const effects = new Map<number, VizRunEffects>();
    await Promise.all(selected.map(async (r) => effects.set(r.id, await this.data.runEffects(r.id))));
    if (gen !== this.generation) return;

    // Families present in these runs, heads first.
    const families = new Map<string, Family>();
    for (const e of effects.values()) for (const f of familiesOf(e)) families.set(f.key, f);
    const famList = [...families.values()].sort((a, b) => Number(b.byHead) - Number(a.byHead) || a.key.localeCompare(b.key));
    const fam = families.get(st.fam ?? '') ?? famList[0];
    if (!fam) {
      fill(heatBox, h('p', { class: 'hint' }, 'No node-level effects stored for these runs.'));
    } else {
      controls.append(h('label', {}, 'components ', select(famList.map((f) => option(f.key, f.label, f.key === fam.key)), (v) => set({ fam: v, pos: undefined }), { id: 'patching-family' })));
      this.drawHeatmaps(heatBox, controls, selected, effects, fam, st.pos);
    }
    void this.drawWindows(windowBox, selected, ofModel, effects, st.wpos, gen);
  }

  private drawHeatmaps(box: HTMLElement, controls: HTMLElement, runs: readonly VizRunInfo[], effects: ReadonlyMap<number, VizRunEffects>, fam: Family, pos: number | undefined): void {
    const withFam = runs.filter((r) => {
      const e = effects.get(r.id)!;
      return familiesOf(e).some((f) => f.key === fam.key);
    });
    let position = pos;
    if (fam.needsPosition) {
      const positions = distinct(withFam.flatMap((r) => familyPositions(effects.get(r.id)!, fam.kind))).sort((a, b) => a - b);
      if (position === undefined || !positions.includes(position)) position = positions[positions.length - 1];
      const first = withFam[0];
      controls.append(
        h('label', {}, 'position ', select(positions.map((p) => option(p, first ? positionLabel(first, p) : String(p), p === position)), (v) => {
          this.state.update({ pos: Number(v) });
          this.remount();
        }, { id: 'patching-position' })),
      );
    }
    // One run per (corruption, metric): a run whose own window matches the family first.
    const corruptions = distinct(withFam.map((r) => r.corruption ?? '-'));
    const metrics = distinct(withFam.map((r) => r.metric ?? '-'));
    const pickRun = (c: string, m: string): VizRunInfo | undefined => {
      const cands = withFam.filter((r) => (r.corruption ?? '-') === c && (r.metric ?? '-') === m);
      return cands.find((r) => (r.window ?? 1) === fam.window) ?? cands[0];
    };
    const grid = h('div', { class: 'heat-grid' });
    grid.style.gridTemplateColumns = `max-content repeat(${metrics.length}, max-content)`;
    grid.append(h('div', {}), ...metrics.map((m) => h('div', { class: 'grid-head' }, `metric: ${m}`)));
    for (const c of corruptions) {
      grid.append(h('div', { class: 'grid-head row-head' }, `corruption: ${c}`));
      for (const m of metrics) {
        const run = pickRun(c, m);
        if (!run) {
          grid.append(h('div', { class: 'card empty-card' }, 'no run'));
          continue;
        }
        const g = familyGrid(effects.get(run.id)!, fam, position);
        const cell = (r: number, col: number) => g.values.get(cellKey(r, col));
        const svg = heatmap({
          rows: g.rows,
          cols: g.cols,
          value: (r, col) => cell(r, col)?.mean,
          rowLabel: (r) => String(r),
          colLabel: (col) => (fam.byHead ? String(col) : positionLabel(run, col)),
          rowTitle: fam.window > 1 ? `first layer (window ${fam.window})` : 'layer',
          colTitle: fam.byHead ? 'head' : 'position',
          outlined: (r, col) => g.detected.has(cellKey(r, col)),
          cellTitle: (r, col) => {
            const v = cell(r, col);
            return v === undefined ? `layer ${r}, ${fam.byHead ? 'head' : 'position'} ${col}: no value` : `${v.component}: ${fmt(v.mean, 4)} ± ${fmt(v.std)} (n = ${v.n})`;
          },
          max: g.maxAbs,
        });
        grid.append(
          h(
            'div',
            { class: 'card', data: { testid: 'heatmap', run: run.id, detected: g.detected.size } },
            h('div', { class: 'card-title' }, runLabel(run)),
            h('div', { class: 'card-sub' }, run.baselines ? `clean ${fmt(run.baselines.clean)} · corrupted ${fmt(run.baselines.corrupted)} · ${g.detected.size} detected` : `${g.detected.size} detected`),
            svg,
            colorBar(g.maxAbs),
          ),
        );
      }
    }
    fill(box, h('h3', {}, `Node-level effects: ${fam.label}${position !== undefined ? ` at position ${position}` : ''}`), h('p', { class: 'hint' }, 'Blue raises the metric, red lowers it (each map on its own symmetric scale); outlined cells are detected components.'), grid);
  }

  private async drawWindows(box: HTMLElement, runs: readonly VizRunInfo[], siblings: readonly VizRunInfo[], effects: ReadonlyMap<number, VizRunEffects>, wpos: number | undefined, gen: number): Promise<void> {
    const windowed = runs.filter((r) => (r.window ?? 1) > 1 && (r.granularity === 'attn' || r.granularity === 'mlp'));
    if (windowed.length === 0) {
      fill(box);
      return;
    }
    const charts: HTMLElement[] = [];
    let positions: number[] = [];
    const prepared: { run: VizRunInfo; e: VizRunEffects; singles: VizRunEffects }[] = [];
    for (const run of windowed) {
      const e = effects.get(run.id)!;
      let singles = e;
      if (!hasSingles(e, run.granularity!)) {
        // Single layers from the sibling run with the same settings and window 1, when the run itself has none.
        const sib = siblings.find((s) => s.granularity === run.granularity && s.window === 1 && s.corruption === run.corruption && s.metric === run.metric && s.direction === run.direction);
        if (sib) singles = await this.data.runEffects(sib.id);
      }
      if (gen !== this.generation) return;
      prepared.push({ run, e, singles });
      positions = distinct([...positions, ...familyPositions(e, run.granularity!)]);
    }
    positions.sort((a, b) => a - b);
    // Default: the position where windows move the metric most.
    let position = wpos !== undefined && positions.includes(wpos) ? wpos : undefined;
    if (position === undefined) {
      let best = -1;
      for (const p of positions) {
        for (const { run, e, singles } of prepared) {
          for (const v of windowCurve(e, singles, run.granularity!, run.window!, p).window) {
            if (v !== undefined && Math.abs(v) > best) {
              best = Math.abs(v);
              position = p;
            }
          }
        }
      }
    }
    for (const { run, e, singles } of prepared) {
      const wc = windowCurve(e, singles, run.granularity!, run.window!, position ?? 0);
      charts.push(
        h(
          'div',
          { class: 'card', data: { testid: 'window-chart' } },
          h('div', { class: 'card-title' }, runLabel(run)),
          lineChart({
            width: 360,
            height: 220,
            xLabel: `first layer of the window (${run.window} layers)`,
            integerX: true,
            yLabel: 'effect',
            series: [
              { label: `${run.granularity} window of ${run.window}`, color: series(0), points: wc.layers.flatMap((L, i) => (wc.window[i] === undefined ? [] : [[L, wc.window[i]!] as const])) },
              { label: 'sum of single layers', color: series(1), dashed: true, points: wc.layers.flatMap((L, i) => (wc.summed[i] === undefined ? [] : [[L, wc.summed[i]!] as const])) },
            ],
          }),
        ),
      );
    }
    const first = prepared[0]!.run;
    const picker = select(positions.map((p) => option(p, positionLabel(first, p), p === position)), (v) => {
      this.state.update({ wpos: Number(v) });
      this.remount();
    }, { id: 'window-position' });
    fill(box, h('h3', {}, 'Sliding windows against summed single layers'), h('label', {}, 'position ', picker), h('div', { class: 'cards' }, ...charts));
  }

  private drawCurves(box: HTMLElement, pipeline: string): void {
    const curves = this.data.index.curves.filter((c) => c.pipeline === pipeline);
    const faith = curves.filter((c) => c.kind === 'faithfulness');
    const roc = curves.filter((c) => c.kind === 'roc');
    if (faith.length === 0 && roc.length === 0) {
      fill(box);
      return;
    }
    const cards: HTMLElement[] = [];
    if (faith.length > 0) {
      cards.push(
        h(
          'div',
          { class: 'card', data: { testid: 'faithfulness-chart' } },
          h('div', { class: 'card-title' }, 'Faithfulness against circuit size'),
          lineChart({
            width: 420,
            height: 260,
            xLabel: 'edges in circuit',
            yLabel: 'faithfulness',
            logX: true,
            series: faith.map((cv, i) => ({ label: cv.key, color: series(i), points: cv.size.flatMap((sz, j) => (sz !== null && cv.faithfulness[j] != null ? [[sz, cv.faithfulness[j]!] as const] : [])) })),
          }),
        ),
      );
    }
    if (roc.length > 0) {
      cards.push(
        h(
          'div',
          { class: 'card', data: { testid: 'roc-chart' } },
          h('div', { class: 'card-title' }, 'ROC against the ground-truth circuit'),
          lineChart({
            width: 320,
            height: 280,
            xLabel: 'false positive rate',
            yLabel: 'true positive rate',
            xDomain: [0, 1],
            yDomain: [0, 1],
            diagonal: true,
            series: roc.map((cv, i) => {
              const points = cv.fpr.flatMap((x, j) => (x != null && cv.tpr[j] != null ? [[x, cv.tpr[j]!] as const] : [])).sort((p, q) => p[0] - q[0] || p[1] - q[1]);
              return { label: `${cv.key} (AUC ${fmt(trapezoidAuc(points.map(([fpr, tpr]) => ({ fpr, tpr }))))})`, color: series(i), points };
            }),
          }),
        ),
      );
    }
    fill(box, h('h3', {}, 'Circuit curves'), h('div', { class: 'cards' }, ...cards));
  }

  private drawPrompts(box: HTMLElement, run: VizRunInfo | undefined): void {
    if (!run || run.prompts.length === 0) {
      fill(box);
      return;
    }
    fill(
      box,
      h('h3', {}, `Prompts (task ${run.task}, model ${run.model}${run.nPairs !== null ? `, ${run.nPairs} pairs` : ''})`),
      h('table', { class: 'prompt-table' }, h('tr', {}, h('th', {}, 'clean'), h('th', {}, 'corrupted')), ...run.prompts.map((p) => h('tr', {}, h('td', {}, p.clean), h('td', {}, p.corrupted)))),
    );
  }

  private remount(): void {
    this.dispose();
    void this.mount();
  }

  dispose(): void {
    this.generation++;
  }
}
