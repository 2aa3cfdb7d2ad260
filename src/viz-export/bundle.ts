// Bundles the viewer (viz/src/main.ts and everything it imports: sigma, graphology, our graph
// naming) into one script with esbuild, at `viz build` time, so installing patchwise needs no build
// step and the site needs no CDN.
import { readFile } from 'node:fs/promises';
import { build } from 'esbuild';
import { packagePath } from '../core/package-root.js';

/** The viewer's source folder (viz/ at the package root). */
export const VIZ_DIR = `${packagePath('viz')}/`;

export interface ViewerFiles {
  readonly 'index.html': string;
  readonly 'app.js': string;
  readonly 'style.css': string;
}

export async function bundleViewer(opts: { readonly minify?: boolean } = {}): Promise<ViewerFiles> {
  const result = await build({
    entryPoints: [`${VIZ_DIR}src/main.ts`],
    bundle: true,
    write: false,
    // Only names the output (nothing is written); without it esbuild calls the file <stdout>.
    outfile: 'app.js',
    format: 'iife',
    platform: 'browser',
    target: ['es2020', 'chrome90', 'firefox90', 'safari15'],
    minify: opts.minify ?? true,
    // Keeps the bundled libraries' licence notices, at the end of the file.
    legalComments: 'eof',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  const js = result.outputFiles.find((f) => f.path.endsWith('.js'));
  if (js === undefined) throw new Error('esbuild produced no JavaScript for the viewer');
  const [html, css] = await Promise.all([readFile(`${VIZ_DIR}index.html`, 'utf8'), readFile(`${VIZ_DIR}style.css`, 'utf8')]);
  return { 'index.html': html, 'app.js': js.text, 'style.css': css };
}
