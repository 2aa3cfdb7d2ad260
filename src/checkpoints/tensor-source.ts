// Named tensors of a checkpoint (one file, a set of shards, or a GGUF), read with the shape the
// model config implies. A mismatch is a UserError that says which file, which tensor, what the
// config implies and why, and what was found.
import { UserError } from '../core/errors.js';

export interface TensorSource {
  /** The file that holds (or, when missing, should hold) the tensor. */
  fileOf(name: string): string;
  /** Row-major shape, or undefined when the tensor is absent. */
  shapeOf(name: string): readonly number[] | undefined;
  read(name: string): Float32Array;
  /** Extra words after a found shape, e.g. how the format itself lists dimensions. */
  shapeNote?(name: string): string;
}

/**
 * Reads `name`, insisting on `expected`. `reason` says where the expectation comes from, e.g.
 * "config.json n_embd=768, n_head=12".
 */
export function expectTensor(src: TensorSource, name: string, expected: readonly number[], reason: string): Float32Array {
  const found = src.shapeOf(name);
  if (found === undefined) {
    throw new UserError(`${src.fileOf(name)}: tensor ${name} is missing (expected shape ${fmt(expected)} from ${reason})`);
  }
  if (found.length !== expected.length || found.some((d, i) => d !== expected[i])) {
    const note = src.shapeNote?.(name) ?? '';
    throw new UserError(`${src.fileOf(name)}: tensor ${name}: expected shape ${fmt(expected)} (from ${reason}), found ${fmt(found)}${note ? ` ${note}` : ''}`);
  }
  return src.read(name);
}

/** Like expectTensor, but an absent tensor gives undefined (optional biases). */
export function optionalTensor(src: TensorSource, name: string, expected: readonly number[], reason: string): Float32Array | undefined {
  return src.shapeOf(name) === undefined ? undefined : expectTensor(src, name, expected, reason);
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
