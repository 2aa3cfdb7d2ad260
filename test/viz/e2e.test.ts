// The built viewer in real Chromium (Debian's chromium, driven by playwright-core; WebGL through
// SwiftShader, so no GPU is needed): it opens from file:// and from `viz serve`, draws the known
// circuits with the right numbers of nodes and edges, compares them, re-cuts them with the slider,
// shows the patching heatmaps, renders the 32,491-edge gpt2-small-shaped graph, and shows markup in
// the data as text. Screenshots and load timings go to test-output/viz/.
//
// Skips, saying why, where /usr/bin/chromium is missing; PATCHWISE_REQUIRE_CHROMIUM=1 (CI) makes
// that a failure instead.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { serveSite } from '../../src/viz-export/serve.js';
import { buildSite, type BuildResult } from '../../src/viz-export/site.js';
import { HOSTILE_MODEL, HOSTILE_PROMPT, writeFixture, type Fixture } from './fixtures.js';

const CHROMIUM = process.env.PATCHWISE_CHROMIUM ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.PATCHWISE_REQUIRE_CHROMIUM === '1') {
  throw new Error(`PATCHWISE_REQUIRE_CHROMIUM=1 but ${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)`);
}
const describeBrowser: typeof describe = available
  ? describe
  : (((name: string, ...rest: unknown[]) =>
      (describe.skip as (n: string, ...r: unknown[]) => void)(`${name} [skipped: ${CHROMIUM} not found; apt-get install -y chromium]`, ...rest)) as unknown as typeof describe);

const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SHOTS = join(repoRoot, 'test-output', 'viz');

/** Headless Chromium with WebGL on SwiftShader (no GPU), nothing reaching the network. */
// (playwright adds --headless and a fresh temporary --user-data-dir itself.)
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

interface Stats {
  name: string;
  nodes: number;
  ports: number;
  edges: number;
  dense: boolean;
}

