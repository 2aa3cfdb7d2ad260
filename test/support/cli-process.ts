// The CLI run as a child process: the built one for pipeline tests that kill, resume or race
// `patchwise run`, the sources for tests of what a command prints and how it exits.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const BIN = resolve('bin/patchwise.js');

/** `patchwise run PIPELINE --db DB` with extra options (how it reports progress). */
export function spawnRun(pipeline: string, db: string, options: readonly string[]): ChildProcess {
  return spawn(process.execPath, [BIN, 'run', pipeline, '--db', db, ...options], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Waits for the child to exit: its exit code and its stdout and stderr together. */
export function finish(child: ChildProcess): Promise<{ code: number | null; out: string }> {
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  return new Promise((res) => child.on('close', (code) => res({ code, out })));
}

/** The CLI from its sources, as a user runs it, in a child process (errors exit it). */
export function cliProcess(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const script = `const { main } = await import(${JSON.stringify(resolve('src/cli/main.ts'))}); await main(${JSON.stringify(args)});`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
