"""The results store: append-only history, idempotent writes, several writers, export."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mtrec.cli import main
from mtrec.errors import UsageError
from mtrec.store.database import Store


def record(key: str, status: str = "ok", **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "record_id": f"{key}-{status}-{extra.pop('attempt', 0)}",
        "backbone": "tiny-bert",
        "head_set": "ecommerce-seed",
        "domain": "synthetic-ecommerce",
        "seed": 0,
        "status": status,
        "error": None if status == "ok" else "planted",
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:00:01+00:00",
        "duration_s": 1.0,
        "metrics": {"click": {"auc": 0.75, "log_loss": float("nan")}},
        "efficiency": {"latency_ms": {"1": {"p50": 1.5, "samples": [1.4, 1.5]}}, "params": 10},
        "fairness": {"group-gap": {"click": {"age_group": {"difference": 0.1}}}},
        "config": {"seed": 0},
        "predictions": {"click": f"{key}/click.csv"},
        **extra,
    }


def add_run(store: Store, run_id: str, folder: Path) -> None:
    store.add_run(
        run_id=run_id,
        path=folder,
        suite={"name": "tiny", "config": {}},
        environment={"torch": "x", "device": "cpu"},
        started="2026-01-01T00:00:00+00:00",
    )


def test_records_are_appended_once_and_found_by_key(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    add_run(store, "run1", tmp_path / "first")
    assert store.add_record("run1", record("a", "failed"))
    assert store.add_record("run1", record("a", attempt=1))
    assert not store.add_record("run1", record("a", attempt=1))  # same record id: no-op
    assert store.ok_record("b") is None
    found = store.ok_record("a")
    assert found is not None and found["run_id"] == "run1" and found["status"] == "ok"
    assert found["metrics"]["click"]["log_loss"] is None  # NaN is stored as null
    assert [r["status"] for r in store.records("run1")] == ["failed", "ok"]
    assert store.ok_record("a", usable=lambda r: False) is None
    assert store.find_run("run1") == (tmp_path / "first").resolve()
    assert store.find_run("first") == (tmp_path / "first").resolve()
    assert store.find_run("nope") is None
    with pytest.raises(UsageError, match="unknown run id 'run2'"):
        store.add_record("run2", record("c"))
    store.finish_run("run1", "2026-01-01T00:00:09+00:00")
    assert store.runs()[0]["finished"] == "2026-01-01T00:00:09+00:00"
    assert store.runs()[0]["ok"] == 1 and store.runs()[0]["records"] == 2


def test_history_is_append_only_and_file_is_wal(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    add_run(store, "run1", tmp_path / "first")
    store.add_record("run1", record("a"))
    connection = sqlite3.connect(store.path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            connection.execute("UPDATE records SET status = 'failed'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            connection.execute("DELETE FROM records")
    finally:
        connection.close()
    assert store.integrity() == "ok"


def _writer(path: str, worker: int, count: int) -> None:
    store = Store(path)
    add_run(store, f"run{worker}", Path(path).parent / f"run{worker}")
    for index in range(count):
        store.add_record(f"run{worker}", record(f"k{worker}-{index}"))


def test_several_processes_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_writer, args=(str(path), w, 25)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    store = Store(path)
    records = store.records()
    assert len(records) == 100
    assert len({r["record_id"] for r in records}) == 100
    assert {run["records"] for run in store.runs()} == {25}
    assert store.integrity() == "ok"


def test_export_json_and_csv(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    add_run(store, "run1", tmp_path / "first")
    add_run(store, "run2", tmp_path / "second")
    store.add_record("run1", record("a"))
    store.add_record("run2", record("b", "failed"))
    stream = io.StringIO()
    store.export_json(stream, run="second")
    exported = json.loads(stream.getvalue())
    assert [r["run_id"] for r in exported["runs"]] == ["run2"]
    assert [r["key"] for r in exported["records"]] == ["b"]
    stream = io.StringIO()
    store.export_csv(stream)
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert [(r["run"], r["key"], r["status"]) for r in rows] == [
        ("first", "a", "ok"),
        ("second", "b", "failed"),
    ]
    assert rows[0]["metrics.click.auc"] == "0.75"
    assert rows[0]["efficiency.latency_ms.1.p50"] == "1.5"
    assert rows[0]["fairness.group-gap.click.age_group.difference"] == "0.1"
    assert "efficiency.latency_ms.1.samples" not in rows[0]  # lists are left out
    with pytest.raises(UsageError, match="no run 'third'"):
        store.records("third")


def test_store_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.sqlite"
    store = Store(path)
    add_run(store, "run1", tmp_path / "first")
    store.add_record("run1", record("a"))
    assert main(["store", "list", "--store", str(path)]) == 0
    assert "run1" in capsys.readouterr().out
    assert main(["store", "export", "--store", str(path), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("run1,first,a,")
    assert main(["store", "export", "--store", str(path), "--run", "first"]) == 0
    assert json.loads(capsys.readouterr().out)["records"][0]["key"] == "a"
    assert main(["store", "list", "--store", str(tmp_path / "missing.sqlite")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_file_that_is_not_a_store_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("not a database, just text " * 100)
    with pytest.raises(UsageError, match=r"notes\.sqlite"):
        Store(path).runs()
