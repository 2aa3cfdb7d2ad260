// Leases on units of work, so several processes running the same pipeline on one database split
// its units instead of each computing all of them. A lease is a row (scope, unit) -> holder with an
// expiry; claiming is one write transaction (BEGIN IMMEDIATE) that inserts the row or takes it over
// when it has expired, and a heartbeat renews every lease the holder keeps. Correctness rests on
// expiry alone (the clock is the database's), so holders on other machines sharing a database
// server work the same way; a holder on this host whose process is gone is treated as expired at
// once, which only saves the wait after a crash.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Connection } from './connection.js';

/** Milliseconds since the epoch by the database's clock. */
const NOW_MS = `CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)`;

/** How long a lease lasts without renewal (ms); the heartbeat renews at a third of it. */
export const DEFAULT_LEASE_MS = 60_000;

const WORKER = '@worker:';

/** A new holder id, `host:pid:random`, unique across processes and machines. */
export function newHolderId(): string {
  return `${hostname().replace(/:/g, '_')}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

/** True when `holder` names a process on this host that no longer exists. */
function deadOnThisHost(holder: string): boolean {
  const [host, pid] = holder.split(':');
  if (host !== hostname().replace(/:/g, '_')) return false;
  const n = Number(pid);
  if (!Number.isInteger(n) || n <= 0 || n === process.pid) return false;
  try {
    process.kill(n, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export class UnitLeases {
  private heartbeat?: NodeJS.Timeout;

  constructor(
    private readonly conn: Connection,
    readonly holder: string = newHolderId(),
    readonly leaseMs: number = DEFAULT_LEASE_MS,
  ) {}

  /** Takes the lease on (scope, unit) unless another live holder has it; true when this holder now holds it. */
  claim(scope: string, unit: string): Promise<boolean> {
    return this.conn.transaction(async () => {
      const row = await this.conn.get<{ holder: string; live: number }>(`SELECT holder, expires_at > ${NOW_MS} AS live FROM unit_leases WHERE scope = ? AND unit = ?`, [scope, unit]);
      if (row !== undefined && row.holder !== this.holder && row.live && !deadOnThisHost(row.holder)) return false;
      await this.conn.run(
        `INSERT INTO unit_leases (scope, unit, holder, expires_at) VALUES (?, ?, ?, ${NOW_MS} + ?)
         ON CONFLICT (scope, unit) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at`,
        [scope, unit, this.holder, this.leaseMs],
      );
      return true;
    });
  }

  /** Gives a lease back (only this holder's). */
  async release(scope: string, unit: string): Promise<void> {
    await this.conn.transaction(() => this.conn.run('DELETE FROM unit_leases WHERE scope = ? AND unit = ? AND holder = ?', [scope, unit, this.holder]));
  }

  /** Units of `scope` leased by other live holders. */
  async heldByOthers(scope: string): Promise<Set<string>> {
    const rows = await this.conn.lock(() =>
      this.conn.all<{ unit: string; holder: string }>(`SELECT unit, holder FROM unit_leases WHERE scope = ? AND holder <> ? AND expires_at > ${NOW_MS} AND unit NOT LIKE '${WORKER}%'`, [
        scope,
        this.holder,
      ]),
    );
    return new Set(rows.filter((r) => !deadOnThisHost(r.holder)).map((r) => r.unit));
  }

  /**
   * Records that this holder works in `scope` and says whether it joined an attempt in progress:
   * another live worker is there, or the runs were finished meanwhile. A joining process does not
   * start a new attempt, so each of `runIds` (opened by this process, which counted one attempt)
   * gets that attempt back, in the same transaction.
   */
  enlist(scope: string, runIds: readonly number[]): Promise<boolean> {
    return this.conn.transaction(async () => {
      // Rows of holders that are gone (expired, or a dead process of this host) are dropped here.
      const rows = await this.conn.all<{ unit: string; holder: string; live: number }>(`SELECT unit, holder, expires_at > ${NOW_MS} AS live FROM unit_leases WHERE scope = ? AND holder <> ?`, [
        scope,
        this.holder,
      ]);
      const others: { holder: string }[] = [];
      for (const r of rows) {
        if (r.live && !deadOnThisHost(r.holder)) {
          if (r.unit.startsWith(WORKER)) others.push(r);
        } else {
          await this.conn.run('DELETE FROM unit_leases WHERE scope = ? AND unit = ? AND holder = ?', [scope, r.unit, r.holder]);
        }
      }
      await this.conn.run(
        `INSERT INTO unit_leases (scope, unit, holder, expires_at) VALUES (?, ?, ?, ${NOW_MS} + ?)
         ON CONFLICT (scope, unit) DO UPDATE SET expires_at = excluded.expires_at`,
        [scope, WORKER + this.holder, this.holder, this.leaseMs],
      );
      let joined = others.length > 0;
      if (!joined && runIds.length > 0) {
        const done = await this.conn.get<{ n: number }>(`SELECT count(*) AS n FROM runs WHERE status = 'done' AND id IN (${runIds.map(() => '?').join(',')})`, [...runIds]);
        joined = (done?.n ?? 0) > 0;
      }
      if (joined) {
        for (const id of runIds) await this.conn.run('UPDATE runs SET attempts = attempts - 1 WHERE id = ? AND attempts > 1', [id]);
      }
      return joined;
    });
  }

  /** Leaves `scope`: drops this holder's worker row and any lease it still has there. */
  async leave(scope: string): Promise<void> {
    await this.conn.transaction(() => this.conn.run('DELETE FROM unit_leases WHERE scope = ? AND holder = ?', [scope, this.holder]));
  }

  /** Extends every lease this holder has. */
  async renew(): Promise<void> {
    await this.conn.transaction(() => this.conn.run(`UPDATE unit_leases SET expires_at = ${NOW_MS} + ? WHERE holder = ?`, [this.leaseMs, this.holder]));
  }

  /** Renews this holder's leases every third of their length until stop(). */
  start(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(
      () => {
        // A failed renewal (database busy for longer than the busy timeout) is retried at the next beat.
        this.renew().catch(() => undefined);
      },
      Math.max(10, Math.floor(this.leaseMs / 3)),
    );
    this.heartbeat.unref();
  }

  stop(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }
}
