"""``mtrec merge``: shard run folders joined into one run folder.

Shards of one suite (``mtrec run --shard i/n``, possibly on different machines) hold disjoint
sets of combinations. Merging checks that they are runs of the same suite configuration and
of distinct shards with no combination twice, then writes one run folder with every record
(in matrix order) and every prediction file, as if the suite had run in one go.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mtrec.errors import UsageError
from mtrec.run.resume import same_suite
from mtrec.run.run_folder import claim_run_folder
from mtrec.run.runner import check_output_folder
from mtrec.store.database import Store, record_id_of
from mtrec.store.results import SCHEMA_VERSION, write_json_atomic
from mtrec.store.results_reader import read_results


def read_run(folder: Path) -> dict[str, Any]:
    """The checked results.json of a run folder (:mod:`mtrec.store.results_reader`)."""
    return read_results(folder)


def merge_runs(out: Path, folders: Sequence[Path], store: Store | None = None) -> dict[str, Any]:
    """Join the shard runs in ``folders`` into the new run folder ``out``; return its document.

    Refuses (input error, nothing written) runs of different suites, the same shard twice,
    shards of different splits, and a combination present in two folders.
    """
    if len(folders) < 1:
        raise UsageError("merge: pass at least one shard run folder")
    documents = [read_run(folder) for folder in folders]
    check_output_folder(out)
    first = documents[0]
    config = (first.get("suite") or {}).get("config") or {}
    owner: dict[str, Path] = {}
    shards: dict[int, Path] = {}
    counts: set[int] = set()
    for folder, document in zip(folders, documents, strict=True):
        if not same_suite((document.get("suite") or {}).get("config") or {}, config):
            raise UsageError(
                f"merge: {folder} is a run of a different suite configuration than "
                f"{folders[0]}; merge only shards of one suite"
            )
        shard = document.get("shard")
        if isinstance(shard, dict):
            counts.add(int(shard["count"]))
            if shard["index"] in shards:
                raise UsageError(
                    f"merge: {folder} and {shards[shard['index']]} are both shard "
                    f"{shard['index']}/{shard['count']}"
                )
            shards[shard["index"]] = folder
        for record in document["records"]:
            if record["key"] in owner:
                raise UsageError(
                    f"merge: combination {record['key']} ({record['backbone']} x "
                    f"{record['head_set']} x {record['domain']}, seed {record['seed']}) is in "
                    f"both {owner[record['key']]} and {folder}; shards must not overlap"
                )
            owner[record["key"]] = folder
    if len(counts) > 1:
        raise UsageError(
            f"merge: shards of different splits (/{', /'.join(map(str, sorted(counts)))}); "
            "merge shards made with the same N"
        )
    if counts and len(shards) < max(counts):
        missing = sorted(set(range(1, max(counts) + 1)) - set(shards))
        print(
            f"mtrec merge: warning: shards {', '.join(map(str, missing))} of {max(counts)} "
            "are missing; the merged run lacks their combinations",
            file=sys.stderr,
        )

    records: list[dict[str, Any]] = []
    for document in documents:
        for record in document["records"]:
            merged = {k: v for k, v in record.items() if k not in {"summary", "pareto_optimal"}}
            merged["shard_run_id"] = document.get("run_id")
            records.append(merged)
    order = _matrix_order(first)
    records.sort(key=lambda r: (order.get(r["key"], len(order)), r["key"]))
    finished = [d.get("finished") for d in documents]
    document = {
        "schema_version": SCHEMA_VERSION,
        "run_id": uuid.uuid4().hex[:12],
        "suite": first["suite"],
        "started": min(d["started"] for d in documents),
        "finished": None if None in finished else max(str(f) for f in finished),
        "environment": first["environment"],
        "plugins": first.get("plugins", []),
        "merged_from": [
            {"run_id": d.get("run_id"), "folder": folder.name, "shard": d.get("shard")}
            for folder, d in zip(folders, documents, strict=True)
        ],
        "records": records,
    }
    try:
        from mtrec.measure.pareto import annotate_tradeoffs
    except ImportError:  # a checkout without the tradeoff module: nothing to annotate
        pass
    else:
        annotate_tradeoffs(document)

    with claim_run_folder(out):  # a new folder, or one holding only mtrec's files
        (out / "predictions").mkdir(exist_ok=True)
        for record in records:
            source = owner[record["key"]] / "predictions" / record["key"]
            if source.is_dir():
                shutil.copytree(source, out / "predictions" / record["key"])
            model = record.get("model")  # output.save_model: the shard's saved model
            if model is not None and (owner[record["key"]] / model["path"]).is_dir():
                shutil.copytree(owner[record["key"]] / model["path"], out / model["path"])
        from mtrec.measure.ablation import input_ablations

        ablations = input_ablations(document, out)  # pairs may span shards
        if ablations:
            document["ablations"] = ablations
        write_json_atomic(out / "results.json", document)
        if store is not None:
            store.add_run(
                run_id=document["run_id"],
                path=out,
                suite=document["suite"],
                environment=document["environment"],
                started=document["started"],
            )
            for record in records:
                # The record stays where its shard put it too; this copy belongs to the merge.
                origin = record_id_of(str(record.get("shard_run_id")), record)
                store.add_record(
                    document["run_id"], {**record, "record_id": f"{origin}+{document['run_id']}"}
                )
            if document["finished"] is not None:
                store.finish_run(document["run_id"], document["finished"])
    return document


def _matrix_order(document: dict[str, Any]) -> dict[str, int]:
    """Key -> position in the suite's matrix (empty if the suite cannot be rebuilt)."""
    from pydantic import ValidationError

    from mtrec.config import Suite
    from mtrec.errors import ConfigError
    from mtrec.run.matrix import expand

    try:
        suite = Suite.model_validate(document["suite"]["config"])
    except (ValidationError, KeyError, TypeError):
        return {}
    # head_sets: auto paired each domain with its own head set: the records say which.
    pairing = {
        record["domain"]: record["head_set"]
        for record in document.get("records", [])
        if isinstance(record, dict) and "domain" in record and "head_set" in record
    }
    try:
        combinations = expand(suite, pairing)
    except ConfigError:  # a domain no record holds
        return {}
    return {combination.key: position for position, combination in enumerate(combinations)}
