// Loads data files by adding <script> elements: unlike fetch(), that works from file:// as well as
// from a server. Each file calls window.__PATCHWISE__.register(name, payload).
import { VIZ_GLOBAL, chunkFile } from '../../src/viz-export/format.js';

interface Registry {
  register(name: string, payload: unknown): void;
}

const loaded = new Map<string, unknown>();
const pending = new Map<string, Promise<unknown>>();
const waiting = new Map<string, (payload: unknown) => void>();

function installRegistry(): void {
  const w = window as unknown as Record<string, Registry | undefined>;
  if (w[VIZ_GLOBAL]) return;
  w[VIZ_GLOBAL] = {
    register(name: string, payload: unknown): void {
      loaded.set(name, payload);
      waiting.get(name)?.(payload);
      waiting.delete(name);
    },
  };
}

/** The payload of data/<chunk>.js, loading it once. */
export function loadChunk(chunk: string): Promise<unknown> {
  installRegistry();
  if (loaded.has(chunk)) return Promise.resolve(loaded.get(chunk));
  const p0 = pending.get(chunk);
  if (p0) return p0;
  const p = new Promise<unknown>((resolve, reject) => {
    waiting.set(chunk, resolve);
    const el = document.createElement('script');
    el.src = chunkFile(chunk);
    el.async = true;
    el.addEventListener('error', () => {
      waiting.delete(chunk);
      pending.delete(chunk);
      reject(new Error(`could not load ${chunkFile(chunk)} (was the site built completely?)`));
    });
    // A script that ran without registering its chunk is a broken data file.
    el.addEventListener('load', () => {
      if (!loaded.has(chunk)) reject(new Error(`${chunkFile(chunk)} did not register "${chunk}"`));
      el.remove();
    });
    document.head.append(el);
  });
  pending.set(chunk, p);
  return p;
}
