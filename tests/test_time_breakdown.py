"""Where a sweep's time goes: every record's wall time split into disjoint phases, the sweep's
``timing`` block, and the "Where the time went" table of the reports.

The phase clock itself is checked against a fake clock (exact seconds); the sweep is a tiny one
(a fine-tuned and a frozen tiny BERT, a two-head set so that single-task baselines run), and its
figures are checked for their relations (disjoint phases adding up to the record's wall time,
the sweep's sums, shares in [0, 1]), never for wall-clock values.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from mtrec import HeadSetSpec, HeadSpec, TaskType, hookimpl
from mtrec.config import parse_suite
from mtrec.plugin_host import PluginHost
from mtrec.reports import render_html, render_markdown
from mtrec.reports.terminal import print_summary
from mtrec.run import phases
from mtrec.run.phases import phase, phase_clock
from mtrec.run.runner import note_reports_time, run_sweep
from mtrec.store.results import validate_results

# Written out here rather than imported: the contract the records are read against.
RECORD_PHASES = {
    "load", "tokenise", "encode", "train", "validation", "test", "latency", "flops",
    "baselines", "fairness", "explain", "other",
}  # fmt: skip
MODEL_WORK = ("train", "validation", "test")


# --------------------------------------------------------------------------------------
# the phase clock, on a fake clock
# --------------------------------------------------------------------------------------


class FakeTime:
    """``time.perf_counter`` that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTime]:
    clock = FakeTime()
    monkeypatch.setattr("mtrec.run.phases.time.perf_counter", clock)
    yield clock


def test_nested_phases_charge_the_innermost(fake_time: FakeTime) -> None:
    with phase_clock() as clock:
        fake_time.advance(1.0)  # outside every phase: other
        with phase("train"):
            fake_time.advance(2.0)
            with phase("validation"):
                fake_time.advance(3.0)
            fake_time.advance(4.0)
            with phase("validation"):
                fake_time.advance(0.5)
        with phase("test"):
            fake_time.advance(5.0)
        fake_time.advance(0.25)
    fake_time.advance(99.0)  # after the clock stopped: not counted
    breakdown = clock.breakdown()
    assert breakdown["train"] == pytest.approx(6.0)
    assert breakdown["validation"] == pytest.approx(3.5)
    assert breakdown["test"] == pytest.approx(5.0)
    assert breakdown["other"] == pytest.approx(1.25)
    assert clock.wall_seconds == pytest.approx(15.75)
    assert sum(breakdown.values()) == pytest.approx(clock.wall_seconds)
    assert set(breakdown) == RECORD_PHASES
    assert all(
        breakdown[name] == 0.0 for name in RECORD_PHASES - {"train", "validation", "test", "other"}
    )
    assert phases.model_work_share(breakdown, clock.wall_seconds) == pytest.approx(14.5 / 15.75)


def test_a_whole_phase_takes_what_runs_inside_it(fake_time: FakeTime) -> None:
    with phase_clock() as clock:
        with phase("train"):
            fake_time.advance(1.0)
        with phase("baselines", whole=True):  # a baseline's own fit
            with phase("load"):
                fake_time.advance(2.0)
            with phase("train"):
                fake_time.advance(3.0)
                with phase("validation"):
                    fake_time.advance(1.0)
            fake_time.advance(0.5)
        with phase("train"):  # charged again once the whole phase is over
            fake_time.advance(1.0)
    breakdown = clock.breakdown()
    assert breakdown["baselines"] == pytest.approx(6.5)
    assert breakdown["train"] == pytest.approx(2.0)
    assert breakdown["load"] == breakdown["validation"] == 0.0
    assert breakdown["other"] == pytest.approx(0.0)


def test_a_phase_that_raises_is_still_charged(fake_time: FakeTime) -> None:
    with phase_clock() as clock:
        with pytest.raises(RuntimeError), phase("fairness"):
            fake_time.advance(2.0)
            raise RuntimeError("metric failed")
        fake_time.advance(1.0)
    assert clock.breakdown()["fairness"] == pytest.approx(2.0)
    assert clock.breakdown()["other"] == pytest.approx(1.0)


def test_phases_without_a_clock_do_nothing_and_names_are_checked(fake_time: FakeTime) -> None:
    with phase("train"):  # a library call outside a sweep
        fake_time.advance(1.0)
    with pytest.raises(ValueError, match="unknown phase 'trian'"), phase("trian"):
        pass
    # the remainder is never opened
    with pytest.raises(ValueError, match="unknown phase 'other'"), phase("other"):
        pass


