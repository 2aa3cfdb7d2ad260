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
  /** The EAP-IG JSON writer (with its schema library), loaded only when a circuit is downloaded. */
  readonly 'eap-json.js': string;
  readonly 'style.css': string;
}

/** The names of the viewer's files, in the order the site writes them. */
export const VIEWER_FILES = ['index.html', 'app.js', 'eap-json.js', 'style.css'] as const;

async function bundleScript(entry: string, outfile: string, minify: boolean): Promise<string> {
  const result = await build({
    entryPoints: [`${VIZ_DIR}src/${entry}`],
    bundle: true,
    write: false,
    // Only names the output (nothing is written); without it esbuild calls the file <stdout>.
    outfile,
    format: 'iife',
    platform: 'browser',
    target: ['es2020', 'chrome90', 'firefox90', 'safari15'],
    minify,
    // Keeps the bundled libraries' licence notices, at the end of the file.
    legalComments: 'eof',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  const js = result.outputFiles.find((f) => f.path.endsWith('.js'));
  if (js === undefined) throw new Error(`esbuild produced no JavaScript for ${outfile}`);
  return js.text;
}

export async function bundleViewer(opts: { readonly minify?: boolean } = {}): Promise<ViewerFiles> {
  const minify = opts.minify ?? true;
  const [app, eap, html, css] = await Promise.all([
    bundleScript('main.ts', 'app.js', minify),
    bundleScript('eap-json-entry.ts', 'eap-json.js', minify),
    readFile(`${VIZ_DIR}index.html`, 'utf8'),
    readFile(`${VIZ_DIR}style.css`, 'utf8'),
  ]);
  return { 'index.html': html, 'app.js': app, 'eap-json.js': eap, 'style.css': css };
}
