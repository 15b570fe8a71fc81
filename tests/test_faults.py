"""Fault injection: planted failures end as failed records with the right reason; the sweep
goes on.

This module is itself the test plugin (registered through the PluginHost): backbone
``faulty`` is a tiny ID-embedding model whose ``fault`` option makes it misbehave while
training: raise from the plugin's loader, produce NaN, raise CUDA out-of-memory, kill its own
process or segfault, call ``sys.exit``, raise ``KeyboardInterrupt`` itself, send its own
process a real SIGINT, or train slowly (for SIGTERM). Process-executor workers load this module
again from its file. Storage faults (a full disk, a store turning read-only) are injected at
the writers.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from mtrec import BackboneSpec, Family, LoadedBackbone, Pooling, hookimpl
from mtrec.cli import main
from mtrec.cli.run import failure_summary
from mtrec.config import parse_suite
from mtrec.errors import StorageError, UsageError
from mtrec.measure import evaluation as evaluation_module
from mtrec.plugin_host import PluginHost
from mtrec.run import combination as combination_module
from mtrec.run import runner as runner_module
from mtrec.run.runner import run_sweep
from mtrec.store import results as results_module
from mtrec.store.database import Store
from mtrec.store.results import validate_results

PLANTED = "planted plugin failure"


class FaultyEmbeddings(nn.Module):
    """User x item embeddings that fail on purpose in training mode."""

    def __init__(self, fault: str, dim: int, oom_above: int) -> None:
        super().__init__()
        self.fault, self.oom_above = fault, oom_above
        self.users = nn.Embedding(64, dim)
        self.items = nn.Embedding(64, dim)

    def forward(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.users(user_ids % 64) * self.items(item_ids % 64)
        if not self.training:
            return out
        if self.fault == "nan":
            return out * float("nan")
        if self.fault == "oom" and len(user_ids) > self.oom_above:
            raise torch.cuda.OutOfMemoryError(
                f"CUDA out of memory. Tried to allocate 20.00 GiB (planted, batch {len(user_ids)})"
            )
        if self.fault == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if self.fault == "segv":
            ctypes.string_at(0)  # reads address 0: SIGSEGV
        if self.fault == "exit":
            sys.exit(3)
        if self.fault == "interrupt":
            raise KeyboardInterrupt
        if self.fault == "sigint":  # what Ctrl-C in the terminal does
            os.kill(os.getpid(), signal.SIGINT)
        if self.fault == "slow":
            mark = Path(os.environ["MTREC_TEST_TRAINING"])
            mark.with_suffix(".tmp").write_text(str(os.getpid()))
            mark.with_suffix(".tmp").replace(mark)  # whole, or not there yet
            time.sleep(0.2)
        return out


def load_faulty(fault: str = "none", dim: int = 8, oom_above: int = 0) -> LoadedBackbone:
    if fault == "raise":
        raise RuntimeError(PLANTED)
    return LoadedBackbone(
        model=FaultyEmbeddings(fault, dim, oom_above),
        tokenizer=None,
        hidden_size=dim,
        pooling=Pooling.CLS,
        source="faulty",
    )


@hookimpl
def mtrec_register_backbones() -> list[BackboneSpec]:
    return [
        BackboneSpec(
            name="faulty",
            family=Family.ID_EMBEDDING,
            pooling=Pooling.CLS,
            load=load_faulty,
            description="test: ID embeddings that fail on purpose",
            pretrained=False,
        )
    ]


def host() -> PluginHost:
    return PluginHost(extra_plugins=[("faults", sys.modules[__name__])])


def suite(backbones: str, extra: str = "") -> Any:
    text = f"""
