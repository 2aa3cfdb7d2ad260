// pullModel against a local stand-in for the hub: redirects to a "CDN", sha256 in x-linked-etag,
// atomic renames, and the clear single-line failure when the hub cannot be reached.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { PULL_FILES, pullModel } from '../../src/checkpoints/pull.js';

const dir = mkdtempSync(join(tmpdir(), 'patchwise-pull-'));
const contents: Record<string, Buffer> = Object.fromEntries(PULL_FILES.map((f, i) => [f, Buffer.from(`${f} `.repeat(1000 * (i + 1)))]));
let corruptWeights = false;
let server: Server;
let endpoint = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = req.url ?? '';
    const m = /^\/openai-community\/gpt2\/resolve\/main\/(.+)$/.exec(url);
    if (m && m[1] === 'model.safetensors') {
      // Like the hub: LFS files redirect to a CDN, and the hub response carries the sha256.
      const body = contents['model.safetensors']!;
      res.writeHead(302, {
        location: '/cdn/blob',
        'x-linked-etag': `"${createHash('sha256').update(body).digest('hex')}"`,
        'x-linked-size': String(body.length),
      });
      res.end();
    } else if (m && contents[m[1]!] !== undefined) {
      const body = contents[m[1]!]!;
      res.writeHead(200, { 'content-length': body.length, etag: '"0123456789abcdef0123456789abcdef01234567"' });
      res.end(body);
    } else if (url === '/cdn/blob') {
      const body = Buffer.from(contents['model.safetensors']!);
      if (corruptWeights) body[10] = body[10]! ^ 1;
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

async function pullError(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserError);
  return (err as Error).message;
}

describe('pullModel', () => {
  it('downloads every file, verifies the LFS sha256, and leaves no temporary files', async () => {
    const out = join(dir, 'ok');
    const r = await pullModel('gpt2', out, { endpoint, progress: false });
    expect(r.map((f) => f.file)).toEqual([...PULL_FILES]);
    for (const f of PULL_FILES) expect(readFileSync(join(out, f)).equals(contents[f]!), f).toBe(true);
    expect(r.find((f) => f.file === 'model.safetensors')).toMatchObject({ verified: true, skipped: false });
    expect(r.find((f) => f.file === 'config.json')).toMatchObject({ verified: false }); // a git sha1 etag is not a sha256
    expect(readdirSync(out).sort()).toEqual([...PULL_FILES].sort());
    const again = await pullModel('gpt2', out, { endpoint, progress: false });
    expect(again.every((f) => f.skipped)).toBe(true);
  });

  it('a sha256 mismatch saves nothing', async () => {
    const out = join(dir, 'corrupt');
    corruptWeights = true;
    try {
      const msg = await pullError(pullModel('gpt2', out, { endpoint, progress: false }));
      expect(msg).toContain('model.safetensors is corrupt (sha256');
    } finally {
      corruptWeights = false;
    }
    expect(existsSync(join(out, 'model.safetensors'))).toBe(false);
    expect(readdirSync(out).some((f) => f.includes('.part'))).toBe(false);
  });

  it('an unknown model or missing file is a UserError', async () => {
    expect(await pullError(pullModel('llama-7b', join(dir, 'x'), { endpoint }))).toContain('known models are gpt2, gpt2-medium');
    expect(await pullError(pullModel('gpt2-xl', join(dir, 'y'), { endpoint, progress: false }))).toContain('HTTP 404');
  });

  it('an unreachable hub fails at once with one line saying how to place the files by hand', async () => {
    const closed = createTcpServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r)); // nothing listens there now
    const out = join(dir, 'refused');
    const msg = await pullError(pullModel('gpt2', out, { endpoint: `http://127.0.0.1:${port}`, progress: false }));
    expect(msg).toMatch(new RegExp(`^cannot reach 127\\.0\\.0\\.1:${port} \\(.*ECONNREFUSED`));
    expect(msg).toContain(`into ${out}`);
    expect(msg).toContain('config.json, model.safetensors, vocab.json, merges.txt, tokenizer.json');
    expect(msg).not.toContain('\n');
  });

  it('a hub that accepts but never answers times out', async () => {
    const sockets: Socket[] = [];
    const silent: TcpServer = createTcpServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    const t0 = Date.now();
    try {
      const msg = await pullError(pullModel('gpt2', join(dir, 'silent'), { endpoint: `http://127.0.0.1:${port}`, connectTimeoutMs: 300, progress: false }));
      expect(msg).toContain('no response within 0.3 s');
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it('a fetch failure without network (DNS) reads as "cannot reach huggingface.co (...)"', async () => {
    const noDns = (() => Promise.reject(new TypeError('fetch failed', { cause: Object.assign(new Error('getaddrinfo ENOTFOUND huggingface.co'), { code: 'ENOTFOUND' }) }))) as typeof fetch;
    const msg = await pullError(pullModel('gpt2', join(dir, 'dns'), { endpoint: 'https://huggingface.co', fetch: noDns, progress: false }));
    expect(msg).toMatch(/^cannot reach huggingface\.co \(getaddrinfo ENOTFOUND huggingface\.co\); to install by hand, download config\.json/);
    expect(msg).toContain('https://huggingface.co/openai-community/gpt2/tree/main');
  });
});
