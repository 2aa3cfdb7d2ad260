// Positioned reads from model files. Checkpoints can be larger than a Node Buffer (gpt2-xl is 6 GB
// in F32), so readers never load a whole file: they read each tensor straight into its own array.
// Typed-array views assume a little-endian host (x86-64, arm64), the byte order of both formats.
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { UserError } from '../../core/errors.js';

/** readSync takes at most 2 GiB per call; stay well below. */
const MAX_CHUNK = 1 << 30;

export function openForReading(path: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new UserError(`${path}: cannot open (${(e as Error).message})`);
  }
  return { fd, size: fstatSync(fd).size };
}

/** Runs `f` with an open file descriptor and always closes it. */
export function withFile<T>(path: string, f: (fd: number, size: number) => T): T {
  const { fd, size } = openForReading(path);
  try {
    return f(fd, size);
  } finally {
    closeSync(fd);
  }
}

/**
 * Fills `into` with the bytes at [position, position + into.length). `what` names the thing being
 * read for the error raised when the file ends early.
 */
export function readExactly(fd: number, path: string, position: number, into: Uint8Array, what: string): Uint8Array {
  let done = 0;
  while (done < into.length) {
    const n = readSync(fd, into, done, Math.min(MAX_CHUNK, into.length - done), position + done);
    if (n === 0) {
      throw new UserError(`${path}: ${what}: expected ${into.length} bytes at offset ${position}, found ${done} (file truncated)`);
    }
    done += n;
  }
  return into;
}

/** Reads little-endian float32 values straight into a new (aligned) Float32Array. */
export function readFloat32(fd: number, path: string, position: number, count: number, what: string): Float32Array {
  const out = new Float32Array(count);
  readExactly(fd, path, position, new Uint8Array(out.buffer), what);
  return out;
}

/** Reads little-endian 16-bit values into a new Uint16Array. */
export function readUint16(fd: number, path: string, position: number, count: number, what: string): Uint16Array {
  const out = new Uint16Array(count);
  readExactly(fd, path, position, new Uint8Array(out.buffer), what);
  return out;
}

/** Writes all of `bytes` at the current position, in chunks writeSync accepts. */
export function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, Math.min(MAX_CHUNK, bytes.length - done));
}
