// `viz build`: the static site, written from the database. The output folder holds index.html,
// app.js, style.css and data/*.js; it opens from file:// and from any static server, with nothing
// fetched from the network.
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../core/errors.js';
import { Store } from '../store/store.js';
import { VIEWER_FILES, bundleViewer } from './bundle.js';
import { collectSite, type CollectOptions } from './collect.js';
import { INDEX_CHUNK, chunkFile, circuitChunk, dataScript, type VizIndex } from './format.js';
import { collectWrites } from './writes.js';

/** Marks a folder as ours, so a rebuild may replace its contents and nothing else is overwritten. */
export const SITE_MARKER = '.patchwise-viz';

export interface BuildOptions extends CollectOptions {
  readonly db: string;
  readonly out: string;
  readonly minify?: boolean;
  /** Compute what each node writes (loads each circuit's model and runs it once); default true. */
  readonly writes?: boolean;
}

export interface BuiltFile {
  readonly path: string;
  readonly bytes: number;
}

export interface BuildResult {
  readonly out: string;
  readonly index: VizIndex;
  readonly files: readonly BuiltFile[];
  readonly seconds: number;
}

async function prepareOutDir(out: string): Promise<void> {
  if (existsSync(out)) {
    const entries = readdirSync(out);
    if (entries.length > 0 && !entries.includes(SITE_MARKER)) {
      throw new UserError(`${out} exists and is not a patchwise viewer folder (no ${SITE_MARKER}); give an empty or new folder`);
    }
    // Stale chunks of circuits or runs deleted since the last build must not linger.
    await rm(join(out, 'data'), { recursive: true, force: true });
  }
  await mkdir(join(out, 'data'), { recursive: true });
}

export async function buildSite(opts: BuildOptions): Promise<BuildResult> {
  const t0 = performance.now();
  if (!existsSync(opts.db)) throw new UserError(`no database at ${opts.db}`);
  const store = await Store.open(opts.db, { create: false });
  let site;
  let writes: Awaited<ReturnType<typeof collectWrites>> | undefined;
  try {
    site = await collectSite(store, opts);
    if (opts.writes ?? true) writes = await collectWrites(store, site.index);
  } finally {
    await store.close();
  }
  const viewer = await bundleViewer({ minify: opts.minify });
  await prepareOutDir(opts.out);

  const files: BuiltFile[] = [];
  const write = async (rel: string, text: string): Promise<number> => {
    await writeFile(join(opts.out, rel), text);
    const bytes = Buffer.byteLength(text);
    files.push({ path: rel, bytes });
    return bytes;
  };
  const bytesByChunk = new Map<string, number>();
  for (const [chunk, payload] of site.chunks) bytesByChunk.set(chunk, await write(chunkFile(chunk), dataScript(chunk, payload)));
  for (const [chunk, payload] of writes?.chunks ?? []) await write(chunkFile(chunk), dataScript(chunk, payload));
  const index: VizIndex = {
    ...site.index,
    circuits: site.index.circuits.map((c) => ({ ...c, bytes: bytesByChunk.get(circuitChunk(c.id)) ?? 0 })),
    ...(writes ? { writes: writes.entries } : {}),
  };
  await write(chunkFile(INDEX_CHUNK), dataScript(INDEX_CHUNK, index));
  for (const name of VIEWER_FILES) await write(name, viewer[name]);
  await write(SITE_MARKER, 'Built by `patchwise viz build`; rebuilding replaces the files in this folder.\n');
  return { out: opts.out, index, files, seconds: (performance.now() - t0) / 1000 };
}