def test_memory_samples_are_charged_to_the_phase_open_when_taken() -> None:
    """A sampler thread reads the resident set size every 50 ms and charges it to the phase
    open at that moment: each phase keeps its own peak."""
    import time as real_time

    held = {"other": 50.0, "load": 80.0, "train": 500.0}
    clocks: list[phases.PhaseClock] = []

    def rss() -> float:  # what the process would hold in the phase open now
        return held[clocks[0].current()] if clocks else held["other"]

    with phase_clock(rss=rss) as clock:
        clocks.append(clock)
        real_time.sleep(0.12)
        with phase("load"):
            real_time.sleep(0.12)
        with phase("train"):
            real_time.sleep(0.12)
            with phase("validation"):  # sampled while open, charged nothing but its samples
                held["validation"] = 120.0
                real_time.sleep(0.12)
    peaks = clock.rss_breakdown()
    assert peaks == {"load": 80.0, "train": 500.0, "validation": 120.0, "other": 50.0}
    assert list(peaks) == [name for name in phases.PHASES if name in peaks]  # report order
    with phase_clock() as quiet:  # no sampler unless asked
        real_time.sleep(0.06)
    assert quiet.rss_breakdown() == {}


def test_process_age_is_positive_where_proc_is_readable() -> None:
    age = phases.process_age_seconds()
    if not Path("/proc/self/stat").exists():
        assert age is None
        return
    assert age is not None and age > 0


# --------------------------------------------------------------------------------------
# a tiny sweep
# --------------------------------------------------------------------------------------


class TwoHeads:
    @hookimpl
    def mtrec_register_head_sets(self) -> list[HeadSetSpec]:
        return [
            HeadSetSpec(
                name="time-two",
                heads=(
                    HeadSpec(
                        task="click", task_type=TaskType.BINARY, label_field="click", loss="bce"
                    ),
                    HeadSpec(
                        task="rating",
                        task_type=TaskType.REGRESSION,
                        label_field="rating",
                        loss="mse",
                    ),
                ),
            )
        ]


SUITE = """
name: time-test
backbones: [tiny-bert, {name: tiny-bert, training: {strategy: frozen}}]
head_sets: [time-two]
domains: [{name: synthetic-ecommerce, options: {n_users: 30, n_items: 40, n_interactions: 160}}]
training: {epochs: 2, max_length: 32, batch_size: 32}
measure: {latency_batch_sizes: [1], latency_warmup: 0, latency_min_repeats: 2,
          latency_min_seconds: 0.0}
fairness: {baseline_seeds: 1, bootstrap_resamples: 20}
fairness_metrics: [subtask-gain]
"""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    suite = parse_suite(SUITE, origin="time.yaml", source="file")
    out = tmp_path_factory.mktemp("time") / "run"
    result = run_sweep(
        suite,
        PluginHost(extra_plugins=[("time-two", TwoHeads())]),
        out,
        device="cpu",
        startup_s=1.5,
    )
    assert [r["status"] for r in result.document["records"]] == ["ok", "ok"], [
        r["error"] for r in result.document["records"]
    ]
    return out, result.document


