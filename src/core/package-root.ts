// Files that ship beside the code (data/, viz/, package.json) are found from the package root, so
// the same lookup works from the TypeScript sources (src/, under vitest and tsx) and from the built
// JavaScript (dist/, the installed package).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The folder holding patchwise's own package.json: the first one above this module named patchwise. */
export function packageRoot(): string {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'patchwise') {
      cached = dir;
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`patchwise: no package.json named patchwise above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** A path inside the package root, e.g. `packagePath('data')`. */
export function packagePath(...parts: string[]): string {
  return join(packageRoot(), ...parts);
}
