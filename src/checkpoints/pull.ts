// Downloads GPT-2 checkpoints from the Hugging Face hub: the only code in patchwise that touches
// the network. Each file goes to a temporary name and is renamed only once complete (and, for LFS
// files, once its sha256 matches the hub's), so an interrupted pull never leaves a half file that
// a later load would take for a model.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { UserError } from '../core/errors.js';

export const PULLABLE_MODELS: Readonly<Record<string, string>> = {
  gpt2: 'openai-community/gpt2',
  'gpt2-medium': 'openai-community/gpt2-medium',
  'gpt2-large': 'openai-community/gpt2-large',
  'gpt2-xl': 'openai-community/gpt2-xl',
};

export const PULL_FILES: readonly string[] = ['config.json', 'model.safetensors', 'vocab.json', 'merges.txt', 'tokenizer.json'];

export interface PullOptions {
  /** Hub base URL; default $HF_ENDPOINT or https://huggingface.co. */
  readonly endpoint?: string;
  readonly revision?: string;
  /** Time allowed from request to response headers (covers DNS and connect); default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Longest pause allowed between body chunks; default 60 s. */
  readonly stallTimeoutMs?: number;
  /** Show a progress bar on stderr; default: when stderr is a terminal. */
  readonly progress?: boolean;
  /** Replaces global fetch (tests). */
  readonly fetch?: typeof fetch;
  /** One line per file; default: nothing. */
  readonly log?: (line: string) => void;
}

export interface PulledFile {
  readonly file: string;
  readonly path: string;
  readonly bytes: number;
  /** Hex sha256 of the content when it was downloaded now. */
  readonly sha256?: string;
  /** True when the hub published a sha256 (x-linked-etag / etag) and it matched. */
  readonly verified: boolean;
  /** True when the file was already present and left alone. */
  readonly skipped: boolean;
}

/**
 * Downloads `name` (gpt2, gpt2-medium, gpt2-large, gpt2-xl) into `outDir`. Files already present
 * are kept: only complete, verified downloads ever get their final name.
 */
