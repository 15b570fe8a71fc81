"""The tradeoff summary of a record and the Pareto front over records."""

from __future__ import annotations

from typing import Any

import pytest

from mtrec.measure.pareto import OBJECTIVES, annotate_tradeoffs, dominates, pareto_front, summarise
from mtrec.store.results import results_schema


def _point(**values: float | None) -> dict[str, float | None]:
    base: dict[str, float | None] = {objective.name: None for objective in OBJECTIVES}
    base.update(values)
    return base


def _record(
    key: str,
    *,
    accuracy: float,
    rmse: float,
    p50: dict[str, float],
    memory: float,
    d_min: float | None = None,
    gaps: tuple[float, ...] = (),
    status: str = "ok",
) -> dict[str, Any]:
    fairness: dict[str, Any] = {}
    if d_min is not None:
        fairness["subtask-gain"] = {"d_min": d_min}
    if gaps:
        fairness["group-gap"] = {
            "category": {
                f"attr{i}": {"difference": gap, "group_min": 0.6 - gap, "group_max": 0.6}
                for i, gap in enumerate(gaps)
            },
            # a larger gap in other units (RMSE), but a smaller share of its metric
            "rating": {
                "age": {"difference": None},
                "gender": {"difference": 0.9, "group_min": 2.1, "group_max": 3.0},
            },
        }
    return {
        "key": key,
        "status": status,
        "tasks": {
            "category": {"primary_metric": "accuracy", "directions": {"accuracy": "higher"}},
            "rating": {"primary_metric": "rmse", "directions": {"rmse": "lower"}},
        },
        "metrics": {"category": {"accuracy": accuracy}, "rating": {"rmse": rmse}},
        "reference": {"trivial": {"category": {"accuracy": 0.5}, "rating": {"rmse": 2.0}}},
        "efficiency": {
            "latency_ms": {size: {"p50": value} for size, value in p50.items()},
            "peak_memory_mb": memory,
        },
        "fairness": fairness,
    }


def test_summary_figures() -> None:
    record = _record(
        "a", accuracy=0.75, rmse=1.0, p50={"32": 9.0, "1": 2.0}, memory=100.0, d_min=-3.5,
        gaps=(0.1, 0.3, 0.2),
    )  # fmt: skip
    summary = summarise(record)
    # accuracy x1.5, rmse halved (x2): geometric-mean gain sqrt(3) - 1 = +73.2 %
    assert summary["score"] == pytest.approx(100 * (3**0.5 - 1))
    assert summary["latency_p50_ms"] == 2.0  # batch size 1 preferred
    assert summary["peak_memory_mb"] == 100.0
    assert summary["d_min"] == -3.5
    # category's largest gap 0.3 of 0.6 (50 %) beats rating's 0.9 of 3.0 (30 %): in % of
    # each task's metric, never raw differences across units
    assert summary["worst_group_gap"] == pytest.approx(50.0)


def test_summary_without_optional_figures() -> None:
    record = _record("a", accuracy=0.5, rmse=3.0, p50={"32": 9.0}, memory=1.0)
    record["metrics"]["category"]["accuracy"] = None  # undefined metric: that task is skipped
    summary = summarise(record)
    assert summary["score"] == pytest.approx(100 * (2 / 3 - 1))  # rmse 3 vs trivial 2
    assert summary["latency_p50_ms"] == 9.0  # no batch size 1: the first measured
    assert summary["d_min"] is None
    assert summary["worst_group_gap"] is None
    assert summarise({"key": "x", "status": "ok"}) == {o.name: None for o in OBJECTIVES}


def test_dominated_points_are_excluded() -> None:
    summaries = {
        "fast": _point(score=10.0, latency_p50_ms=1.0, peak_memory_mb=100.0),
        "accurate": _point(score=30.0, latency_p50_ms=5.0, peak_memory_mb=100.0),
        "worse": _point(score=10.0, latency_p50_ms=2.0, peak_memory_mb=100.0),
        "worst": _point(score=5.0, latency_p50_ms=6.0, peak_memory_mb=200.0),
    }
    assert pareto_front(summaries) == ["fast", "accurate"]


def test_ties_stay_on_the_front_together() -> None:
    same = _point(score=1.0, latency_p50_ms=1.0)
    summaries = {"a": dict(same), "b": dict(same), "c": _point(score=0.5, latency_p50_ms=1.0)}
    assert not dominates(summaries["a"], summaries["b"])
    assert pareto_front(summaries) == ["a", "b"]