name: faults
backbones: {backbones}
head_sets: [ecommerce-seed]
domains: [{{name: synthetic-ecommerce, options: {{n_users: 30, n_items: 30, n_interactions: 150}}}}]
training: {{epochs: 1, batch_size: 16}}
fairness_metrics: []
measure: {{latency_batch_sizes: [1], latency_warmup: 0, latency_min_repeats: 1,
          latency_min_seconds: 0, flops: false}}
{extra}
"""
    return parse_suite(text, origin="faults.yaml", source="file")


EXPECTED = {
    "raise": f"backbone 'faulty' (plugin 'faults') raised RuntimeError: {PLANTED}",
    "nan": "non-finite loss at epoch 1 step 1",
    "oom": (
        "CUDA out of memory: CUDA out of memory. Tried to allocate 20.00 GiB (planted, batch 16)"
    ),
    "kill": "worker died with signal 9 (SIGKILL; killed, possibly by the out-of-memory killer)",
    "segv": "worker died with signal 11 (SIGSEGV)",
}


def test_ten_combinations_five_planted_faults(tmp_path: Path) -> None:
    healthy = [f"{{name: faulty, options: {{dim: {dim}}}}}" for dim in (4, 6, 8, 10, 12)]
    planted = [f"{{name: faulty, options: {{fault: {fault}}}}}" for fault in EXPECTED]
    store = Store(tmp_path / "s.sqlite")
    result = run_sweep(
        suite("[" + ", ".join(healthy + planted) + "]"),
        host(),
        tmp_path / "run",
        device="cpu",
        executor="process",
        store=store,
    )
    records = result.document["records"]
    assert len(records) == 10
    assert [r["status"] for r in records] == ["ok"] * 5 + ["failed"] * 5
    reasons = {r["config"]["backbone"]["options"]["fault"]: r["error"] for r in records[5:]}
    assert reasons == EXPECTED
    assert [r["status"] for r in store.records()] == ["ok"] * 5 + ["failed"] * 5
    for record in records[:5]:
        assert record["efficiency"]["peak_memory_mb"] > 0  # measured in the worker
        assert (tmp_path / "run" / "predictions" / record["key"]).is_dir()
    summary = failure_summary(result)
    assert summary[0] == "5 of 10 combinations failed:"
    assert summary[-1] == (
        "  by reason: worker died 2, raised 1, non-finite loss 1, out of memory 1"
    )


def test_out_of_memory_retried_at_half_batch_size(tmp_path: Path) -> None:
    backbones = "[{name: faulty, options: {fault: oom, oom_above: 8}}]"
    failed = run_sweep(suite(backbones), host(), tmp_path / "plain", device="cpu")
    assert failed.document["records"][0]["error"].startswith("CUDA out of memory")
    retried = run_sweep(
        suite(backbones, "oom_retry: true"), host(), tmp_path / "retry", device="cpu"
    )
    record = retried.document["records"][0]
    assert record["status"] == "ok", record["error"]
    assert record["oom_retry"]["batch_size"] == 8
    assert record["key"] == failed.document["records"][0]["key"]  # same combination


@pytest.mark.parametrize("fault", ["nan", "raise"])
def test_in_process_faults_are_recorded_too(tmp_path: Path, fault: str) -> None:
    result = run_sweep(
        suite(f"[{{name: faulty, options: {{fault: {fault}}}}}, faulty]"),
        host(),
        tmp_path / "run",
        device="cpu",
    )
    assert [r["status"] for r in result.document["records"]] == ["failed", "ok"]
    assert result.document["records"][0]["error"] == EXPECTED[fault]


# --------------------------------------------------------------------------------------
# sys.exit and KeyboardInterrupt from plugin code vs the user's Ctrl-C
# --------------------------------------------------------------------------------------

EXITS = {
    "exit": "plugin code called sys.exit(3) (at test_faults.py:",
    "interrupt": "plugin code raised KeyboardInterrupt (at test_faults.py:",
}


@pytest.mark.parametrize("executor", ["local", "process"])
def test_plugin_calling_sys_exit_or_raising_keyboardinterrupt_fails_its_combination(
    tmp_path: Path, executor: str
) -> None:
    planted = ", ".join(f"{{name: faulty, options: {{fault: {fault}}}}}" for fault in EXITS)
    result = run_sweep(
        suite(f"[{planted}, faulty]"), host(), tmp_path / "run", device="cpu", executor=executor
    )
    records = result.document["records"]
    assert [r["status"] for r in records] == ["failed", "failed", "ok"]
    for record, (fault, reason) in zip(records, EXITS.items(), strict=False):
        assert record["config"]["backbone"]["options"]["fault"] == fault
        assert record["error"].startswith(reason), record["error"]
    assert "(not a Ctrl-C from the user)" in records[1]["error"]
    assert failure_summary(result)[0] == "2 of 3 combinations failed:"


def _ctrl_c_as_in_a_terminal() -> None:
    """SIGINT at its default, as in a terminal: a test run started in the background of a
    non-interactive shell inherits it ignored, and mtrec leaves an ignored signal alone."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def ctrl_c_reaches_python() -> Iterator[None]:
    """Python's own SIGINT handler for the test, whatever this test run inherited."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("ctrl_c_reaches_python")
def test_a_real_ctrl_c_still_stops_the_sweep(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(
            suite("[faulty, {name: faulty, options: {fault: sigint}}, {name: faulty, options: "
                  "{dim: 4}}]"),
            host(),
            out,
            device="cpu",
        )  # fmt: skip
    document = json.loads((out / "results.json").read_text())
    validate_results(document)
    assert [r["status"] for r in document["records"]] == ["ok"]  # the third never started
    assert document["finished"] is None
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


# --------------------------------------------------------------------------------------
# storage: a full disk under --out, a store turning read-only
# --------------------------------------------------------------------------------------

THREE = "[faulty, {name: faulty, options: {dim: 4}}, {name: faulty, options: {dim: 6}}]"


def enospc(path: Any) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def check_stopped_cleanly(out: Path, store: Store, ok: int, error: StorageError) -> None:
    """results.json valid and unfinished with ``ok`` records; no predictions without one."""
    text = str(error)
    assert "\n" not in text and "the sweep stopped" in text and "--resume" in text
    document = json.loads((out / "results.json").read_text())
    validate_results(document)
    assert document["finished"] is None
    assert [r["status"] for r in document["records"]] == ["ok"] * ok
    recorded = {r["key"] for r in document["records"]} | {r["key"] for r in store.records()}
    assert {p.name for p in (out / "predictions").iterdir()} == recorded


def resume_completes(out: Path, store: Store) -> None:
    result = run_sweep(suite(THREE), host(), out, device="cpu", store=store, resume=True)
    document = json.loads((out / "results.json").read_text())
    validate_results(document)
    assert document["finished"] is not None
    assert [r["status"] for r in document["records"]] == ["ok"] * 3
    assert len({r["key"] for r in document["records"]}) == 3
    keys = [r["key"] for r in store.records(document["run_id"])]
    assert sorted(keys) == sorted(r["key"] for r in document["records"])  # nothing lost, once
    assert result.failed == []


def test_disk_full_while_writing_predictions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = evaluation_module.save_predictions
    calls: list[Path] = []

    def filling_up(folder: Path, *args: Any, **kwargs: Any) -> list[str]:
        if folder.parent.name != "predictions":  # validation epochs, baselines
            return real(folder, *args, **kwargs)
        calls.append(folder)
        if len(calls) == 2:  # the second combination: half a file, then the disk is full
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "category.csv").write_text("id,user_id\n1,")
            raise enospc(folder / "category.csv")
        return real(folder, *args, **kwargs)

    monkeypatch.setattr(combination_module, "save_predictions", filling_up)
    out, store = tmp_path / "run", Store(tmp_path / "s.sqlite")
    with pytest.raises(StorageError) as raised:
        run_sweep(suite(THREE), host(), out, device="cpu", store=store)
    assert str(raised.value).startswith(
        f"No space left on device: {calls[1] / 'category.csv'} (while running faulty x "
    )
    check_stopped_cleanly(out, store, 1, raised.value)
    monkeypatch.setattr(combination_module, "save_predictions", real)
    resume_completes(out, store)


def test_disk_full_while_writing_results_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = results_module.write_json_atomic
    writes: list[int] = []

    def filling_up(path: Path, document: Any) -> None:
        if len(document["records"]) >= 2:  # the second record does not fit any more
            raise enospc(path)
        writes.append(len(document["records"]))
        real(path, document)

    monkeypatch.setattr(runner_module, "write_json_atomic", filling_up)
    out, store = tmp_path / "run", Store(tmp_path / "s.sqlite")
    with pytest.raises(StorageError) as raised:
        run_sweep(suite(THREE), host(), out, device="cpu", store=store)
    assert str(raised.value).startswith(f"{out / 'results.json'}: No space left on device")
    check_stopped_cleanly(out, store, 1, raised.value)
    # The second record reached the store before the disk filled up: --resume takes it back.
    assert len(store.records()) == 2
    monkeypatch.setattr(runner_module, "write_json_atomic", real)
    resume_completes(out, store)


def test_store_turning_read_only_mid_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "s.sqlite")
    real_open, real_add = Store._open, Store.add_record
    turned: list[bool] = []

    def add_then_turn_read_only(self: Store, run_id: str, record: Any) -> bool:
        stored = real_add(self, run_id, record)
        turned.append(True)  # from now on the file takes no writes
        return stored

    def opening(self: Store) -> sqlite3.Connection:
        if not turned:
            return real_open(self)
        connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None)
        connection.row_factory = sqlite3.Row
        return connection

    monkeypatch.setattr(Store, "add_record", add_then_turn_read_only)
    monkeypatch.setattr(Store, "_open", opening)
    out = tmp_path / "run"
    with pytest.raises(StorageError) as raised:
        run_sweep(suite(THREE), host(), out, device="cpu", store=store)
    assert str(raised.value).startswith(
        f"store {store.path}: attempt to write a readonly database; the sweep stopped"
    )
    # The record the store refused is in results.json all the same.
    check_stopped_cleanly(out, store, 2, raised.value)
    monkeypatch.setattr(Store, "_open", real_open)
    monkeypatch.setattr(Store, "add_record", real_add)
    assert len(store.records()) == 1
    resume_completes(out, store)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs (skipped where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


class FillsTheDisk:
    """A reporter that fills the disk under ``folder`` once the first record is written."""

    def __init__(self, folder: Path) -> None:
        self.filler = folder / "filler"

    def sweep_started(self, total: int) -> None:
        pass

    def combination_started(self, combination: Any) -> None:
        pass

    def epoch_finished(self, epoch: int, train_loss: float, score: float) -> None:
        pass

    def combination_finished(self, record: dict[str, Any]) -> None:
        if self.filler.exists():
            return
        with open(self.filler, "wb", buffering=0) as handle:  # nothing left to flush
            try:
                while True:
                    handle.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC


def test_a_real_full_disk_under_out(small_disk: Path, tmp_path: Path) -> None:
    out, store = small_disk / "run", Store(tmp_path / "s.sqlite")
    reporter = FillsTheDisk(small_disk)
    running = r"^No space left on device.* \(while running faulty x "
    with pytest.raises(StorageError, match=running) as raised:
        run_sweep(suite(THREE), host(), out, device="cpu", store=store, reporter=reporter)
    reporter.filler.unlink()  # the user frees space
    check_stopped_cleanly(out, store, 1, raised.value)
    resume_completes(out, store)


def test_a_store_read_only_from_the_start_is_bad_input_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.runs()  # a store that exists, then turns read-only

    def read_only(self: Store) -> sqlite3.Connection:
        connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None)
        connection.row_factory = sqlite3.Row
        return connection

    monkeypatch.setattr(Store, "_open", read_only)
    out = tmp_path / "run"
    with pytest.raises(UsageError, match=r"cannot start the run in .*readonly database"):
        run_sweep(suite(THREE), host(), out, device="cpu", store=store)
    assert not out.exists()


def test_storage_fault_is_one_line_and_its_own_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = results_module.write_json_atomic

    def full(path: Path, document: Any) -> None:
        if document["records"]:
            raise enospc(path)
        real(path, document)

    monkeypatch.setattr(runner_module, "write_json_atomic", full)
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(
        "name: full\nbackbones: [{name: id-embedding, options: {dim: 8}}]\n"
        "head_sets: [ecommerce-seed]\n"
        "domains: [{name: synthetic-ecommerce, options: {n_users: 30, n_items: 30, "
        "n_interactions: 150}}]\ntraining: {epochs: 1}\nfairness_metrics: []\n"
    )
    out = tmp_path / "run"
    code = main(
        ["run", str(suite_file), "--out", str(out), "--device", "cpu", "--quiet",
         "--store", str(tmp_path / "s.sqlite")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 74
    [line] = err.strip().splitlines()
    assert line.startswith(f"mtrec run: error: {out / 'results.json'}: No space left on device")
    assert "Traceback" not in err


# --------------------------------------------------------------------------------------
# SIGTERM under the process executor
# --------------------------------------------------------------------------------------


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.is_file() and stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z")


DRIVER = """
import importlib.util, sys
from mtrec import cli
from mtrec.plugin_host import PluginHost
spec = importlib.util.spec_from_file_location("faults_plugin", {path!r})
module = importlib.util.module_from_spec(spec)
sys.modules["faults_plugin"] = module
spec.loader.exec_module(module)
cli._host = lambda args: PluginHost(extra_plugins=[("faults", module)])
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    ("sent", "code", "last_line"),
    [(signal.SIGTERM, 143, "mtrec: terminated"), (signal.SIGINT, 130, "mtrec: interrupted")],
)
def test_sigterm_or_ctrl_c_stops_the_workers(
    tmp_path: Path, sent: signal.Signals, code: int, last_line: str
) -> None:
    sweep, worker = slow_sweep(tmp_path)
    try:
        sweep.send_signal(sent)
        stopped = time.monotonic()
        _, err = sweep.communicate(timeout=60)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == code, err
    assert time.monotonic() - stopped < 30
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert err.strip().splitlines()[-1] == last_line
    assert not running(worker)  # the worker stopped training with its driver
    document = json.loads((tmp_path / "run" / "results.json").read_text())
    validate_results(document)
    assert document["records"] == [] and document["finished"] is None


