// DiffStack.rows: the rows a layer's patch term reads, as a view where they are one block, else a
// copy into the stack's reused scratch.
import { describe, expect, it } from 'vitest';
import { DiffStack } from '../../src/runtime/diff-stack.js';

const K = 2;
const S = 6;
const X = 4;
// Entry (k, s, x) holds 100 k + 10 s + x: every row is recognisable.
function stack(): DiffStack {
  const st = new DiffStack(K, S, X);
  for (let k = 0; k < K; k++) for (let s = 0; s < S; s++) for (let x = 0; x < X; x++) st.data[(k * S + s) * X + x] = 100 * k + 10 * s + x;
  return st;
}
const expected = (kc: number, rows: readonly number[]) => Array.from({ length: kc }, (_, k) => rows.flatMap((s) => Array.from({ length: X }, (_, x) => 100 * k + 10 * s + x))).flat();

describe('DiffStack.rows', () => {
  it('gives consecutive rows of one configuration as a view of the stack', () => {
    const st = stack();
    const out = st.rows(1, [2, 3, 4]);
    expect([...out]).toEqual(expected(1, [2, 3, 4]));
    expect(out.buffer).toBe(st.data.buffer);
  });

  it('copies scattered rows, and every configuration of consecutive ones', () => {
    const st = stack();
    expect([...st.rows(1, [0, 2, 5])]).toEqual(expected(1, [0, 2, 5]));
    expect([...st.rows(2, [1, 2])]).toEqual(expected(2, [1, 2]));
    expect([...st.rows(2, [0, 4])]).toEqual(expected(2, [0, 4]));
  });

  it('reuses its scratch for the next copy, which then holds only the new rows', () => {
    const st = stack();
    const first = st.rows(2, [0, 3, 5]);
    const second = st.rows(1, [1, 4]);
    expect(second.buffer).toBe(first.buffer);
    expect([...second]).toEqual(expected(1, [1, 4]));
    expect(second.buffer).not.toBe(st.data.buffer);
  });
});