describeBrowser('the viewer in Chromium', () => {
  const dir = mkdtempSync(join(tmpdir(), 'patchwise-viz-e2e-'));
  const db = join(dir, 'results.db');
  const site = join(dir, 'site');
  let fx: Fixture;
  let built: BuildResult;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  const bench: Record<string, number | string> = {};
  const url = (hash: string): string => `${pathToFileURL(join(site, 'index.html')).href}#${hash}`;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    fx = await writeFixture(db, { big: true });
    built = await buildSite({ db, out: site });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    // Nothing may leave the page: every request must be for a local file.
    page.on('request', (r) => {
      if (!r.url().startsWith('file:') && !r.url().startsWith('http://127.0.0.1')) errors.push(`network: ${r.url()}`);
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    writeFileSync(join(SHOTS, 'bench.json'), `${JSON.stringify(bench, null, 2)}\n`);
    console.log(`viewer e2e: screenshots and bench.json in ${SHOTS}\n${JSON.stringify(bench, null, 2)}`);
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    expect(errors).toEqual([]);
  });

  /** Opens a URL as a fresh document and waits until the view has drawn; returns ms since navigation start. */
  async function open(target: string): Promise<number> {
    await page.goto('about:blank');
    await page.goto(target);
    await page.waitForFunction(() => document.documentElement.dataset.state !== 'loading', undefined, { timeout: 90_000 });
    expect(await page.evaluate(() => document.documentElement.dataset.state)).toBe('ready');
    return painted();
  }

  /** Waits two animation frames (the frame after the last render), returns performance.now(). */
  function painted(): Promise<number> {
    return page.evaluate(() => new Promise<number>((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now())))));
  }

  const stats = (): Promise<Stats[]> => page.evaluate(() => window.__patchwise!.stats() as Stats[]);
  const view = async (name: string): Promise<Stats> => (await stats()).find((s) => s.name === name)!;

  /** PNG bytes of an element: a blank canvas compresses to almost nothing, a drawn graph does not. */
  async function shot(selector: string, file?: string): Promise<number> {
    const png = await page.locator(selector).screenshot(file ? { path: join(SHOTS, file) } : {});
    return png.length;
  }

  it('opens from file:// and draws the known circuit: 6 nodes, 8 edges, 5 q/k/v ports', async () => {
    bench.smallLoadMs = Math.round(await open(url(`tab=circuit&c=${fx.kl.id}`)));
    expect(await view('circuit')).toEqual({ name: 'circuit', nodes: 6, ports: 5, edges: 8, dense: false });
    expect(fx.kl.circuit.size).toBe(8);
    expect(fx.kl.circuit.nodes()).toHaveLength(6);
    const s = page.locator('[data-testid=circuit-stats]');
    expect(await s.getAttribute('data-nodes')).toBe('6');
    expect(await s.getAttribute('data-edges')).toBe('8');
    expect(await s.textContent()).toContain('faithfulness 0.9');
    expect(await shot('#circuit-graph')).toBeGreaterThan(8000);
    await page.screenshot({ path: join(SHOTS, 'circuit.png') });
  });

  it('shows names from the data as text, never as markup', async () => {
    expect(await page.locator('.meta').textContent()).toContain(HOSTILE_MODEL);
    expect(await page.locator('img').count()).toBe(0);
    await open(url('tab=patching&pipeline=e2e'));
    expect(await page.locator('.prompt-table').textContent()).toContain(HOSTILE_PROMPT);
    expect(await page.locator('#view script').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  });

  it('hovering names a node; clicking lists its edges and its effect under every stored run', async () => {
    await open(url(`tab=circuit&c=${fx.kl.id}`));
    const box = (await page.locator('#circuit-graph').boundingBox())!;
    const at = (await page.evaluate(() => window.__patchwise!.nodePosition('circuit', 'a1.h2')))!;
    await page.mouse.move(box.x + at.x, box.y + at.y);
    await page.locator('.tooltip:not([hidden])').waitFor();
    expect(await page.locator('.tooltip .tt-title').textContent()).toBe('a1.h2');
    await page.mouse.click(box.x + at.x, box.y + at.y);
    await page.locator('table.effects').waitFor();
    expect(await page.locator('.node-name').textContent()).toBe('a1.h2');
    // Four head runs (two corruptions x two metrics), all of which detected a1.h2.
    expect(await page.locator('table.effects tr.detected').count()).toBe(4);
    expect(page.url()).toContain('node=a1.h2');
    await page.screenshot({ path: join(SHOTS, 'circuit-selected.png') });
    // An edge: hover the middle of input -> a1.h2<q>.
    await open(url(`tab=circuit&c=${fx.kl.id}`));
    const [p, q] = await page.evaluate(() => ['input', 'a1.h2<q>'].map((n) => window.__patchwise!.nodePosition('circuit', n)!));
    await page.mouse.move(box.x + (p!.x + q!.x) / 2, box.y + (p!.y + q!.y) / 2);
    await page.locator('.tooltip:not([hidden])').waitFor();
    expect(await page.locator('.tooltip .tt-title').textContent()).toBe('input->a1.h2<q>');
    expect(await page.locator('.tooltip').textContent()).toContain('into the query input');
  });

  it('the threshold slider re-cuts live, and the URL reproduces the view', async () => {
    await open(url(`tab=circuit&c=${fx.kl.id}`));
    await page.locator('#threshold').focus();
    await page.keyboard.press('End');
    // The lowest threshold keeps every scored edge: the whole 3-layer, 4-head graph.
    expect(await view('circuit')).toMatchObject({ nodes: 17, edges: 262 });
    expect(page.url()).toMatch(/[#&]t=/);
    const link = page.url();
    await page.keyboard.press('Home');
    const few = await view('circuit');
    expect(few.edges).toBeLessThan(8);
    await open(link);
    expect(await view('circuit')).toMatchObject({ nodes: 17, edges: 262 });
    await page.getByRole('button', { name: 'stored' }).click();
    expect(await view('circuit')).toMatchObject({ nodes: 6, edges: 8 });
    expect(page.url()).not.toMatch(/[#&]t=/);
  });

  it('compare view: side by side with shared cameras, the union diff, Jaccard, and the overlap matrix', async () => {
    await open(url(`tab=compare&a=${fx.kl.id}&b=${fx.ld.id}`));
    expect(await view('compare-a')).toMatchObject({ nodes: 6, edges: 8 });
    expect(await view('compare-b')).toMatchObject({ nodes: 6, edges: 7 });
    // 3 edges shared, 5 only in the KL circuit, 4 only in the logit-difference one.
    expect(await view('compare-diff')).toMatchObject({ edges: 12 });
    const summary = page.locator('[data-testid=compare-stats]');
    expect(await summary.getAttribute('data-both')).toBe('3');
    expect(await summary.getAttribute('data-only-a')).toBe('5');
    expect(await summary.getAttribute('data-only-b')).toBe('4');
    expect(Number(await summary.getAttribute('data-jaccard'))).toBeCloseTo(0.25, 12);
    expect(await summary.textContent()).toContain('faithfulness 0.9');
    await page.locator('[data-testid=overlap-matrix]').waitFor();
    expect(await page.locator('[data-testid=overlap-matrix] td').count()).toBe(4);

    // Zooming one canvas moves the others.
    const box = (await page.locator('#graph-a').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, -400);
    await page.waitForTimeout(600);
    const [ca, cb, cd] = await page.evaluate(() => ['compare-a', 'compare-b', 'compare-diff'].map((v) => window.__patchwise!.camera(v)));
    expect(ca!.ratio).toBeLessThan(1);
    expect(cb).toEqual(ca);
    expect(cd).toEqual(ca);
    await open(url(`tab=compare&a=${fx.kl.id}&b=${fx.ld.id}`));
    await page.screenshot({ path: join(SHOTS, 'compare.png'), fullPage: true });

    // Moving A's slider changes A's size and the diff.
    await page.locator('#threshold-a').focus();
    await page.keyboard.press('End');
    expect(await view('compare-a')).toMatchObject({ edges: 262 });
    expect(await view('compare-diff')).toMatchObject({ edges: 262 });
    expect(await summary.getAttribute('data-both')).toBe('7');
    expect(page.url()).toMatch(/[#&]ta=/);
    await page.keyboard.press('Home');
    expect((await view('compare-a')).edges).toBeLessThan(8);
  });

  it('compares circuits of two model shapes by edge name, in the larger frame', async () => {
    const big = fx.big!.circuit;
    const small = fx.kl.circuit;
    const names = (c: typeof big): Set<string> => new Set(c.edges().map((e) => e.name));
    const [a, b] = [names(small), names(big)];
    const both = [...a].filter((n) => b.has(n)).length;
    await open(url(`tab=compare&a=${fx.kl.id}&b=${fx.big!.id}`));
    expect(await view('compare-a')).toMatchObject({ edges: 8 });
    expect(await view('compare-b')).toMatchObject({ edges: big.size });
    expect(await view('compare-diff')).toMatchObject({ edges: a.size + b.size - both });
    expect(await page.locator('[data-testid=compare-stats]').getAttribute('data-both')).toBe(String(both));
  });

  it('patching view: heatmaps per corruption and metric with detected components outlined, window curves and circuit curves', async () => {
    await open(url('tab=patching&pipeline=e2e'));
    const maps = page.locator('[data-testid=heatmap]');
    expect(await maps.count()).toBe(4);
    for (let i = 0; i < 4; i++) expect(await maps.nth(i).getAttribute('data-detected')).toBe('2');
    expect(await page.locator('.heatmap .outline').count()).toBe(8);
    expect(await page.locator('[data-testid=window-chart]').count()).toBe(1);
    expect(await page.locator('[data-testid=faithfulness-chart]').count()).toBe(1);
    expect(await page.locator('[data-testid=roc-chart]').count()).toBe(1);
    await page.screenshot({ path: join(SHOTS, 'patching.png'), fullPage: true });
    // The per-position attention family: layer x position, one run.
    await page.locator('#patching-family').selectOption('attn:1');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=heatmap]').length === 1);
    expect(page.url()).toContain('fam=attn%3A1');
  });

  it('renders the gpt2-small-shaped graph with all 32,491 edges scored, interactively', async () => {
    const big = fx.big!;
    const chunk = built.files.find((f) => f.path === `data/circuit-${big.id}.js`)!;
    bench.gpt2CircuitFileBytes = chunk.bytes;
    bench.indexFileBytes = built.files.find((f) => f.path === 'data/index.js')!.bytes;
    bench.appJsBytes = built.files.find((f) => f.path === 'app.js')!.bytes;

    bench.gpt2StoredLoadMs = Math.round(await open(url(`tab=circuit&c=${big.id}`)));
    expect(await view('circuit')).toMatchObject({ edges: big.circuit.size, nodes: big.circuit.nodes().length });
    bench.gpt2StoredEdges = big.circuit.size;
    await page.screenshot({ path: join(SHOTS, 'gpt2-stored.png') });

    bench.gpt2AllEdgesLoadMs = Math.round(await open(url(`tab=circuit&c=${big.id}&t=0`)));
    expect(await view('circuit')).toEqual({ name: 'circuit', nodes: 158, ports: 432, edges: 32_491, dense: true });
    expect(await shot('#circuit-graph')).toBeGreaterThan(50_000);
    await page.screenshot({ path: join(SHOTS, 'gpt2-all-edges.png') });

    // Slider moves: all edges -> the top ~1% -> all edges again.
    await page.locator('#threshold').focus();
    const move = async (key: string): Promise<number> => {
      const t0 = await page.evaluate(() => performance.now());
      await page.keyboard.press(key);
      return (await painted()) - t0;
    };
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      await page.locator('#threshold').fill('870');
      times.push(await move('End'));
    }
    expect(await view('circuit')).toMatchObject({ edges: 32_491 });
    bench.gpt2RecutToAllEdgesMs = Math.round(Math.min(...times));
    const tSmall = await move('PageDown');
    bench.gpt2RecutStepMs = Math.round(tSmall);
    expect((await view('circuit')).edges).toBeLessThan(32_491);
    // Generous bounds: SwiftShader on a small CI machine; the numbers themselves go to bench.json.
    expect(bench.gpt2AllEdgesLoadMs).toBeLessThan(30_000);
    expect(bench.gpt2RecutToAllEdgesMs).toBeLessThan(10_000);
  });

  it('an empty database gives a site that says so', async () => {
    const emptyDb = join(dir, 'empty.db');
    const { Store } = await import('../../src/store/store.js');
    await (await Store.open(emptyDb)).close();
    const emptySite = join(dir, 'empty-site');
    await buildSite({ db: emptyDb, out: emptySite });
    for (const tab of ['circuit', 'compare', 'patching']) {
      await open(`${pathToFileURL(join(emptySite, 'index.html')).href}#tab=${tab}`);
      expect(await page.locator('.empty').textContent()).toMatch(/no (circuits|patching runs)/);
    }
  });

  it('works from `viz serve` as well as from file://', async () => {
    const server = await serveSite(site, { port: 0 });
    try {
      bench.httpGpt2AllEdgesLoadMs = Math.round(await open(`${server.url}#tab=circuit&c=${fx.big!.id}&t=0`));
      expect(await view('circuit')).toMatchObject({ edges: 32_491 });
      await open(`${server.url}#tab=compare&a=${fx.kl.id}&b=${fx.ld.id}`);
      expect(await view('compare-diff')).toMatchObject({ edges: 12 });
    } finally {
      await page.goto('about:blank');
      await server.close();
    }
  });
});
