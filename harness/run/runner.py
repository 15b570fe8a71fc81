"""A sweep: every combination of a suite, each recorded whatever happens.

Bad input is found before anything is written (names, options, output folder, device,
executor, store). Once the sweep starts, a failing combination is recorded with its reason and
the sweep goes on. Each record goes to the store first, then to ``results.json``, the moment
it is finished, so a sweep killed mid-way loses only the combinations that were running;
``resume`` skips what is already done (in this folder or, by key, anywhere in the store).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mtrec.config import Suite
from mtrec.contracts import Combination, Executor, SweepJob, SweepReporter, TrackerContext
from mtrec.errors import StorageError, UsageError
from mtrec.measure.ablation import input_ablations
from mtrec.measure.pareto import annotate_tradeoffs
from mtrec.plugin_host import PluginHost
from mtrec.run.devices import resolve_device
from mtrec.run.executors import executor_for
from mtrec.run.explain import check_explain
from mtrec.run.faults import describe_storage_fault, storage_fault, user_signals
from mtrec.run.matrix import check_suite
from mtrec.run.phases import sweep_timing, with_reports_time
from mtrec.run.resume import (
    ResumeCheck,
    continued_document,
    copy_from_store,
    settle,
)
from mtrec.run.run_folder import claim_run_folder
from mtrec.run.sweep_cache import SweepCache
from mtrec.run.trackers import check_trackers, with_trackers
from mtrec.store.database import Store
from mtrec.store.results import SCHEMA_VERSION, environment, now, write_json_atomic


class Silent:
    """A reporter that shows nothing."""

    def sweep_started(self, total: int) -> None:
        pass

    def combination_started(self, combination: Combination) -> None:
        pass

    def epoch_finished(self, epoch: int, train_loss: float, score: float) -> None:
        pass

    def combination_finished(self, record: dict[str, Any]) -> None:
        pass


@dataclass(frozen=True, kw_only=True)
class SweepResult:
    """What a finished sweep left behind."""

    run_dir: Path  # the run folder
    document: dict[str, Any]  # the results.json content
    cache: SweepCache  # shared work (tests inspect reuse counters)
    ran: list[str] = field(default_factory=list)  # keys computed by this call
    resumed: list[str] = field(default_factory=list)  # keys taken from earlier work

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.document["records"] if r["status"] != "ok"]


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (1-based): every count-th combination in key order."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"2/3"`` -> Shard(2, 3); anything else is an input error."""
        first, slash, second = text.partition("/")
        try:
            shard = cls(int(first), int(second)) if slash else None
        except ValueError:
            shard = None
        if shard is None or shard.count < 1 or not 1 <= shard.index <= shard.count:
            raise UsageError(f"--shard {text}: expected I/N with 1 <= I <= N, e.g. 1/4")
        return shard

    def select(self, combinations: list[Combination]) -> list[Combination]:
        """This shard's combinations, in matrix order. Keys are content hashes, so the split
        is the same on every machine and does not depend on the suite's listing order."""
        ordered = sorted(c.key for c in combinations)
        mine = {
            key for position, key in enumerate(ordered) if position % self.count == self.index - 1
        }
        return [c for c in combinations if c.key in mine]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def check_output_folder(out: Path) -> None:
    """Refuse an output folder that holds a run already or cannot be written; write nothing."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    if (out / "results.json").exists():
        raise UsageError(
            f"--out {out}: already holds a run (results.json); choose a new folder, "
            "or add --resume to continue it"
        )
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"--out {out}: {parent} is not a folder")
    # Probe with a real (anonymous, self-deleting) file: permission bits alone say little
    # to root or on read-only mounts.
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise UsageError(f"--out {out}: folder {parent} is not writable ({exc.strerror})") from None


def default_run_dir(suite: Suite, root: Path = Path("runs")) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return root / f"{suite.name}-{stamp}"


def prepare_sweep(
    suite: Suite, host: PluginHost, out: Path, device: str
) -> tuple[list[Combination], torch.device]:
    """Every check that can fail on bad input, before anything is written."""
    combinations = check_suite(suite, host.registries)
    resolved = resolve_device(device)
    check_output_folder(out)
    return combinations, resolved


def suite_block(suite: Suite) -> dict[str, Any]:
    """The ``suite`` block of results.json."""
    return {
        "name": suite.name,
        "description": suite.description,
        "source": suite.path,
        "config": suite.model_dump(mode="json", exclude={"source", "path"}),
    }


def run_sweep(
    suite: Suite,
    host: PluginHost,
    out: Path,
    *,
    device: str = "auto",
    reporter: SweepReporter | None = None,
    store: Store | None = None,
    resume: bool = False,
    executor: str = "local",
    shard: Shard | None = None,
    force: bool = False,
    startup_s: float | None = None,
) -> SweepResult:
    """Run every combination of ``suite`` (or of its ``shard``) into the run folder ``out``.

    With a ``store``, each record is appended to it as it finishes. With ``resume``, an
    ``out`` holding a run of the same suite is continued in place (its ok records kept, its
    failed ones retried), and a combination whose key has an ok record in the store (with
    its prediction files still on disk) is copied in instead of run again; either only when
    the record's code and data fingerprints match the combination's now. ``out`` is claimed
    for the run (:mod:`mtrec.run.run_folder`); ``force`` lets it hold files mtrec did not write.
    ``startup_s``: what the process took before this call (``mtrec run``: interpreter,
    imports, suite and plugins), for results.json's ``timing`` block.

    Raises :class:`StorageError` when the run folder or the store cannot be written any more
    (what finished is recorded), ``KeyboardInterrupt`` on Ctrl-C and
    :class:`SweepTerminated` on SIGTERM.
    """
    entered = time.perf_counter()
    combinations = check_suite(suite, host.registries)
    resolved = resolve_device(device)
    continuing = resume and (out / "results.json").is_file()
    block = suite_block(suite)
    shard_block = {"index": shard.index, "count": shard.count} if shard else None
    document = continued_document(out, block, shard_block) if continuing else None
    if document is None:
        check_output_folder(out)
    run_executor = executor_for(host, executor)
    trackers = check_trackers(suite.trackers, host.registries.trackers)
    check_explain(suite.explain, host.registries, combinations)
    if store is not None:
        store.runs()  # opens (creates) the store now: a bad store is bad input
    if shard is not None:
        combinations = shard.select(combinations)
    new_folder = not out.exists()
    with claim_run_folder(out, force=force), user_signals():
        return _sweep(
            suite,
            host,
            out,
            combinations,
            document,
            block,
            resolved=resolved,
            requested_device=device,
            reporter=with_trackers(
                reporter or Silent(), trackers, TrackerContext(run_dir=out, suite=suite.name)
            ),
            store=store,
            resume=resume,
            run_executor=run_executor,
            shard=shard_block,
            new_folder=new_folder,
            clock=(entered, startup_s),
        )


def _sweep(
    suite: Suite,
    host: PluginHost,
    out: Path,
    combinations: list[Combination],
    document: dict[str, Any] | None,
    block: dict[str, Any],
    *,
    resolved: torch.device,
    requested_device: str,
    reporter: SweepReporter,
    store: Store | None,
    resume: bool,
    run_executor: Executor,
    shard: dict[str, int] | None,
    new_folder: bool,
    clock: tuple[float, float | None],
) -> SweepResult:
    """:func:`run_sweep` once the folder is claimed."""
    (out / "predictions").mkdir(exist_ok=True)
    if document is None:
        document = {
            "schema_version": SCHEMA_VERSION,
            "run_id": uuid.uuid4().hex[:12],
            "suite": block,
            "started": now(),
            "finished": None,
            "environment": environment(str(resolved)),
            "plugins": [
                {"name": p.name, "distribution": p.distribution, "version": p.version}
                for p in host.loaded
            ],
            "records": [],
        }
        if shard is not None:
            document["shard"] = shard
    document.setdefault("run_id", uuid.uuid4().hex[:12])
    document["finished"] = None
    run_id: str = document["run_id"]
    try:
        if store is not None:
            store.add_run(
                run_id=run_id,
                path=out,
                suite=block,
                environment=document["environment"],
                started=document["started"],
                shard=_shard_text(shard) if shard else None,
            )
        write_json_atomic(out / "results.json", document)
    except (OSError, StorageError) as exc:  # nothing ran yet: the folder or store is unusable
        if new_folder:  # bad input leaves nothing behind
            shutil.rmtree(out, ignore_errors=True)
        raise UsageError(f"cannot start the run in {out}: {_storage_text(exc)}") from None

    cache = SweepCache()
    check = ResumeCheck(combinations, host, cache, suite.fairness_metrics) if resume else None
    events = _Events(document, out, host, reporter, store, run_id, check)
    try:
        done = settle(document, store, run_id, check)
        resumed: list[str] = []
        if check is not None and store is not None:
            for combination in combinations:
                if combination.key not in done and copy_from_store(
                    combination.key, store, out, document, run_id, check
                ):
                    done.add(combination.key)
                    resumed.append(combination.key)
        events.write()
        pending = [c for c in combinations if c.key not in done]
        for combination in pending:  # what a killed attempt left half-written
            shutil.rmtree(out / "predictions" / combination.key, ignore_errors=True)

        reporter.sweep_started(len(pending))
        run_executor.run(
            SweepJob(
                combinations=pending,
                host=host,
                device=resolved,
                requested_device=requested_device,
                run_dir=out,
                fairness_metrics=suite.fairness_metrics,
                resources=suite.resources,
                oom_retry=suite.oom_retry,
                cache=cache,
            ),
            events,
        )
        order = {c.key: position for position, c in enumerate(combinations)}
        document["records"].sort(key=lambda r: order.get(r["key"], len(order)))
        annotate_tradeoffs(document)
        ablations = input_ablations(document, out)
        if ablations:  # records differing only in their input options
            document["ablations"] = ablations
        entered, startup_s = clock
        ran = set(events.ran)
        document["timing"] = sweep_timing(
            [r for r in document["records"] if r["key"] in ran],
            sweep_seconds=time.perf_counter() - entered,
            startup_seconds=startup_s,
        )
        document["finished"] = now()
        events.write()
        if store is not None:
            store.finish_run(run_id, document["finished"])
    except StorageError as exc:
        raise events.stopped_by(exc) from exc
    except OSError as exc:  # an executor writing on the driver's side (ray: predictions)
        if storage_fault(exc) is None:
            raise
        raise events.stopped_by(StorageError(_storage_text(exc))) from exc
    return SweepResult(run_dir=out, document=document, cache=cache, ran=events.ran, resumed=resumed)


def note_reports_time(document: dict[str, Any], out: Path, seconds: float) -> None:
    """Add the reports' ``seconds`` to a finished sweep's ``timing`` block and rewrite its
    results.json (the reports are written after it, so they cannot show their own time)."""
    if "timing" not in document:
        return
    document["timing"] = with_reports_time(document["timing"], seconds)
    write_json_atomic(out / "results.json", document)


def _storage_text(exc: BaseException) -> str:
    fault = storage_fault(exc)
    if fault is not None:
        return describe_storage_fault(fault)
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
    return str(exc)


class _Events:
    """Where an executor's reports land: store first, then results.json, then plugins."""

    def __init__(
        self,
        document: dict[str, Any],
        out: Path,
        host: PluginHost,
        reporter: SweepReporter,
        store: Store | None,
        run_id: str,
        check: ResumeCheck | None,
    ) -> None:
        self.document = document
        self.out = out
        self.host = host
        self.reporter = reporter
        self.store = store
        self.run_id = run_id
        self.check = check
        self.ran: list[str] = []
        self.in_flight: set[str] = set()  # keys started and not finished
        self.written = 0  # records results.json holds on disk

    def started(self, combination: Combination) -> None:
        self.in_flight.add(combination.key)
        self.reporter.combination_started(combination)

    def epoch(self, epoch: int, train_loss: float, score: float) -> None:
        self.reporter.epoch_finished(epoch, train_loss, score)

    def finished(self, record: dict[str, Any]) -> None:
        if self.check is not None:
            record["resume"] = self.check.note_for(record["key"])
        problem: StorageError | None = None
        if self.store is not None:
            try:
                self.store.add_record(self.run_id, record)
            except StorageError as exc:  # still put the record in results.json
                problem = exc
        self.document["records"].append(record)
        self.ran.append(record["key"])
        self.in_flight.discard(record["key"])
        try:
            self.write()
        except StorageError as exc:
            problem = problem or exc
        if problem is not None:
            raise problem
        self.host.after_combination(record["key"], record)
        self.reporter.combination_finished(record)

    def write(self) -> None:
        """Write results.json; a full or read-only disk is a :class:`StorageError`."""
        path = self.out / "results.json"
        try:
            write_json_atomic(path, self.document)
        except OSError as exc:
            if storage_fault(exc) is None:
                raise
            raise StorageError(f"{path}: {_storage_text(exc)}") from exc
        self.written = len(self.document["records"])

    def stopped_by(self, exc: StorageError) -> StorageError:
        """The error that ends a sweep a storage fault stopped, after tidying up: the
        combinations that were running have no record, so their predictions go."""
        for key in self.in_flight:
            shutil.rmtree(self.out / "predictions" / key, ignore_errors=True)
        return StorageError(
            f"{exc}; the sweep stopped with {self.written} record(s) in "
            f"{self.out / 'results.json'}; free space or make it writable, then rerun with "
            f"--resume --out {self.out}"
        )


def _shard_text(shard: Any) -> str:
    return f"{shard['index']}/{shard['count']}" if isinstance(shard, dict) else "(whole suite)"
