// Unit leases: one live holder per unit, takeover only after expiry (or when the holder is a dead
// process of this host), renewal keeps a lease, and enlisting tells a joined attempt from a new one.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UnitLeases } from '../../src/store/leases.js';
import { Store } from '../../src/store/store.js';

const dir = mkdtempSync(join(tmpdir(), 'patchwise-leases-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('unit leases', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a live lease excludes other holders until it expires; renewal keeps it; release frees it', async () => {
    const db = join(dir, 'a.db');
    const [s1, s2] = [await Store.open(db), await Store.open(db)];
    try {
      // Holders on other machines: only expiry can free their leases.
      const a = new UnitLeases(s1.connection, 'host-a:101:aa', 400);
      const b = new UnitLeases(s2.connection, 'host-b:202:bb', 400);
      expect(await a.claim('p:1', 'u1')).toBe(true);
      expect(await b.claim('p:1', 'u1')).toBe(false);
      expect(await b.claim('p:1', 'u2')).toBe(true);
      expect(await a.claim('p:1', 'u1')).toBe(true); // re-claiming one's own lease
      expect([...(await b.heldByOthers('p:1'))]).toEqual(['u1']);
      await sleep(250);
      await a.renew();
      await sleep(250);
      expect(await b.claim('p:1', 'u1')).toBe(false); // renewed 250 ms ago, lasts 400
      await sleep(450);
      expect(await b.claim('p:1', 'u1')).toBe(true); // expired: taken over
      expect(await a.claim('p:1', 'u1')).toBe(false);
      await b.release('p:1', 'u1');
      expect(await a.claim('p:1', 'u1')).toBe(true);
    } finally {
      await s1.close();
      await s2.close();
    }
  });

  it('a lease of a process of this host that is gone is taken over at once', async () => {
    const s = await Store.open(join(dir, 'b.db'));
    try {
      const { hostname } = await import('node:os');
      // A pid that cannot exist (above the kernel's pid_max).
      const dead = new UnitLeases(s.connection, `${hostname()}:99999999:dd`, 60_000);
      const live = new UnitLeases(s.connection, undefined, 60_000);
      expect(await dead.claim('p:1', 'u')).toBe(true);
      expect(await live.claim('p:1', 'u')).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('enlisting beside a live worker joins its attempt: the run keeps one attempt', async () => {
    const s = await Store.open(join(dir, 'c.db'));
    try {
      const modelId = await s.models.upsert({ fingerprint: 'm', name: 'm', path: '/m', architecture: 'gpt2', config: {} });
      const datasetId = await s.datasets.upsert({ fingerprint: 'd', task: 't', settings: {}, pairs: [] });
      const req = { pipeline: 'p', key: 'k', modelId, datasetId, settings: {}, codeVersion: 'v' };
      const a = new UnitLeases(s.connection, 'host-a:1:aa', 60_000);
      const b = new UnitLeases(s.connection, 'host-b:2:bb', 60_000);
      const run = await s.runs.open(req);
      expect(await a.enlist('p:k', [run.id])).toBe(false);
      await s.runs.open(req); // a second process opens the same run: attempts 2 ...
      expect(await b.enlist('p:k', [run.id])).toBe(true); // ... until it enlists beside the first
      expect((await s.runs.get(run.id)).attempts).toBe(1);
      await a.leave('p:k');
      await b.leave('p:k');
      await s.runs.open(req); // a later invocation with nobody working: a new attempt
      expect(await a.enlist('p:k', [run.id])).toBe(false);
      expect((await s.runs.get(run.id)).attempts).toBe(2);
      expect(await s.query('SELECT unit FROM unit_leases')).toEqual([{ unit: '@worker:host-a:1:aa' }]);
    } finally {
      await s.close();
    }
  });
});
