// Downloads: the current drawing as PNG or SVG, and a circuit as EAP-IG graph JSON (the format
// `patchwise circuit import` and EAP-IG's Graph.from_json read), built in the page from the data.
import type { LoadedCircuit } from './data.js';
import { h } from './dom.js';

/** Saves a blob under a file name through a temporary link (works from file:// too). */
export function saveBlob(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = h('a', { attrs: { href: url, download: name } });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The global eap-json.js defines. */
export const EAP_GLOBAL = '__PATCHWISE_EAP__';

export interface EapWriter {
  circuitEapJson(c: LoadedCircuit, mask: Uint8Array, tau: number | undefined): string;
}

let writer: Promise<EapWriter> | undefined;

/**
 * The EAP-IG writer, loaded on first use from eap-json.js: it carries the circuit library and its
 * schema library, about twice the viewer's size, which a user who never downloads JSON never loads.
 */
function loadWriter(): Promise<EapWriter> {
  writer ??= new Promise<EapWriter>((ok, fail) => {
    const el = document.createElement('script');
    el.src = 'eap-json.js';
    el.addEventListener('load', () => {
      const w = (window as unknown as Record<string, EapWriter | undefined>)[EAP_GLOBAL];
      if (w) ok(w);
      else fail(new Error('eap-json.js did not define the EAP-IG writer'));
    });
    el.addEventListener('error', () => {
      writer = undefined;
      fail(new Error('could not load eap-json.js (was the site built completely?)'));
    });
    document.head.append(el);
  });
  return writer;
}

/** A circuit at a cut (mask in edge order) as EAP-IG JSON text, with our metadata in cfg. */
export async function circuitEapJson(c: LoadedCircuit, mask: Uint8Array, tau: number | undefined): Promise<string> {
  return (await loadWriter()).circuitEapJson(c, mask, tau);
}

/** A file name from a circuit and what is saved: "circuit-3-acdc-kl.json". */
export function fileName(c: LoadedCircuit, suffix: string): string {
  const parts = [`circuit-${c.info.id}`, c.info.method, c.info.metric].filter((p): p is string => typeof p === 'string' && p !== '');
  return `${parts.join('-').replace(/[^A-Za-z0-9._-]+/g, '_')}${suffix}`;
}
