// The built CLI run as a child process, for pipeline tests that kill, resume or race `patchwise run`.
import { type ChildProcess, spawn } from 'node:child_process';
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
