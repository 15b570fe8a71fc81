"""``--resume``: which earlier records a run may reuse, and why (or why not).

An earlier ok record of the same key is reused only when its fingerprint (see
:mod:`mtrec.run.fingerprint`) equals the combination's current one: the same mtrec and plugin
versions and the same loaded domain data. Every record of a resumed run says what happened in
its ``resume`` block: ``{"reused": true, "reason": ...}`` for a record kept or copied in, and
``{"reused": false, "reason": ...}`` for one computed again (no earlier record, or why the
earlier one no longer fits).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

from mtrec.config import OutputConfig
from mtrec.contracts import Combination
from mtrec.errors import UsageError
from mtrec.plugin_host import PluginHost
from mtrec.run.faults import stop_requested
from mtrec.run.fingerprint import combination_fingerprint, fingerprint_difference
from mtrec.store.database import Store
from mtrec.store.results_reader import read_results

SAME = "same key, code fingerprint and data fingerprint"


class ResumeCheck:
    """Compares earlier records with the current fingerprints of a sweep's combinations."""

    def __init__(
        self,
        combinations: list[Combination],
        host: PluginHost,
        cache: Any,
        fairness_metrics: list[str] | None,
    ) -> None:
        self.by_key = {c.key: c for c in combinations}
        self.host = host
        self.cache = cache
        self.fairness_metrics = fairness_metrics
        self._current: dict[str, dict[str, Any] | str] = {}
        self.notes: dict[str, dict[str, Any]] = {}  # key -> resume block of its fresh record

    def current(self, key: str) -> dict[str, Any] | str:
        """The combination's fingerprint now, or why it cannot be computed."""
        if key not in self._current:
            try:
                self._current[key] = combination_fingerprint(
                    self.by_key[key], self.host, self.cache, self.fairness_metrics
                )
            except Exception as exc:
                self._current[key] = f"its domain could not be loaded ({exc})"
            except (KeyboardInterrupt, SystemExit) as exc:
                if stop_requested():
                    raise
                self._current[key] = f"its domain's plugin ended with {type(exc).__name__}"
        return self._current[key]

    def mismatch(self, record: dict[str, Any]) -> str:
        """Why ``record`` may not stand for its combination now ("" when it may)."""
        current = self.current(record["key"])
        if isinstance(current, str):
            return f"cannot check the data fingerprint: {current}"
        return fingerprint_difference(record.get("fingerprint"), current)

    def not_reused(self, key: str, reason: str, earlier_run_id: str | None) -> None:
        self.notes.setdefault(
            key, {"reused": False, "reason": reason, "earlier_run_id": earlier_run_id}
        )

    def note_for(self, key: str) -> dict[str, Any]:
        return self.notes.get(
            key,
            {"reused": False, "reason": "no earlier ok record of this key", "earlier_run_id": None},
        )


# Suite fields that say how to run, not what: they may change between a run and its resume.
EXECUTION_FIELDS = frozenset({"resources", "oom_retry", "trackers"})


