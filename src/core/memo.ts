// Work done once per key and shared by every caller: the promise is kept in the caller's map (a Map,
// or a WeakMap to keep it only while the key lives). A computation that fails is dropped, so the
// next caller tries again instead of getting the old failure.

/** What memoized needs of a map: Map and WeakMap both have it. */
export interface PromiseMap<K, V> {
  get(key: K): Promise<V> | undefined;
  set(key: K, value: Promise<V>): unknown;
  delete(key: K): boolean;
}

/** The promise kept for `key`, or make()'s, kept. */
export function memoized<K, V>(map: PromiseMap<K, V>, key: K, make: () => Promise<V>): Promise<V> {
  let value = map.get(key);
  if (!value) {
    const made = make();
    value = made;
    map.set(key, made);
    made.catch(() => {
      if (map.get(key) === made) map.delete(key);
    });
  }
  return value;
}
