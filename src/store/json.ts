// Canonical JSON: the one text form of a settings object, so that equal settings compare equal as
// strings (run keys, deduplication) whatever order their keys were written in.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Serialises `value` with object keys sorted at every depth and no whitespace. Throws on values JSON
 * cannot represent faithfully (NaN, Infinity, bigint, functions, Maps, class instances without
 * toJSON), naming the path, instead of letting JSON.stringify turn them into null or {} silently.
 * Object properties that are undefined are left out, as JSON.stringify does.
 */
export function canonicalJson(value: unknown, where = 'value'): string {
  return write(value, where);
}

function write(value: unknown, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new Error(`${path} is ${value}, which JSON cannot represent`);
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new Error(`${path} is a ${typeof value}, which JSON cannot represent`);
  }
  const obj = value as object;
  if ('toJSON' in obj && typeof obj.toJSON === 'function') return write((obj.toJSON as () => unknown)(), path);
  if (Array.isArray(obj)) {
    return `[${obj.map((v: unknown, i) => (v === undefined ? 'null' : write(v, `${path}[${i}]`))).join(',')}]`;
  }
  const proto = Object.getPrototypeOf(obj) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    const name = (obj as { constructor?: { name?: string } }).constructor?.name ?? 'object';
    throw new Error(`${path} is a ${name}, which JSON cannot represent; convert it to a plain object or array`);
  }
  const rec = obj as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(rec).sort()) {
    const v = rec[k];
    if (v === undefined) continue;
    parts.push(`${JSON.stringify(k)}:${write(v, `${path}.${k}`)}`);
  }
  return `{${parts.join(',')}}`;
}

/** Parses JSON text that this module wrote (so its shape is Json by construction). */
export function parseJson(text: string): Json {
  return JSON.parse(text) as Json;
}

/** True when `v` is a JSON object (not an array, not null). */
export function isJsonObject(v: Json | undefined): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The leaves of a JSON value as [dotted path, value] pairs, in key order: `{a: {b: 1}, c: [1, 2]}`
 * gives `[['a.b', 1], ['c', [1, 2]]]`. Arrays are leaves (a list setting is one setting); a
 * non-object value is the single leaf ''.
 */
export function flattenJson(v: Json, prefix = ''): [string, Json][] {
  if (!isJsonObject(v)) return [[prefix, v]];
  const out: [string, Json][] = [];
  for (const k of Object.keys(v).sort()) {
    const child = v[k] as Json;
    const path = prefix === '' ? k : `${prefix}.${k}`;
    if (isJsonObject(child) && Object.keys(child).length > 0) out.push(...flattenJson(child, path));
    else out.push([path, child]);
  }
  return out;
}
