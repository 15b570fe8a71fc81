"""A sweep: every combination of a suite, one at a time, each recorded whatever happens.

Bad input is found before anything is written (names, options, output folder, device). Once
the sweep starts, a failing combination is recorded with its reason and the sweep goes on.
"""

from __future__ import annotations

import gc
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from harness.combination import SweepCache, run_combination
from harness.config import Suite
from harness.errors import CombinationError, UsageError
from harness.matrix import Combination, check_suite
from harness.pareto import annotate_tradeoffs
from harness.plugin_host import PluginHost
from harness.results import SCHEMA_VERSION, environment, now, write_json_atomic


class SweepReporter(Protocol):
    """Progress callbacks (the CLI draws rich progress bars; tests pass :class:`Silent`)."""

    def sweep_started(self, total: int) -> None: ...
    def combination_started(self, combination: Combination) -> None: ...
    def epoch_finished(self, epoch: int, train_loss: float, score: float) -> None: ...
    def combination_finished(self, record: dict[str, Any]) -> None: ...


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

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.document["records"] if r["status"] != "ok"]


def resolve_device(requested: str) -> torch.device:
    """``auto`` takes CUDA when present; asking for CUDA without it is an input error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cpu":
        return torch.device("cpu")
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(
                f"--device {requested}: CUDA is not available here (torch {torch.__version__}); "
                "use --device cpu or auto"
            )
        return torch.device(requested)
    raise UsageError(f"--device {requested}: expected auto, cpu or cuda[:N]")


def check_output_folder(out: Path) -> None:
    """Refuse an output folder that holds a run already or cannot be written; write nothing."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    if (out / "results.json").exists():
        raise UsageError(f"--out {out}: already holds a run (results.json); choose a new folder")
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


def run_sweep(
    suite: Suite,
    host: PluginHost,
    out: Path,
    *,
    device: str = "auto",
    reporter: SweepReporter | None = None,
) -> SweepResult:
    """Run every combination of ``suite`` into the run folder ``out``."""
    combinations, resolved = prepare_sweep(suite, host, out, device)
    reporter = reporter or Silent()
    out.mkdir(parents=True, exist_ok=True)
    (out / "predictions").mkdir(exist_ok=True)
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "suite": {
            "name": suite.name,
            "description": suite.description,
            "source": suite.path,
            "config": suite.model_dump(mode="json", exclude={"source", "path"}),
        },
        "started": now(),
        "finished": None,
        "environment": environment(str(resolved)),
        "plugins": [
            {"name": p.name, "distribution": p.distribution, "version": p.version}
            for p in host.loaded
        ],
        "records": [],
    }
    write_json_atomic(out / "results.json", document)
    cache = SweepCache()
    reporter.sweep_started(len(combinations))
    for combination in combinations:
        reporter.combination_started(combination)
        record = _run_one(combination, host, cache, resolved, out, suite, reporter)
        document["records"].append(record)
        write_json_atomic(out / "results.json", document)
        host.after_combination(combination.key, record)
        reporter.combination_finished(record)
    annotate_tradeoffs(document)
    document["finished"] = now()
    write_json_atomic(out / "results.json", document)
    return SweepResult(run_dir=out, document=document, cache=cache)


def _run_one(
    combination: Combination,
    host: PluginHost,
    cache: SweepCache,
    device: torch.device,
    out: Path,
    suite: Suite,
    reporter: SweepReporter,
) -> dict[str, Any]:
    key = combination.key
    config = combination.config()
    record: dict[str, Any] = {
        "key": key,
        "backbone": combination.backbone.name,
        "head_set": combination.head_set.name,
        "domain": combination.domain.name,
        "seed": combination.seed,
        "status": "ok",
        "error": None,
        "started": now(),
        "finished": None,
        "duration_s": None,
        "metrics": {},
        "efficiency": {},
        "fairness": {},
        "config": config,
    }
    started = time.perf_counter()
    try:
        host.before_combination(key, config)
        record.update(
            run_combination(
                combination,
                host,
                cache,
                device=device,
                predictions_dir=out / "predictions" / key,
                fairness_metrics=suite.fairness_metrics,
                on_epoch=reporter.epoch_finished,
            )
        )
    except (CombinationError, UsageError) as exc:
        _fail(record, str(exc), host, key, config, exc)
    except torch.cuda.OutOfMemoryError as exc:
        _fail(record, f"CUDA out of memory: {exc}".splitlines()[0], host, key, config, exc)
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        reason = (
            f"{type(exc).__name__}: {exc} "
            f"(at {Path(where.filename).name}:{where.lineno} in {where.name})"
        )
        _fail(record, reason, host, key, config, exc)
    record["finished"] = now()
    record["duration_s"] = time.perf_counter() - started
    gc.collect()  # the combination's model is garbage now; free it before the next one
    return record


def _fail(
    record: dict[str, Any],
    reason: str,
    host: PluginHost,
    key: str,
    config: dict[str, Any],
    exc: BaseException,
) -> None:
    record["status"] = "failed"
    record["error"] = reason
    host.on_combination_error(key, config, exc)
