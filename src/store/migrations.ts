// The schema as an ordered list of migrations. PRAGMA user_version holds the number of the last one
// applied (the authoritative check, read inside the write transaction so two processes opening a
// fresh file cannot both apply a migration); schema_migrations keeps a readable log of when each
// was applied. Never edit a released migration: append a new one.
import type { Connection } from './connection.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Written to the header of every database patchwise migrates ('PWDB'), so other programs can tell it is ours. */
export const PATCHWISE_APPLICATION_ID = 0x50574442;

const NOW = `(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'models, datasets, runs, units, components, effects, detections',
    sql: `
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        applied_at TEXT NOT NULL DEFAULT ${NOW}
      );

      -- Identity rows, one per content fingerprint; config/settings/pairs are canonical JSON.
      CREATE TABLE models (
        id           INTEGER PRIMARY KEY,
        fingerprint  TEXT NOT NULL UNIQUE,
        name         TEXT NOT NULL,
        path         TEXT NOT NULL,
        architecture TEXT NOT NULL,
        config       TEXT NOT NULL,
        created_at   TEXT NOT NULL DEFAULT ${NOW}
      );
      CREATE TABLE datasets (
        id          INTEGER PRIMARY KEY,
        fingerprint TEXT NOT NULL UNIQUE,
        task        TEXT NOT NULL,
        settings    TEXT NOT NULL,
        pairs       TEXT NOT NULL,
        n_pairs     INTEGER,
        created_at  TEXT NOT NULL DEFAULT ${NOW}
      );

      -- One point of a pipeline's grid. (pipeline, key) names it across re-runs of the pipeline.
      CREATE TABLE runs (
        id           INTEGER PRIMARY KEY,
        pipeline     TEXT NOT NULL,
        key          TEXT NOT NULL,
        model_id     INTEGER NOT NULL REFERENCES models(id),
        dataset_id   INTEGER NOT NULL REFERENCES datasets(id),
        settings     TEXT NOT NULL,
        code_version TEXT NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        error        TEXT,
        detail       TEXT,
        seconds      REAL,
        created_at   TEXT NOT NULL DEFAULT ${NOW},
        updated_at   TEXT NOT NULL DEFAULT ${NOW},
        finished_at  TEXT,
        UNIQUE (pipeline, key)
      );
      CREATE INDEX runs_model ON runs(model_id);
      CREATE INDEX runs_dataset ON runs(dataset_id);

      -- A unit's row is its completion marker: it commits in the same transaction as its effects.
      CREATE TABLE units (
        id           INTEGER PRIMARY KEY,
        run_id       INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name         TEXT NOT NULL,
        n_rows       INTEGER NOT NULL,
        seconds      REAL NOT NULL,
        code_version TEXT NOT NULL,
        saved_at     TEXT NOT NULL DEFAULT ${NOW},
        UNIQUE (run_id, name)
      );

      -- Interned component coordinates, so the large effects table holds one integer per row.
      -- key is the JSON array [component, kind, layer, head, position, window].
      CREATE TABLE components (
        id          INTEGER PRIMARY KEY,
        key         TEXT NOT NULL UNIQUE,
        component   TEXT NOT NULL,
        kind        TEXT NOT NULL,
        layer       INTEGER NOT NULL,
        head        INTEGER,
        position    INTEGER,
        window_size INTEGER NOT NULL
      );

      -- Node-level effects, one per (run, component, prompt). Clustered on that key, so a run's
      -- per-component aggregation reads contiguous rows and a prompt saved twice is an error.
      CREATE TABLE effects (
        run_id       INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        component_id INTEGER NOT NULL REFERENCES components(id),
        prompt       INTEGER NOT NULL,
        unit_id      INTEGER NOT NULL REFERENCES units(id) ON DELETE CASCADE,
        value        REAL NOT NULL,
        PRIMARY KEY (run_id, component_id, prompt)
      ) WITHOUT ROWID;
      CREATE INDEX effects_unit ON effects(unit_id);

      -- Detected components of a run (few per run, so the coordinates are stored inline).
      CREATE TABLE detections (
        id          INTEGER PRIMARY KEY,
        run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        component   TEXT NOT NULL,
        layer       INTEGER NOT NULL,
        head        INTEGER,
        position    INTEGER,
        window_size INTEGER NOT NULL,
        mean        REAL NOT NULL,
        std         REAL NOT NULL,
        zscore      REAL NOT NULL,
        sign        INTEGER NOT NULL CHECK (sign IN (1, -1))
      );
      CREATE INDEX detections_run ON detections(run_id);
    `,
  },
  {
    version: 2,
    name: 'circuits, circuit edges, circuit curves',
    sql: `
      -- One discovered or imported circuit. (pipeline, key) names it; saving the same name again
      -- replaces it in place (same id). meta holds the rest of the circuit's metadata (model
      -- d_model, extra) as canonical JSON; settings is what the caller says produced it.
      CREATE TABLE circuits (
        id                INTEGER PRIMARY KEY,
        run_id            INTEGER REFERENCES runs(id) ON DELETE CASCADE,
        pipeline          TEXT NOT NULL,
        key               TEXT NOT NULL,
        method            TEXT NOT NULL,
        metric            TEXT,
        corruption        TEXT,
        direction         TEXT CHECK (direction IN ('denoising', 'noising')),
        threshold         REAL,
        size              INTEGER NOT NULL,
        n_scored          INTEGER NOT NULL,
        faithfulness      REAL,
        n_layers          INTEGER NOT NULL,
        n_heads           INTEGER NOT NULL,
        model_fingerprint TEXT,
        model_name        TEXT,
        settings          TEXT NOT NULL,
        meta              TEXT NOT NULL,
        created_at        TEXT NOT NULL DEFAULT ${NOW},
        UNIQUE (pipeline, key)
      );
      CREATE INDEX circuits_run ON circuits(run_id);

      -- Every scored or in-circuit edge (not only the circuit), so a threshold can be re-applied.
      -- Names as in EAP-IG (sender 'a0.h1', receiver 'a3.h2<q>'); score NULL = no score.
      CREATE TABLE circuit_edges (
        circuit_id INTEGER NOT NULL REFERENCES circuits(id) ON DELETE CASCADE,
        sender     TEXT NOT NULL,
        receiver   TEXT NOT NULL,
        score      REAL,
        in_circuit INTEGER NOT NULL CHECK (in_circuit IN (0, 1)),
        PRIMARY KEY (circuit_id, sender, receiver)
      ) WITHOUT ROWID;

      -- Curves over a sweep of cuts (faithfulness against size, ROC against a ground truth), one row
      -- per point, named by (pipeline, key, kind) and optionally tied to a run and a circuit.
      CREATE TABLE circuit_curves (
        pipeline     TEXT NOT NULL,
        key          TEXT NOT NULL,
        kind         TEXT NOT NULL,
        point        INTEGER NOT NULL,
        run_id       INTEGER REFERENCES runs(id) ON DELETE CASCADE,
        circuit_id   INTEGER REFERENCES circuits(id) ON DELETE SET NULL,
        threshold    REAL,
        size         INTEGER,
        faithfulness REAL,
        tpr          REAL,
        fpr          REAL,
        PRIMARY KEY (pipeline, key, kind, point)
      ) WITHOUT ROWID;
      CREATE INDEX circuit_curves_run ON circuit_curves(run_id);
      CREATE INDEX circuit_curves_circuit ON circuit_curves(circuit_id);
    `,
  },
  {
    version: 3,
    name: 'unit leases',
    sql: `
      -- Who is computing which unit of work, so several processes (or machines sharing a database
      -- server) split a run's units instead of each computing all of them. scope names the work
      -- (a stage point's content-derived key), unit the unit within it; a row whose expires_at (ms
      -- since the epoch, by the database's clock) has passed may be taken over. Rows whose unit is
      -- '@worker:<holder>' say that holder is working in the scope at all (an attempt in progress).
      CREATE TABLE unit_leases (
        scope      TEXT NOT NULL,
        unit       TEXT NOT NULL,
        holder     TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (scope, unit)
      ) WITHOUT ROWID;
      CREATE INDEX unit_leases_holder ON unit_leases(holder);
    `,
  },
  {
    version: 4,
    name: 'one name for node-level ACDC',
    sql: `
      -- Node-level ACDC was stored as 'acdc-node' before the vocabulary named every method once;
      -- 'acdc-nodes' is the name pipelines and 'circuit list --method' use.
      UPDATE circuits SET method = 'acdc-nodes' WHERE method = 'acdc-node';
    `,
  },
  {
    version: 5,
    name: 'ACDC checkpoints and decisions',
    sql: `
      -- ACDC's progress inside a threshold (a unit of a discovery run), so that a killed threshold
      -- resumes after its last stored decision. One row per unit in progress: key names the
      -- settings it was made under (progress under another key is not applied), initial and current
      -- are the mean scores of the starting and the current circuit (NULL: NaN), decisions the number
      -- of acdc_decisions rows, pruned the removed-edge set as base64 of a bitset of cells bits.
      -- runs.saveUnit deletes the row in the transaction that marks the unit done.
      CREATE TABLE acdc_checkpoints (
        run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        unit       TEXT NOT NULL,
        key        TEXT NOT NULL,
        initial    REAL,
        current    REAL,
        decisions  INTEGER NOT NULL,
        pruned     TEXT NOT NULL,
        cells      INTEGER NOT NULL,
        updated_at TEXT NOT NULL DEFAULT ${NOW},
        PRIMARY KEY (run_id, unit)
      ) WITHOUT ROWID;

      -- A threshold's decisions in visiting order (step 0, 1, ...), appended as they are made; once
      -- the unit is saved they are its complete decision log. Metric values as in AcdcDecision.
      CREATE TABLE acdc_decisions (
        run_id        INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        unit          TEXT NOT NULL,
        step          INTEGER NOT NULL,
        name          TEXT NOT NULL,
        sender        INTEGER NOT NULL,
        receiver      INTEGER,
        metric_before REAL,
        metric_after  REAL,
        score         REAL,
        pruned        INTEGER NOT NULL CHECK (pruned IN (0, 1)),
        PRIMARY KEY (run_id, unit, step)
      ) WITHOUT ROWID;
      `,
  },
  {
    version: 6,
    name: 'method agreements',
    sql: `
      -- How well a run's estimated node effects (AtP) agree with the exact run of the same grid
      -- point: one row per pair of runs, the measures as JSON (comparisons.ts, AgreementSchema).
      CREATE TABLE method_agreements (
        exact_run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        estimate_run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        agreement       TEXT NOT NULL,
        computed_at     TEXT NOT NULL DEFAULT ${NOW},
        PRIMARY KEY (exact_run_id, estimate_run_id),
        CHECK (exact_run_id <> estimate_run_id)
      );
      CREATE INDEX method_agreements_estimate ON method_agreements(estimate_run_id);
    `,
  },
];

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the database up to SCHEMA_VERSION, each migration in its own write transaction. */
export async function migrate(conn: Connection): Promise<number> {
  MIGRATIONS.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${i} has version ${m.version}; versions must be 1, 2, 3, ...`);
  });
  // Connection.open has refused other applications' databases and newer schemas (file-check.ts) before this runs.
  const current = await userVersion(conn);
  for (const m of MIGRATIONS) {
    if (m.version <= current) continue;
    await conn.transaction(async () => {
      // Another process may have applied it between our read above and taking the write lock.
      if ((await userVersion(conn)) >= m.version) return;
      await conn.exec(m.sql);
      await conn.run('INSERT INTO schema_migrations (version, name) VALUES (?, ?)', [m.version, m.name]);
      // user_version lives in the database header, which the transaction covers.
      await conn.exec(`PRAGMA user_version = ${m.version}`);
      // Marks the file as patchwise's for other programs (and for files made before it was set).
      await conn.exec(`PRAGMA application_id = ${PATCHWISE_APPLICATION_ID}`);
    });
  }
  return userVersion(conn);
}

export async function userVersion(conn: Connection): Promise<number> {
  const row = await conn.get<{ user_version: number }>('PRAGMA user_version');
  return row?.user_version ?? 0;
}
