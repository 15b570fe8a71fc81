"""The results store: every record of every run, in one embedded SQLite file.

Run folders hold one run each; the store holds the history. ``mtrec run`` appends each record
the moment it is finished, so a sweep killed mid-way loses at most the combination that was
running, and ``--resume`` finds what is done by key. The default file is
``runs/mtrec.sqlite`` (``$MTREC_STORE`` or ``--store`` elsewhere).

Several processes may write at once (parallel workers, shards on one machine): the file is in
WAL mode, every write is one ``BEGIN IMMEDIATE`` transaction, and a writer that finds the file
locked waits (busy timeout) instead of failing. Records are append-only (triggers refuse
updates and deletes); adding a record whose ``record_id`` is stored already is a no-op, so a
retried write never duplicates. Only a run's ``finished`` stamp is ever updated.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from mtrec.errors import StorageError, UsageError
from mtrec.run.faults import storage_fault
from mtrec.store.results import json_ready, now

STORE_ENV = "MTREC_STORE"
DEFAULT_STORE = Path("runs") / "mtrec.sqlite"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id       TEXT PRIMARY KEY,
    name         TEXT NOT NULL,     -- the run folder's name
    path         TEXT NOT NULL,     -- the run folder, absolute
    suite        TEXT NOT NULL,
    suite_config TEXT NOT NULL,     -- JSON
    environment  TEXT NOT NULL,     -- JSON
    started      TEXT NOT NULL,
    finished     TEXT,
    shard        TEXT               -- "i/n" for a shard of a suite
);
CREATE TABLE IF NOT EXISTS records (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id    TEXT NOT NULL UNIQUE,
    run_id       TEXT NOT NULL REFERENCES runs (run_id),
    key          TEXT NOT NULL,
    backbone     TEXT NOT NULL,
    head_set     TEXT NOT NULL,
    domain       TEXT NOT NULL,
    seed         INTEGER NOT NULL,
    status       TEXT NOT NULL,
    error        TEXT,
    started      TEXT,
    finished     TEXT,
    duration_s   REAL,
    resumed_from TEXT,              -- run id the record was copied from, if resumed
    config       TEXT NOT NULL,     -- JSON, as are the next four
    environment  TEXT NOT NULL,
    metrics      TEXT NOT NULL,
    efficiency   TEXT NOT NULL,
    fairness     TEXT NOT NULL,
    record       TEXT NOT NULL,     -- the whole record as results.json holds it
    stored       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_key ON records (key, status);
CREATE INDEX IF NOT EXISTS records_by_run ON records (run_id);
CREATE TRIGGER IF NOT EXISTS records_append_only_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_append_only_delete BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'records are append-only'); END;
"""

# Columns of a CSV export before the flattened metric, efficiency and fairness columns.
CSV_FIXED = (
    "run_id",
    "run",
    "key",
    "backbone",
    "head_set",
    "domain",
    "seed",
    "status",
    "error",
    "started",
    "finished",
    "duration_s",
    "resumed_from",
)


def record_id_of(run_id: str, record: Mapping[str, Any]) -> str:
    """The record's own id, or a stable one derived from what identifies it in its run."""
    given = record.get("record_id")
    if isinstance(given, str) and given:
        return given
    basis = json.dumps([run_id, record.get("key"), record.get("started")])
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]


