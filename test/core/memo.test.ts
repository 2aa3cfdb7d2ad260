// memoized: one computation per key, shared; a failed one is dropped so the next caller retries.
import { describe, expect, it } from 'vitest';
import { memoized } from '../../src/core/memo.js';

describe('memoized', () => {
  it('computes once per key and shares the result', async () => {
    const map = new Map<string, Promise<number>>();
    let calls = 0;
    const make = async () => ++calls;
    const [a, b] = await Promise.all([memoized(map, 'x', make), memoized(map, 'x', make)]);
    expect([a, b, calls]).toEqual([1, 1, 1]);
    expect(await memoized(map, 'y', make)).toBe(2);
  });

  it('drops a failed computation: the next caller computes again', async () => {
    const map = new WeakMap<object, Promise<number>>();
    const key = {};
    await expect(memoized(map, key, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await new Promise((r) => setTimeout(r, 0));
    expect(await memoized(map, key, async () => 7)).toBe(7);
  });
});