def test_a_worker_whose_driver_was_killed_ends_quietly(tmp_path: Path) -> None:
    sweep, worker = slow_sweep(tmp_path)
    try:
        sweep.kill()  # SIGKILL: the driver can stop nothing
        _, err = sweep.communicate(timeout=90)  # EOF once the worker is gone too
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == -signal.SIGKILL
    assert not running(worker)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def slow_sweep(tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    """``mtrec run --executor process`` on a slowly training backbone, once its worker trains;
    returns the driver and the worker's pid."""
    suite_file = tmp_path / "slow.yaml"
    suite_file.write_text(
        "name: slow\nbackbones: [{name: faulty, options: {fault: slow}}, faulty]\n"
        "head_sets: [ecommerce-seed]\n"
        "domains: [{name: synthetic-ecommerce, options: {n_users: 30, n_items: 30, "
        "n_interactions: 150}}]\ntraining: {epochs: 200, batch_size: 16, patience: 0}\n"
        "fairness_metrics: []\n"
    )
    training = tmp_path / "training.pid"
    out = tmp_path / "run"
    sweep = subprocess.Popen(
        [sys.executable, "-c", DRIVER.format(path=__file__), "run", str(suite_file),
         "--out", str(out), "--executor", "process", "--device", "cpu", "--quiet",
         "--store", str(tmp_path / "s.sqlite")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MTREC_TEST_TRAINING": str(training)},
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while not training.is_file() and time.monotonic() < deadline and sweep.poll() is None:
        time.sleep(0.1)
    if not training.is_file():
        sweep.kill()
        pytest.fail(f"the worker never trained: {sweep.communicate(timeout=30)}")
    return sweep, int(training.read_text())
