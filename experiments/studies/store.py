"""Where study results live: one SQLite file (stdlib ``sqlite3``, WAL mode), ``runs/studies.sqlite`` by default.

Tables:

- ``studies``: name, the spec (JSON of :meth:`Study.to_dict`), its hash, the minigrad version
  that created it, created and updated times, the source file;
- ``cells``: one row per (study, method, grid point, seed) with its status (``pending``,
  ``running``, ``done``, ``failed``: the cell diverged or raised, ``lost``: its worker died on
  both tries), error, attempts, wall and training time, worker host and device, and the
  ``init_hash``/``data_hash`` fingerprints of the paired design;
- ``measurements``: per cell, evaluation iteration and evaluated split (``test``,
  ``validation``), the train loss, eval loss, eval error and eval accuracy (a reconstruction
  task leaves error and accuracy NULL);
- ``curves``: per cell, the training loss every ``curve_stride`` iterations.

Only the driver writes; workers return results. Each finished cell is committed in one
transaction with its measurements and curve, so killing the driver loses only the cells that
were running. Readers (``minigrad study status`` in another shell, the report) work while a
study runs, thanks to WAL. A file that is not such a store is reported and never overwritten.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import minigrad
from experiments.studies.cell import CellResult
from experiments.studies.spec import Cell, Study, study_from_stored

DEFAULT_STORE = Path("runs") / "studies.sqlite"
SCHEMA_VERSION = 1
#: The measurement columns a task may fill, besides ``iteration`` and ``train_loss``.
EVAL_COLUMNS = ("eval_loss", "eval_error", "eval_accuracy")

SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    spec_hash TEXT NOT NULL,
    minigrad_version TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    source TEXT
);
CREATE TABLE IF NOT EXISTS cells (
    id INTEGER PRIMARY KEY,
    study TEXT NOT NULL REFERENCES studies(name) ON DELETE CASCADE,
    key TEXT NOT NULL,
    method TEXT NOT NULL,
    grid TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    wall_time REAL,
    train_time REAL,
    worker_host TEXT,
    device TEXT,
    init_hash TEXT,
    data_hash TEXT,
    started TEXT,
    finished TEXT,
    UNIQUE (study, key)
);
CREATE TABLE IF NOT EXISTS measurements (
    cell_id INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE,
    iteration INTEGER NOT NULL,
    split TEXT NOT NULL,
    train_loss REAL,
    eval_loss REAL,
    eval_error REAL,
    eval_accuracy REAL,
    PRIMARY KEY (cell_id, iteration, split)
);
CREATE TABLE IF NOT EXISTS curves (
    cell_id INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE,
    iteration INTEGER NOT NULL,
    train_loss REAL NOT NULL,
    PRIMARY KEY (cell_id, iteration)
);
"""
TABLES = ("cells", "curves", "measurements", "studies")


class StoreError(RuntimeError):
    """The store cannot be used: not a study store, corrupt, or from an unknown schema version."""


class StudyChanged(RuntimeError):
    """A study of this name exists in the store with a different spec."""


def _schema_columns() -> dict[str, list[str]]:
    """Each table's columns as :data:`SCHEMA` defines them (read from a throw-away in-memory database)."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(SCHEMA)
        return {t: [r[1] for r in db.execute(f"PRAGMA table_info({t})")] for t in TABLES}
    finally:
        db.close()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@dataclass
class StoredStudy:
    """A study's row: its spec and bookkeeping."""

    name: str
    study: Study
    spec_hash: str
    minigrad_version: str
    created: str
    updated: str
    source: str | None