def test_none_skips_that_objective_for_the_comparison() -> None:
    # "b" has no fairness figure: compared with "a" on score and latency only, where it is worse.
    a = _point(score=2.0, latency_p50_ms=1.0, worst_group_gap=0.5)
    b = _point(score=1.0, latency_p50_ms=1.0, worst_group_gap=None)
    assert dominates(a, b) and not dominates(b, a)
    # "c" is better on the gap but worse on score: neither dominates.
    c = _point(score=1.0, latency_p50_ms=1.0, worst_group_gap=0.1)
    assert not dominates(a, c) and not dominates(c, a)
    assert pareto_front({"a": a, "b": b, "c": c}) == ["a", "c"]
    # Nothing in common: no comparison, both stay.
    assert pareto_front({"x": _point(score=1.0), "y": _point(latency_p50_ms=3.0)}) == ["x", "y"]


def test_annotate_a_three_record_document() -> None:
    document: dict[str, Any] = {
        "records": [
            _record("k1", accuracy=0.9, rmse=1.0, p50={"1": 10.0}, memory=500.0, gaps=(0.2,)),
            _record("k2", accuracy=0.6, rmse=1.8, p50={"1": 1.0}, memory=100.0, gaps=(0.1,)),
            # Slower, bigger and less accurate than k1 with the same gap: dominated.
            _record("k3", accuracy=0.8, rmse=1.2, p50={"1": 12.0}, memory=600.0, gaps=(0.2,)),
            {"key": "k4", "status": "failed", "error": "boom"},
        ]
    }
    annotate_tradeoffs(document)
    records = {record["key"]: record for record in document["records"]}
    assert [records[k]["pareto_optimal"] for k in ("k1", "k2", "k3")] == [True, True, False]
    assert "summary" not in records["k4"] and "pareto_optimal" not in records["k4"]
    assert records["k1"]["summary"]["score"] == pytest.approx(100 * ((1.8 * 2.0) ** 0.5 - 1))
    assert document["tradeoffs"]["front"] == ["k1", "k2"]
    assert [o["name"] for o in document["tradeoffs"]["objectives"]] == [
        "score", "latency_p50_ms", "peak_memory_mb", "d_min", "worst_group_gap",
    ]  # fmt: skip
    assert {o["direction"] for o in document["tradeoffs"]["objectives"]} == {"higher", "lower"}


def test_annotations_follow_the_results_schema() -> None:
    import jsonschema

    schema = results_schema()
    document: dict[str, Any] = {
        "records": [_record("k1", accuracy=0.9, rmse=1.0, p50={"1": 1.0}, memory=5.0)]
    }
    annotate_tradeoffs(document)
    record_schema = schema["$defs"]["record"]["properties"]
    for part, sub in (
        (document["tradeoffs"], schema["properties"]["tradeoffs"]),
        (document["records"][0]["summary"], record_schema["summary"]),
        (document["records"][0]["pareto_optimal"], record_schema["pareto_optimal"]),
    ):
        jsonschema.validate(part, {**sub, "$defs": schema["$defs"]})


def test_memory_axis_reads_the_cuda_peak_on_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a GPU the memory objective is the device's allocator peak, not host RSS (which on a
    GPU run is mostly the CUDA context and libraries, the same for every model)."""
    import torch

    from mtrec.measure import efficiency

    peaks = iter([512 * 2**20, 2048 * 2**20])  # bytes, as torch reports them
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: next(peaks))
    monkeypatch.setattr(efficiency, "cuda_process_memory_mb", lambda device: None)
    measured = []
    for _ in range(2):
        with efficiency.track_memory(torch.device("cuda")) as phase:
            pass
        measured.append(phase)
    small, large = (_record(k, accuracy=0.7, rmse=1.0, p50={"1": 2.0}, memory=0) for k in "ab")
    for record, phase, rss in ((small, measured[0], 3000.0), (large, measured[1], 1000.0)):
        record["efficiency"]["peak_memory_mb"] = rss  # host RSS: the larger for the smaller model
        record["efficiency"]["cuda_peak_memory_mb"] = phase.cuda_peak_allocated_mb
    assert summarise(small)["peak_memory_mb"] == 512.0
    assert summarise(large)["peak_memory_mb"] == 2048.0
    assert pareto_front({"a": summarise(small), "b": summarise(large)}) == ["a"]
    # a CPU record (no CUDA peak) keeps RSS
    large["efficiency"]["cuda_peak_memory_mb"] = None
    assert summarise(large)["peak_memory_mb"] == 1000.0