def same_suite(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """Whether two suite configs define the same matrix and recipe (execution settings and
    the file they came from aside)."""

    def what(config: dict[str, Any]) -> dict[str, Any]:
        # a run written before the output block existed saved no models: the default
        defaults = {"output": OutputConfig().model_dump(mode="json")}
        return {**defaults, **{k: v for k, v in config.items() if k not in EXECUTION_FIELDS}}

    return what(first) == what(second)


def continued_document(
    out: Path, block: dict[str, Any], shard: dict[str, int] | None
) -> dict[str, Any]:
    """The document of the run in ``out``, checked to be a run of the same suite."""
    try:
        document = read_results(out)  # the one reader: missing, unreadable, malformed
    except UsageError as exc:
        raise UsageError(f"--resume: {exc}") from None
    previous = document.get("suite") or {}
    if not same_suite(previous.get("config") or {}, block["config"]):
        raise UsageError(
            f"--resume: {out} holds a run of a different suite configuration "
            f"('{previous.get('name')}'); resume with the same suite and flags, or use a new --out"
        )
    if document.get("shard") != shard:
        raise UsageError(
            f"--resume: {out} holds shard {_shard_text(document.get('shard'))}, "
            f"not {_shard_text(shard)}; pass the same --shard"
        )
    return document


def _shard_text(shard: Any) -> str:
    return f"{shard['index']}/{shard['count']}" if isinstance(shard, dict) else "(whole suite)"


def settle(
    document: dict[str, Any],
    store: Store | None,
    run_id: str,
    check: ResumeCheck | None,
) -> set[str]:
    """Keys this run has a reusable ok record for. Failed records are dropped (they are
    retried; the store keeps them as history), and so are ok records whose fingerprint no
    longer matches (``check``). An ok record the store holds for this run but the document
    lacks (killed between the two writes) is taken back from the store; one the document
    holds but the store lacks (the store failed) is added to it."""
    candidates = [r for r in document["records"] if r.get("status") == "ok"]
    in_document = {r["key"] for r in candidates}
    stored_ids: set[str] = set()
    if store is not None:
        for record in store.records(run_id):
            stored_ids.add(str(record.get("record_id")))
            if (
                record["status"] == "ok"
                and (check is None or record["key"] in check.by_key)
                and record["key"] not in in_document
            ):
                record.pop("run_id", None)
                candidates.append(record)
                in_document.add(record["key"])
    kept: list[dict[str, Any]] = []
    for record in candidates:
        if check is not None and record["key"] in check.by_key:
            reason = check.mismatch(record)
            if reason:
                check.not_reused(record["key"], f"an earlier attempt of this run: {reason}", run_id)
                continue
            record["resume"] = {
                "reused": True,
                "reason": f"finished by an earlier attempt of this run; {SAME}",
                "earlier_run_id": run_id,
            }
        if store is not None and str(record.get("record_id")) not in stored_ids:
            store.add_record(run_id, record)
        kept.append(record)
    document["records"] = kept
    return {r["key"] for r in kept}


def copy_from_store(
    key: str, store: Store, out: Path, document: dict[str, Any], run_id: str, check: ResumeCheck
) -> bool:
    """Copy the newest reusable ok record of ``key`` (and its predictions) into this run."""
    folders: dict[str, Path | None] = {}

    def source(record: dict[str, Any]) -> Path | None:
        run = record["run_id"]
        if run not in folders:
            folders[run] = store.find_run(run)
        return folders[run]

    def usable(record: dict[str, Any]) -> bool:
        folder = source(record)
        if folder is None or record["run_id"] == run_id:
            return False
        files = (record.get("predictions") or {}).values()
        if not all((folder / "predictions" / name).is_file() for name in files):
            return False
        model = record.get("model")  # output.save_model: the saved model comes along
        if model is not None and not (folder / model["path"]).is_dir():
            return False
        if model is None and check.by_key[key].output.save_model:
            return False  # this run saves models; that record has none
        reason = check.mismatch(record)
        if reason:
            earlier = record["run_id"]
            check.not_reused(key, f"ok record of run {earlier}: {reason}", earlier)
        return not reason

    record = store.ok_record(key, usable=usable)
    if record is None:
        return False
    folder = source(record)
    assert folder is not None
    target = out / "predictions" / key
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(folder / "predictions" / key, target)
    if record.get("model"):
        shutil.rmtree(out / record["model"]["path"], ignore_errors=True)
        shutil.copytree(folder / record["model"]["path"], out / record["model"]["path"])
    copied = {k: v for k, v in record.items() if k not in {"run_id", "summary", "pareto_optimal"}}
    copied["resumed_from"] = record["run_id"]
    copied["resume"] = {
        "reused": True,
        "reason": f"ok record of run {record['run_id']}; {SAME}",
        "earlier_run_id": record["run_id"],
    }
    copied["record_id"] = uuid.uuid4().hex
    store.add_record(run_id, copied)
    document["records"].append(copied)
    check.notes.pop(key, None)
    return True