class StudyStore:
    """A study store in the SQLite file ``path`` (created by :meth:`open` with ``create=True``)."""

    def __init__(self, path: str | Path, connection: sqlite3.Connection) -> None:
        self.path = Path(path)
        self.db = connection

    # ----- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path = DEFAULT_STORE, create: bool = False) -> StudyStore:
        """Open the store at ``path``; with ``create``, make a new one if no file is there.

        Raises FileNotFoundError when there is no file and ``create`` is false, and
        :class:`StoreError` when the file is not a readable study store (it is left untouched).
        """
        path = Path(path)
        exists = path.exists()
        if not exists and not create:
            raise FileNotFoundError(f"no study store at {path} (run a study first, or pass --store PATH)")
        if exists and path.is_dir():
            raise StoreError(f"{path} is a directory, not a study store")
        if not exists:
            path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are opened explicitly (BEGIN) where several writes belong together.
        db = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
        try:
            tables = cls._check(db, path)
            if not tables:
                db.execute("PRAGMA journal_mode=WAL")
                # One transaction, so a crash never leaves half a schema; IMMEDIATE and IF NOT EXISTS,
                # so two drivers creating the same store at once wait for each other instead of failing.
                db.executescript(f"BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
        except BaseException:
            db.close()
            raise
        db.execute("PRAGMA foreign_keys=ON")
        db.row_factory = sqlite3.Row
        return cls(path, db)

    @staticmethod
    def _check(db: sqlite3.Connection, path: Path) -> set[str]:
        """The store's tables after checking, read-only, that the file is one of ours (empty set: a new database)."""
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if tables:
                problem = db.execute("PRAGMA quick_check").fetchone()[0]
                if problem != "ok":
                    raise StoreError(f"{path} is a corrupt SQLite database ({problem}); it was left untouched")
        except sqlite3.DatabaseError as err:
            raise StoreError(
                f"{path} is not a readable study store ({err}); it was left untouched: "
                "move it aside or give another --store"
            ) from None
        if not tables:
            return set()  # a new or empty database: adding our tables overwrites nothing
        if not set(TABLES) <= tables or version != SCHEMA_VERSION:
            raise StoreError(
                f"{path} is not a minigrad study store of schema version {SCHEMA_VERSION} "
                f"(tables {sorted(tables)}, user_version {version}); it was left untouched"
            )
        expected = _schema_columns()
        for table in TABLES:
            columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
            if columns != expected[table]:
                raise StoreError(
                    f"{path}: table {table} has columns {columns}, a study store's has {expected[table]}; "
                    "it was left untouched"
                )
        return tables

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def __enter__(self) -> StudyStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ----- studies ------------------------------------------------------------------------------
    def get_study(self, name: str) -> StoredStudy | None:
        """The stored study called ``name``, or None."""
        row = self.db.execute("SELECT * FROM studies WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        return StoredStudy(
            name=row["name"],
            study=study_from_stored(json.loads(row["spec"])),
            spec_hash=row["spec_hash"],
            minigrad_version=row["minigrad_version"],
            created=row["created"],
            updated=row["updated"],
            source=row["source"],
        )

    def require_study(self, name: str) -> StoredStudy:
        """The stored study called ``name``; KeyError listing the stored names if there is none."""
        stored = self.get_study(name)
        if stored is None:
            names = self.study_names()
            raise KeyError(f"no study {name!r} in {self.path}; stored: {', '.join(names) if names else '(none)'}")
        return stored

    def study_names(self) -> list[str]:
        """Every stored study's name, oldest first."""
        return [r[0] for r in self.db.execute("SELECT name FROM studies ORDER BY created, name")]

    def begin_study(self, study: Study, restart: bool = False) -> list[Cell]:
        """Register ``study`` (or check it against its stored spec) and its cells; return the cells to run.

        A stored study of the same name must have the same :meth:`Study.spec_hash`, else
        :class:`StudyChanged`, unless ``restart``, which deletes its cells first. New seeds add
        cells (the stored spec keeps the union of seeds). Cells ``done`` or ``failed`` are
        skipped; ``pending``, ``lost`` and ``running`` ones (a driver that died) are returned.
        """
        stored = self.get_study(study.name)
        spec_hash = study.spec_hash()
        with self.transaction() as db:
            if stored is not None and stored.spec_hash != spec_hash and not restart:
                raise StudyChanged(
                    f"study {study.name!r} in {self.path} was created from another spec (hash "
                    f"{stored.spec_hash[:12]}, now {spec_hash[:12]}); rename the study, or start it over with "
                    "--restart (its results are deleted)"
                )
            if stored is not None and restart:
                db.execute("DELETE FROM studies WHERE name = ?", (study.name,))
                stored = None
            seeds = tuple(study.seeds)
            if stored is not None:
                seeds = tuple(stored.study.seeds) + tuple(s for s in study.seeds if s not in stored.study.seeds)
            spec = json.dumps(study.with_seeds(seeds).to_dict(), sort_keys=True)
            if stored is None:
                db.execute(
                    "INSERT INTO studies (name, spec, spec_hash, minigrad_version, created, updated, source) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (study.name, spec, spec_hash, minigrad.__version__, _now(), _now(), study.source),
                )
            else:
                db.execute("UPDATE studies SET spec = ?, updated = ? WHERE name = ?", (spec, _now(), study.name))
            # A new driver starts: cells left "running" by one that died go back to the queue.
            db.execute("UPDATE cells SET status = 'pending' WHERE study = ? AND status = 'running'", (study.name,))
            cells = study.cells()
            db.executemany(
                "INSERT OR IGNORE INTO cells (study, key, method, grid, seed, status) "
                "VALUES (?, ?, ?, ?, ?, 'pending')",
                [(study.name, c.key, c.method, json.dumps(c.grid, sort_keys=True), c.seed) for c in cells],
            )
            finished = {
                r[0]
                for r in db.execute(
                    "SELECT key FROM cells WHERE study = ? AND status IN ('done', 'failed')", (study.name,)
                )
            }
        return [c for c in cells if c.key not in finished]

    # ----- cells --------------------------------------------------------------------------------
    def mark_running(self, study: str, key: str, attempt: int) -> None:
        """Record that ``key`` was handed to a worker (its ``attempt``-th try)."""
        self.db.execute(
            "UPDATE cells SET status = 'running', attempts = ?, started = ? WHERE study = ? AND key = ?",
            (attempt, _now(), study, key),
        )

    def mark_pending(self, study: str, keys: Sequence[str]) -> None:
        """Put cells back in the queue (the driver stopped before they finished)."""
        self.db.executemany(
            "UPDATE cells SET status = 'pending' WHERE study = ? AND key = ? AND status = 'running'",
            [(study, k) for k in keys],
        )

    def record(self, study: str, result: CellResult) -> None:
        """Store a finished cell, its measurements and curve, in one transaction."""
        with self.transaction() as db:
            row = db.execute("SELECT id FROM cells WHERE study = ? AND key = ?", (study, result.key)).fetchone()
            if row is None:
                raise KeyError(f"cell {result.key!r} of study {study!r} is not in {self.path}")
            cell_id = row[0]
            db.execute("DELETE FROM measurements WHERE cell_id = ?", (cell_id,))
            db.execute("DELETE FROM curves WHERE cell_id = ?", (cell_id,))
            db.execute(
                "UPDATE cells SET status = ?, error = ?, attempts = ?, wall_time = ?, train_time = ?, worker_host = ?,"
                " device = ?, init_hash = ?, data_hash = ?, finished = ? WHERE id = ?",
                (
                    result.status,
                    result.error,
                    result.attempt,
                    result.wall_time,
                    result.train_time,
                    result.host,
                    result.device,
                    result.init_hash,
                    result.data_hash,
                    _now(),
                    cell_id,
                ),
            )
            db.executemany(
                f"INSERT INTO measurements (cell_id, iteration, split, train_loss, {', '.join(EVAL_COLUMNS)}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (cell_id, m["iteration"], m["split"], m["train_loss"], *(m.get(col) for col in EVAL_COLUMNS))
                    for m in result.measurements
                ],
            )
            db.executemany(
                "INSERT INTO curves (cell_id, iteration, train_loss) VALUES (?, ?, ?)",
                [(cell_id, it, loss) for it, loss in result.curve],
            )

    def record_lost(self, study: str, key: str, attempts: int, error: str) -> None:
        """Mark a cell whose worker died on every try as ``lost`` (a later run tries it again)."""
        self.db.execute(
            "UPDATE cells SET status = 'lost', error = ?, attempts = ?, finished = ? WHERE study = ? AND key = ?",
            (error, attempts, _now(), study, key),
        )

    # ----- reading ------------------------------------------------------------------------------
    def cells(self, study: str) -> list[dict[str, Any]]:
        """Every cell row of ``study`` as a dict (grid decoded), in insertion order."""
        rows = self.db.execute("SELECT * FROM cells WHERE study = ? ORDER BY id", (study,)).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["grid"] = json.loads(d["grid"])
            out.append(d)
        return out

    def status_counts(self, study: str) -> dict[str, int]:
        """``{status: number of cells}`` for ``study``."""
        rows = self.db.execute("SELECT status, COUNT(*) FROM cells WHERE study = ? GROUP BY status", (study,))
        return {status: n for status, n in rows}

    def measurements(self, study: str) -> list[dict[str, Any]]:
        """Every measurement of ``study``'s cells, joined with the cell's key, method, grid, seed and status."""
        rows = self.db.execute(
            "SELECT c.key, c.method, c.grid, c.seed, c.status, m.* FROM measurements m "
            "JOIN cells c ON c.id = m.cell_id WHERE c.study = ? ORDER BY c.id, m.iteration, m.split",
            (study,),
        ).fetchall()
        return [{**dict(r), "grid": json.loads(r["grid"])} for r in rows]

    def curves(self, study: str) -> list[dict[str, Any]]:
        """Every training-curve point of ``study``'s cells, with the cell's key, method, grid, seed and status."""
        rows = self.db.execute(
            "SELECT c.key, c.method, c.grid, c.seed, c.status, k.iteration, k.train_loss FROM curves k "
            "JOIN cells c ON c.id = k.cell_id WHERE c.study = ? ORDER BY c.id, k.iteration",
            (study,),
        ).fetchall()
        return [{**dict(r), "grid": json.loads(r["grid"])} for r in rows]

    def result_numbers(self, study: str) -> dict[str, dict[str, Any]]:
        """Per cell key: status, error, fingerprints, measurements and curve (to compare two runs exactly)."""
        out: dict[str, dict[str, Any]] = {}
        for c in self.cells(study):
            out[c["key"]] = {
                "status": c["status"],
                "error": c["error"],
                "init_hash": c["init_hash"],
                "data_hash": c["data_hash"],
                "measurements": [],
                "curve": [],
            }
        for m in self.measurements(study):
            out[m["key"]]["measurements"].append(
                (m["iteration"], m["split"], m["train_loss"], *(m[col] for col in EVAL_COLUMNS))
            )
        for k in self.curves(study):
            out[k["key"]]["curve"].append((k["iteration"], k["train_loss"]))
        return out