class Store:
    """One SQLite results store (see the module docstring for the guarantees)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._ready = False

    @classmethod
    def default(cls) -> Store:
        """``$MTREC_STORE`` when set, else ``runs/mtrec.sqlite`` (the runs root)."""
        explicit = os.environ.get(STORE_ENV)
        return cls(Path(explicit).expanduser() if explicit else DEFAULT_STORE)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- connections -----------------------------------------------------------------------

    @contextmanager
    def _connect(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A short-lived connection (safe across fork and threads); ``write`` holds the write
        lock for the whole block and commits at its end, or rolls back on an error."""
        if not self._ready:
            self._initialise()
        connection = self._open()
        try:
            if write:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    yield connection
                except BaseException:
                    # A full disk can end the transaction already; ROLLBACK would then hide
                    # the real error behind "no transaction is active".
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")
            else:
                yield connection
        except sqlite3.DatabaseError as exc:
            if storage_fault(exc) is not None:
                # Mid-run, the store's disk filled up or turned read-only: not bad input.
                raise StorageError(f"store {self.path}: {exc}") from exc
            raise UsageError(f"store {self.path}: {exc}") from exc
        finally:
            connection.close()

    def _open(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.OperationalError as exc:
            raise UsageError(f"store {self.path}: cannot open ({exc})") from None
        connection.row_factory = sqlite3.Row
        connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("PRAGMA foreign_keys = ON")
        return connection

    def _initialise(self) -> None:
        if self.path.exists() and not self.path.is_file():
            raise UsageError(f"store {self.path}: exists and is not a file")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"store {self.path}: cannot create its folder ({exc.strerror})"
            ) from None
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                connection = self._open()
                try:
                    # WAL lets readers run beside one writer; the mode is stored in the file.
                    connection.execute("PRAGMA journal_mode = WAL")
                    version = connection.execute("PRAGMA user_version").fetchone()[0]
                    if version > SCHEMA_VERSION:
                        raise UsageError(
                            f"store {self.path}: schema version {version} is newer than this "
                            f"mtrec understands ({SCHEMA_VERSION}); upgrade mtrec"
                        )
                    connection.executescript(
                        f"BEGIN IMMEDIATE; {_SCHEMA}PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                    )
                finally:
                    connection.close()
                break
            except sqlite3.OperationalError as exc:
                # Two processes creating the file at once can both see "locked" while the
                # journal mode switches; the busy handler does not cover that step.
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise UsageError(f"store {self.path}: {exc}") from None
                time.sleep(0.05)
            except sqlite3.DatabaseError as exc:
                raise UsageError(
                    f"store {self.path}: not an mtrec store ({exc}); "
                    f"pass another file with --store or {STORE_ENV}"
                ) from None
        self._ready = True

    # -- writing ---------------------------------------------------------------------------

    def add_run(
        self,
        *,
        run_id: str,
        path: Path,
        suite: Mapping[str, Any],
        environment: Mapping[str, Any],
        started: str,
        shard: str | None = None,
    ) -> None:
        """Register a run (its folder, suite block and environment); a no-op if known."""
        with self._connect(write=True) as db:
            db.execute(
                "INSERT OR IGNORE INTO runs (run_id, name, path, suite, suite_config, "
                "environment, started, shard) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    path.name,
                    str(path.resolve()),
                    str(suite.get("name", "")),
                    _dumps(suite),
                    _dumps(environment),
                    started,
                    shard,
                ),
            )

    def finish_run(self, run_id: str, finished: str) -> None:
        """Stamp a run finished (the one update the store allows)."""
        with self._connect(write=True) as db:
            db.execute("UPDATE runs SET finished = ? WHERE run_id = ?", (finished, run_id))

    def add_record(self, run_id: str, record: Mapping[str, Any]) -> bool:
        """Append a record of a registered run; False if that record is stored already."""
        with self._connect(write=True) as db:
            environment = db.execute(
                "SELECT environment FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if environment is None:
                raise UsageError(f"store {self.path}: unknown run id '{run_id}'")
            cursor = db.execute(
                "INSERT OR IGNORE INTO records (record_id, run_id, key, backbone, head_set, "
                "domain, seed, status, error, started, finished, duration_s, resumed_from, "
                "config, environment, metrics, efficiency, fairness, record, stored) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record_id_of(run_id, record),
                    run_id,
                    record["key"],
                    record["backbone"],
                    record["head_set"],
                    record["domain"],
                    record["seed"],
                    record["status"],
                    record.get("error"),
                    record.get("started"),
                    record.get("finished"),
                    record.get("duration_s"),
                    record.get("resumed_from"),
                    _dumps(record.get("config") or {}),
                    environment[0],
                    _dumps(record.get("metrics") or {}),
                    _dumps(record.get("efficiency") or {}),
                    _dumps(record.get("fairness") or {}),
                    _dumps(record),
                    now(),
                ),
            )
            return cursor.rowcount == 1

    # -- reading ---------------------------------------------------------------------------

    def ok_record(
        self, key: str, *, usable: Callable[[dict[str, Any]], bool] | None = None
    ) -> dict[str, Any] | None:
        """The newest ok record of ``key`` (that ``usable`` accepts), with its ``run_id``."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT run_id, record FROM records WHERE key = ? AND status = 'ok' "
                "ORDER BY seq DESC",
                (key,),
            ).fetchall()
        for row in rows:
            record = {**json.loads(row["record"]), "run_id": row["run_id"]}
            if usable is None or usable(record):
                return record
        return None

    def find_run(self, name_or_id: str) -> Path | None:
        """The folder of a run given its run id or its name (newest of that name)."""
        with self._connect() as db:
            row = db.execute(
                "SELECT path FROM runs WHERE run_id = ? OR name = ? "
                "ORDER BY run_id = ? DESC, started DESC LIMIT 1",
                (name_or_id, name_or_id, name_or_id),
            ).fetchone()
        return Path(row["path"]) if row is not None else None

    def runs(self) -> list[dict[str, Any]]:
        """Every run, oldest first, with its record counts."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT runs.run_id, name, path, suite, runs.started, runs.finished, shard, "
                "COUNT(records.seq) AS records, "
                "COALESCE(SUM(records.status = 'ok'), 0) AS ok "
                "FROM runs LEFT JOIN records ON records.run_id = runs.run_id "
                "GROUP BY runs.run_id ORDER BY runs.started, runs.rowid"
            ).fetchall()
        return [dict(row) for row in rows]

    def records(self, run: str | None = None) -> list[dict[str, Any]]:
        """Every record (of one run, by id or name), in the order stored, with ``run_id``."""
        query = "SELECT run_id, record FROM records"
        parameters: tuple[str, ...] = ()
        if run is not None:
            run_id = self._run_id(run)
            if run_id is None:
                raise UsageError(f"store {self.path}: no run '{run}' (see mtrec store list)")
            query += " WHERE run_id = ?"
            parameters = (run_id,)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY seq", parameters).fetchall()
        return [{**json.loads(row["record"]), "run_id": row["run_id"]} for row in rows]

    def _run_id(self, name_or_id: str) -> str | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT run_id FROM runs WHERE run_id = ? OR name = ? "
                "ORDER BY run_id = ? DESC, started DESC LIMIT 1",
                (name_or_id, name_or_id, name_or_id),
            ).fetchone()
        return str(row["run_id"]) if row is not None else None

    def integrity(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` answer ("ok" when the file is sound)."""
        with self._connect() as db:
            return str(db.execute("PRAGMA integrity_check").fetchone()[0])

    # -- export ----------------------------------------------------------------------------

    def export_json(self, stream: IO[str], run: str | None = None) -> None:
        """Runs and records as one JSON document."""
        runs = self.runs()
        if run is not None:
            run_id = self._run_id(run)
            runs = [r for r in runs if r["run_id"] == run_id]
        document = {"store_schema_version": SCHEMA_VERSION, "runs": runs}
        document["records"] = self.records(run)
        json.dump(json_ready(document), stream, indent=2, allow_nan=False)
        stream.write("\n")

    def export_csv(self, stream: IO[str], run: str | None = None) -> None:
        """One row per record: identity columns, then ``metrics.TASK.METRIC``,
        ``efficiency.*`` and ``fairness.*`` scalars (lists such as latency samples left out)."""
        names = {r["run_id"]: r["name"] for r in self.runs()}
        rows: list[dict[str, Any]] = []
        extra: dict[str, None] = {}
        for record in self.records(run):
            row: dict[str, Any] = {column: record.get(column) for column in CSV_FIXED}
            row["run"] = names.get(record["run_id"], "")
            for part in ("metrics", "efficiency", "fairness"):
                for column, value in _flatten(part, record.get(part) or {}):
                    row[column] = value
                    extra[column] = None
            rows.append(row)
        writer = csv.DictWriter(stream, fieldnames=[*CSV_FIXED, *sorted(extra)], restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})


def _dumps(value: Any) -> str:
    return json.dumps(json_ready(value), allow_nan=False, sort_keys=True)


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for name, inner in value.items():
            yield from _flatten(f"{prefix}.{name}", inner)
    elif isinstance(value, bool | int | float | str) or value is None:
        yield prefix, value