@pytest.fixture(scope="module")
def records(sweep: tuple[Path, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["training"]["strategy"]: r for r in sweep[1]["records"]}


def test_phases_are_disjoint_and_add_up_to_the_record(records: dict[str, dict[str, Any]]) -> None:
    for record in records.values():
        breakdown = record["efficiency"]["time_breakdown"]
        assert set(breakdown) <= RECORD_PHASES
        assert all(isinstance(v, float) and math.isfinite(v) and v >= 0 for v in breakdown.values())
        # overlapping phases would add up to more than the wall time
        assert sum(breakdown.values()) == pytest.approx(record["duration_s"], rel=1e-6, abs=1e-6)
        work = sum(breakdown.get(name, 0.0) for name in MODEL_WORK)
        share = record["efficiency"]["model_work_share"]
        assert 0.0 <= share <= 1.0
        assert share == pytest.approx(work / record["duration_s"])


def test_the_phases_that_ran_took_time_and_the_others_none(
    records: dict[str, dict[str, Any]],
) -> None:
    for record in records.values():
        breakdown = record["efficiency"]["time_breakdown"]
        for name in ("load", "train", "validation", "test", "latency", "flops", "baselines",
                     "fairness"):  # fmt: skip
            assert breakdown[name] > 0, (record["training"]["strategy"], name)
        assert breakdown.get("explain", 0.0) == 0.0  # not asked
        # the training loop's own step timer sits inside the train phase
        assert breakdown["train"] >= record["training"]["train_seconds"]
    # the frozen record built the feature cache; the fine-tuned one read the token cache
    assert records["frozen"]["efficiency"]["time_breakdown"]["encode"] > 0
    assert records["full"]["efficiency"]["time_breakdown"].get("encode", 0.0) == 0.0
    assert records["full"]["efficiency"]["time_breakdown"]["tokenise"] > 0


def test_the_sweep_timing_sums_its_records(sweep: tuple[Path, dict[str, Any]]) -> None:
    _, document = sweep
    timing = document["timing"]
    records = document["records"]
    assert timing["records"] == len(records)
    assert timing["startup_s"] == 1.5
    assert timing["records_s"] == pytest.approx(sum(r["duration_s"] for r in records))
    for name in RECORD_PHASES:
        expected = sum(r["efficiency"]["time_breakdown"].get(name, 0.0) for r in records)
        assert timing["phases"].get(name, 0.0) == pytest.approx(expected)
    # one combination at a time: the records fit inside the sweep
    assert timing["records_s"] <= timing["sweep_s"]
    assert timing["outside_records_s"] == pytest.approx(timing["sweep_s"] - timing["records_s"])
    assert timing["reports_s"] is None
    assert timing["wall_s"] == pytest.approx(1.5 + timing["sweep_s"])
    assert timing["total_s"] == pytest.approx(timing["wall_s"])
    work = sum(timing["phases"][name] for name in MODEL_WORK)
    assert 0.0 <= timing["model_work_share"] <= 1.0
    assert timing["model_work_share"] == pytest.approx(work / timing["total_s"])
    # memory: each record's peak resident set per phase, the sweep's the highest per phase
    for record in records:
        by_phase = record["efficiency"]["rss_by_phase_mb"]
        # sampled at the start and the end at least; a phase shorter than the 50 ms between
        # samples may have none
        assert by_phase and set(by_phase) <= RECORD_PHASES
        assert all(mib > 0 for mib in by_phase.values())
        assert max(by_phase.values()) <= record["efficiency"]["peak_memory_mb"] * 1.5 + 50
    for name, peak in timing["rss_by_phase_mb"].items():
        assert peak == max(r["efficiency"]["rss_by_phase_mb"].get(name, 0.0) for r in records)
    validate_results(document)


def _time_rows(markdown: str) -> dict[str, tuple[float, float]]:
    """label -> (seconds, share %) of report.md's "Where the time went" table."""
    section = markdown.split("## Where the time went", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[1].replace(",", "").replace(".", "").isdigit():
            rows[cells[0]] = (float(cells[1].replace(",", "")), float(cells[2].rstrip("%")))
    return rows


def test_the_reports_show_where_the_time_went(
    sweep: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, document = sweep
    document = json.loads(json.dumps(document))
    markdown = render_markdown(document, out)
    rows = _time_rows(markdown)
    timing = document["timing"]
    assert rows["training steps"][0] == pytest.approx(timing["phases"]["train"], abs=0.05)
    assert rows["start-up (imports, suite, plugins)"][0] == pytest.approx(1.5)
    assert "explanations" not in rows  # took no time
    assert sum(share for _, share in rows.values()) == pytest.approx(100.0, abs=0.1 * len(rows))
    assert f"Model work: {100 * timing['model_work_share']:.1f}% of" in markdown
    rss_cells = {
        line.strip("|").split("|")[0].strip(): line.strip("|").split("|")[4].strip()
        for line in markdown.split("## Where the time went", 1)[1].splitlines()
        if line.count("|") == 6
    }
    train_peak = timing["rss_by_phase_mb"].get("train")  # None: no sample fell in training
    assert rss_cells["training steps"] == ("" if train_peak is None else f"{train_peak:,.0f}")

    html = render_html(document, out)
    assert 'data-table="time"' in html and "Where the time went" in html

    console = Console(file=io.StringIO(), width=100, force_terminal=False)
    print_summary(document, console)
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "where the time went" in shown and "training steps" in shown

    # The reports' own time lands in results.json once they are written...
    document_before = json.loads(json.dumps(document))
    (tmp_path / "results.json").write_text(json.dumps(document), encoding="utf-8")
    note_reports_time(document, tmp_path, 2.0)
    saved = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert saved["timing"]["reports_s"] == 2.0
    assert saved["timing"]["wall_s"] == pytest.approx(timing["wall_s"] + 2.0)
    assert saved["timing"]["total_s"] == pytest.approx(timing["total_s"] + 2.0)
    validate_results(saved)
    # ...but not in the reports' table: `mtrec report` renders the very report the run wrote
    assert render_markdown(saved, out) == render_markdown(document_before, out)


def test_a_run_without_timing_has_no_time_section(sweep: tuple[Path, dict[str, Any]]) -> None:
    _, document = sweep
    older = json.loads(json.dumps(document))
    del older["timing"]
    for record in older["records"]:
        del record["efficiency"]["time_breakdown"]
    assert "Where the time went" not in render_markdown(older)
    assert 'data-table="time"' not in render_html(older)


def test_mtrec_run_records_its_start_up_and_its_reports(cli: Any, tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: t\nbackbones: [trivial]\nhead_sets: [ecommerce-seed]\n"
        "domains: [{name: synthetic-ecommerce, options: {n_interactions: 60}}]\n"
        "training: {epochs: 1}\nfairness_metrics: []\n"
        "measure: {latency_batch_sizes: [1], latency_min_repeats: 1, latency_min_seconds: 0}\n"
    )
    result = cli("run", str(suite), "--out", str(tmp_path / "run"), "--quiet")
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    timing = document["timing"]
    assert timing["startup_s"] is None or timing["startup_s"] > 0  # None: no /proc here
    assert timing["reports_s"] > 0
    assert timing["wall_s"] == pytest.approx(
        (timing["startup_s"] or 0.0) + timing["sweep_s"] + timing["reports_s"]
    )
    validate_results(document)
