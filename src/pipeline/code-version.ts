// The code version recorded with every run: package version plus the git commit when available.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packagePath, packageRoot } from '../core/package-root.js';

let cached: string | undefined;

export function codeVersion(): string {
  if (cached) return cached;
  const pkg = JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string };
  const root = packageRoot();
  // An installed copy (node_modules/patchwise) has no .git of its own: asking git there would name
  // the commit of whatever project it is installed in.
  if (!existsSync(join(root, '.git'))) {
    cached = `patchwise ${pkg.version}`;
    return cached;
  }
  let commit = '';
  try {
    commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    if (dirty) commit += '+dirty';
  } catch {
    commit = 'unknown';
  }
  cached = `patchwise ${pkg.version} (${commit})`;
  return cached;
}
