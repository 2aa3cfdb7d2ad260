// A Hugging Face checkpoint directory: config.json plus model.safetensors, or shards listed in
// model.safetensors.index.json. Also the typed reading of config.json fields.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../core/errors.js';
import { openSafetensors, type SafetensorsFile } from './formats/safetensors.js';
import type { TensorSource } from './tensor-source.js';

export type HfConfig = Readonly<Record<string, unknown>>;

export function readHfConfig(dir: string): HfConfig {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) throw new UserError(`${dir}: no config.json (expected a Hugging Face model directory)`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UserError(`${path}: expected a JSON object`);
  return json as HfConfig;
}

/** Typed access to config.json fields; errors name the file and field. */
export class ConfigFields {
  constructor(
    readonly cfg: HfConfig,
    readonly path: string,
  ) {}

  /** A positive integer field; `fallback` applies when the field is absent or null. */
  int(field: string, fallback?: number): number {
    const v = this.cfg[field];
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      throw new UserError(`${this.path}: ${field} must be a positive integer, found ${JSON.stringify(v) ?? 'nothing'}`);
    }
    return v;
  }

  num(field: string, fallback?: number): number {
    const v = this.cfg[field];
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new UserError(`${this.path}: ${field} must be a number, found ${JSON.stringify(v) ?? 'nothing'}`);
    }
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.cfg[field];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') throw new UserError(`${this.path}: ${field} must be true or false, found ${JSON.stringify(v)}`);
    return v;
  }

  str(field: string, fallback?: string): string {
    const v = this.cfg[field];
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    if (typeof v !== 'string') throw new UserError(`${this.path}: ${field} must be a string, found ${JSON.stringify(v) ?? 'nothing'}`);
    return v;
  }

  /** A token id; HF allows a list (several EOS ids): the first is taken. */
  tokenId(field: string): number | undefined {
    const v = this.cfg[field];
    const id = Array.isArray(v) ? (v[0] as unknown) : v;
    return typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 ? id : undefined;
  }

  /** "config.json n_embd=768, n_head=12": the reason part of a shape error. */
  why(...fields: string[]): string {
    return `config.json ${fields.map((f) => `${f}=${JSON.stringify(this.cfg[f] ?? null)}`).join(', ')}`;
  }
}

/** The safetensors of a directory, single-file or sharded. */
export function openHfTensors(dir: string): TensorSource {
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(single)) {
    const file = openSafetensors(single);
    return {
      fileOf: () => single,
      shapeOf: (name) => file.tensors.get(name)?.shape,
      read: (name) => file.read(name),
    };
  }
  if (existsSync(index)) return shardedSource(dir, index);
  throw new UserError(
    `${dir}: no model.safetensors or model.safetensors.index.json (only safetensors checkpoints are supported; ` +
      `convert pytorch_model.bin with transformers' save_pretrained(..., safe_serialization=True))`,
  );
}

function shardedSource(dir: string, index: string): TensorSource {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(index, 'utf8'));
  } catch (e) {
    throw new UserError(`${index}: not valid JSON (${(e as Error).message})`);
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null) throw new UserError(`${index}: expected a weight_map object`);
  const weightMap = new Map<string, string>();
  for (const [name, file] of Object.entries(map)) {
    if (typeof file !== 'string') throw new UserError(`${index}: weight_map.${name} must be a file name`);
    weightMap.set(name, file);
  }
  // Shards open lazily, each header once.
  const shards = new Map<string, SafetensorsFile>();
  const shard = (file: string): SafetensorsFile => {
    let s = shards.get(file);
    if (!s) {
      const path = join(dir, file);
      if (!existsSync(path)) throw new UserError(`${index}: shard ${file} is listed but ${path} does not exist`);
      s = openSafetensors(path);
      shards.set(file, s);
    }
    return s;
  };
  const fileOf = (name: string): string => {
    const f = weightMap.get(name);
    return f === undefined ? index : join(dir, f);
  };
  return {
    fileOf,
    shapeOf(name) {
      const f = weightMap.get(name);
      if (f === undefined) return undefined;
      const info = shard(f).tensors.get(name);
      if (!info) throw new UserError(`${join(dir, f)}: tensor ${name} is listed in ${index} but not in this shard`);
      return info.shape;
    },
    read(name) {
      const f = weightMap.get(name);
      if (f === undefined) throw new UserError(`${index}: tensor ${name} not found`);
      return shard(f).read(name);
    },
  };
}