export async function pullModel(name: string, outDir: string, opts: PullOptions = {}): Promise<PulledFile[]> {
  const repo = PULLABLE_MODELS[name];
  if (!repo) throw new UserError(`cannot pull ${JSON.stringify(name)}: known models are ${Object.keys(PULLABLE_MODELS).join(', ')}`);
  const endpoint = (opts.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
  const revision = opts.revision ?? 'main';
  const created = !existsSync(outDir);
  mkdirSync(outDir, { recursive: true });
  try {
    return await pullFiles(repo, outDir, endpoint, revision, opts);
  } catch (e) {
    // Leave nothing behind where nothing was fetched.
    if (created && readdirSync(outDir).length === 0) rmSync(outDir, { recursive: true, force: true });
    throw e;
  }
}

async function pullFiles(repo: string, outDir: string, endpoint: string, revision: string, opts: PullOptions): Promise<PulledFile[]> {
  const results: PulledFile[] = [];
  for (const file of PULL_FILES) {
    const path = join(outDir, file);
    if (existsSync(path)) {
      results.push({ file, path, bytes: statSync(path).size, verified: false, skipped: true });
      opts.log?.(`${file}: already present, kept`);
      continue;
    }
    const url = `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${file}`;
    const manual = `download ${PULL_FILES.join(', ')} from ${endpoint}/${repo}/tree/${revision} into ${outDir} ` + `on a machine with network access, then use ${outDir} as the model path`;
    const r = await download(url, path, file, opts, endpoint, manual);
    results.push(r);
    opts.log?.(`${file}: ${r.bytes} bytes${r.verified ? ', sha256 verified' : ''}`);
  }
  return results;
}

async function download(url: string, dest: string, file: string, opts: PullOptions, endpoint: string, manual: string): Promise<PulledFile> {
  const doFetch = opts.fetch ?? fetch;
  const controller = new AbortController();
  const connectMs = opts.connectTimeoutMs ?? 10_000;
  const host = new URL(endpoint).host;
  const unreachable = (cause: string): UserError => new UserError(`cannot reach ${host} (${cause}); to install by hand, ${manual}`);

  // Follow redirects by hand: the hub's own response carries x-linked-etag (the LFS sha256); the
  // CDN response it redirects to does not.
  let expectedSha: string | undefined;
  let expectedSize: number | undefined;
  let res: Response | undefined;
  let current = url;
  let timer = setTimeout(() => controller.abort(), connectMs);
  try {
    for (let hop = 0; hop < 10; hop++) {
      try {
        // identity: content-length then counts the bytes we store, and the sha256 is of the file itself.
        res = await doFetch(current, { redirect: 'manual', signal: controller.signal, headers: { 'accept-encoding': 'identity' } });
      } catch (e) {
        throw unreachable(controller.signal.aborted ? `no response within ${connectMs / 1000} s` : describeFetchError(e));
      }
      expectedSha ??= sha256Header(res.headers);
      expectedSize ??= sizeHeader(res.headers);
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        await res.body?.cancel();
        current = new URL(location, current).toString();
        continue;
      }
      break;
    }
  } finally {
    clearTimeout(timer);
  }
  if (!res || (res.status >= 300 && res.status < 400)) throw new UserError(`${url}: too many redirects; to install by hand, ${manual}`);
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new UserError(`${url}: HTTP ${res.status} ${res.statusText}; to install by hand, ${manual}`);
  }
  const encoded = (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
  const total = encoded ? 0 : Number(res.headers.get('content-length') ?? expectedSize ?? 0);

  const part = `${dest}.part-${process.pid}`;
  const hash = createHash('sha256');
  const bar =
    (opts.progress ?? process.stderr.isTTY === true)
      ? new cliProgress.SingleBar({ format: `${file} [{bar}] {percentage}% | {mb} MB`, hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic)
      : undefined;
  bar?.start(total || 1, 0, { mb: '0.0' });
  const stallMs = opts.stallTimeoutMs ?? 60_000;
  let bytes = 0;
  const fh = await open(part, 'w');
  let ok = false;
  try {
    const reader = res.body.getReader();
    for (;;) {
      timer = setTimeout(() => controller.abort(), stallMs);
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        throw new UserError(`${url}: download interrupted after ${bytes} bytes (${controller.signal.aborted ? `no data for ${stallMs / 1000} s` : describeFetchError(e)}); run the pull again`);
      } finally {
        clearTimeout(timer);
      }
      if (chunk.done) break;
      hash.update(chunk.value);
      await fh.write(chunk.value);
      bytes += chunk.value.length;
      bar?.update(bytes, { mb: (bytes / 1e6).toFixed(1) });
    }
    ok = true;
  } finally {
    bar?.stop();
    await fh.close();
    if (!ok) rmSync(part, { force: true });
  }
  const sha256 = hash.digest('hex');
  if ((total && bytes !== total) || (expectedSha && sha256 !== expectedSha)) {
    rmSync(part, { force: true });
    const what = expectedSha && sha256 !== expectedSha ? `sha256 ${sha256}, expected ${expectedSha}` : `${bytes} bytes, expected ${total}`;
    throw new UserError(`${url}: downloaded ${file} is corrupt (${what}); nothing was saved, run the pull again`);
  }
  renameSync(part, dest);
  return { file, path: dest, bytes, sha256, verified: expectedSha !== undefined, skipped: false };
}

/** The hub sends the LFS object's sha256 as x-linked-etag (or etag); a git blob sha1 is not one. */
function sha256Header(h: Headers): string | undefined {
  for (const key of ['x-linked-etag', 'etag']) {
    const v = h.get(key)?.replace(/^W\//, '').replace(/"/g, '').trim().toLowerCase();
    if (v && /^[0-9a-f]{64}$/.test(v)) return v;
  }
  return undefined;
}

function sizeHeader(h: Headers): number | undefined {
  const v = Number(h.get('x-linked-size') ?? NaN);
  return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

/** undici reports "fetch failed" with the useful part (ENOTFOUND, ECONNREFUSED, ...) in `cause`. */
function describeFetchError(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  const cause = err.cause;
  if (cause?.message) return cause.code && !cause.message.includes(cause.code) ? `${cause.code}: ${cause.message}` : cause.message;
  return cause?.code ?? err.message ?? String(e);
}
