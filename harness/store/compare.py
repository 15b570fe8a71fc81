"""``mtrec compare``: is a candidate run worse than a baseline run, beyond noise?

Records of the two runs are matched by key (same resolved configuration); those left over are
matched by identity (backbone, head set, domain, seed) when that is unique on both sides, so a
changed recipe can still be compared, and the rest are listed. Each rule bounds how much one
metric may worsen, in that metric's own direction. A change in an accuracy metric counts as a
regression only when it exceeds the rule's tolerance, exceeds a minimum effect size, and the
paired bootstrap interval of (candidate - baseline) over the same test rows (a ranking task's
rows are users, paired by user id) excludes zero on the worse side; latency percentiles use an
unpaired bootstrap of the recorded timings; counts (FLOPs, parameters) and memory are compared
as recorded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtrec.errors import UsageError
from mtrec.measure.bootstrap import (
    DEFAULT_RESAMPLES,
    Interval,
    bootstrap,
    debiased,
    paired_difference,
    unpaired_difference,
)
from mtrec.measure.predictions import aligned_predictions, read_predictions
from mtrec.measure.resampled import resampled_metric, resampling_shifts
from mtrec.measure.tasks import HIGHER, METRICS
from mtrec.store.compare_rules import EFFICIENCY, WILDCARD, Rule
from mtrec.store.results_reader import read_results

DEFAULT_MIN_EFFECT = 0.005
LATENCY_BATCH = "1"  # latency rules read batch size 1 (else the first one measured)
UNTESTED = "decided without a significance test"  # the note when no interval could be had
ENVIRONMENT_KEYS = ("device", "device_name", "python", "torch", "transformers")


@dataclass(frozen=True, kw_only=True)
class Run:
    """A finished run to compare: its folder and its results document."""

    path: Path  # the run folder (results.json, predictions/)
    document: dict[str, Any]  # results.json
    name: str  # as given on the command line


@dataclass(frozen=True, kw_only=True)
class Check:
    """One metric of one matched combination held against one rule."""

    combination: str  # "backbone x head set x domain (seed N)"
    parts: tuple[str, ...]  # the same as (backbone, head set, domain, "seed N")
    metric: str  # "rating.rmse", "latency_p50" or "status"
    rule: str  # the rule applied
    direction: int  # +1 higher is better, -1 lower is better
    baseline: float | None  # the baseline run's value
    candidate: float | None  # the candidate run's value
    allowed: float  # worsening allowed by the rule (absolute, >= 0)
    interval: list[float] | None  # bootstrap interval of candidate - baseline, if computed
    regressed: bool  # the verdict
    note: str  # why (or why not), one phrase

    @property
    def change(self) -> float | None:
        if self.baseline is None or self.candidate is None:
            return None
        return self.candidate - self.baseline

    @property
    def relative_change(self) -> float | None:
        change = self.change
        if change is None or self.baseline is None or self.baseline == 0:
            return None
        return change / abs(self.baseline)


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """Everything ``mtrec compare`` found."""

    baseline: str  # how the baseline was named
    candidate: str  # how the candidate was named
    rules: list[str]  # the rules in force
    checks: list[Check]  # every metric checked, per matched combination
    matched: int  # combinations present in both runs
    by_identity: list[str] = field(default_factory=list)  # matched with differing configs
    only_baseline: list[str] = field(default_factory=list)  # combinations missing in candidate
    only_candidate: list[str] = field(default_factory=list)  # new combinations
    environment: list[str] = field(default_factory=list)  # "torch 2.3 -> 2.4", ...

    @property
    def regressions(self) -> list[Check]:
        return [check for check in self.checks if check.regressed]


# --------------------------------------------------------------------------------------
# input: runs
# --------------------------------------------------------------------------------------


def load_run(name: str) -> Run:
    """A run folder, or a run stored under that name or id; UsageError when neither."""
    path = Path(name)
    if not path.is_dir():
        stored = _stored_run(name)
        if stored is None:
            raise UsageError(
                f"{name}: no such run folder, and no run of that name or id in the results store"
            )
        path = stored
    document = read_results(path, name=name)
    return Run(path=path, document=document, name=name)


def _stored_run(name: str) -> Path | None:
    try:
        from mtrec.store.database import Store
    except ImportError:  # a build without the results store
        return None
    store = Store.default()
    if not store.path.is_file():
        return None  # looking a name up must not create an empty store
    found: Path | None = store.find_run(name)
    return found


# --------------------------------------------------------------------------------------
# comparing
# --------------------------------------------------------------------------------------


def compare_runs(
    baseline: Run,
    candidate: Run,
    rules: Sequence[Rule],
    *,
    min_effect: float = DEFAULT_MIN_EFFECT,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Comparison:
    """Hold every matched combination of ``candidate`` against ``baseline`` under ``rules``."""
    pairs, by_identity, only_baseline, only_candidate = match_records(
        baseline.document["records"], candidate.document["records"]
    )
    if not pairs and (only_baseline or only_candidate):
        # A gate that compares nothing would always pass: the wrong baseline, most likely.
        raise UsageError(
            f"{baseline.name} and {candidate.name} have no combination in common "
            "(neither the same key nor the same backbone x head set x domain x seed)"
        )
    _check_rule_tasks(rules, pairs)
    checks: list[Check] = []
    for before, after in pairs:
        parts = combination_parts(before)
        if before.get("status") != "ok":
            continue  # nothing to regress from
        if after.get("status") != "ok":
            checks.append(_status_check(parts, after))
            continue
        for target, rule in _targets(rules, before, after).items():
            if target in EFFICIENCY:
                checks.append(
                    _efficiency_check(parts, target, rule, before, after, resamples, seed)
                )
            else:
                checks.append(
                    _accuracy_check(
                        parts, target, rule, (baseline, before), (candidate, after),
                        min_effect=min_effect, resamples=resamples, seed=seed,
                    )
                )  # fmt: skip
    return Comparison(
        baseline=baseline.name,
        candidate=candidate.name,
        rules=[rule.text for rule in rules],
        checks=checks,
        matched=len(pairs),
        by_identity=by_identity,
        only_baseline=only_baseline,
        only_candidate=only_candidate,
        environment=environment_differences(baseline.document, candidate.document),
    )


def combination_parts(record: Mapping[str, Any]) -> tuple[str, ...]:
    return (
        str(record.get("backbone")),
        str(record.get("head_set")),
        str(record.get("domain")),
        f"seed {record.get('seed')}",
    )


def combination_label(record: Mapping[str, Any]) -> str:
    return _label(combination_parts(record))


def _label(parts: tuple[str, ...]) -> str:
    backbone, head_set, domain, seed = parts
    return f"{backbone} x {head_set} x {domain} ({seed})"


Record = dict[str, Any]


def match_records(
    baseline: Iterable[Record], candidate: Iterable[Record]
) -> tuple[list[tuple[Record, Record]], list[str], list[str], list[str]]:
    """Pairs by key, then by unique identity; plus the labels matched by identity and the
    labels found on one side only."""
    before = {record["key"]: record for record in baseline}
    after = {record["key"]: record for record in candidate}
    pairs = [(before[key], after[key]) for key in before if key in after]
    rest_before = [r for k, r in before.items() if k not in after]
    rest_after = [r for k, r in after.items() if k not in before]

    def identities(records: list[Record]) -> dict[str, list[Record]]:
        grouped: dict[str, list[Record]] = {}
        for record in records:
            grouped.setdefault(combination_label(record), []).append(record)
        return grouped

    left, right = identities(rest_before), identities(rest_after)
    by_identity = [
        label for label in left if len(left[label]) == 1 and len(right.get(label, ())) == 1
    ]
    pairs += [(left[label][0], right[label][0]) for label in by_identity]
    only_baseline = [
        combination_label(r) for r in rest_before if combination_label(r) not in by_identity
    ]
    only_candidate = [
        combination_label(r) for r in rest_after if combination_label(r) not in by_identity
    ]
    return pairs, by_identity, only_baseline, only_candidate


def _check_rule_tasks(rules: Sequence[Rule], pairs: Sequence[tuple[Record, Record]]) -> None:
    """A rule naming a task no compared record has is a typo, not a pass."""
    tasks = {task for before, _ in pairs for task in before.get("tasks", {})}
    for rule in rules:
        if rule.target == WILDCARD or rule.target in EFFICIENCY or not pairs:
            continue
        task = rule.target.rpartition(".")[0]
        if task not in tasks:
            known = ", ".join(sorted(tasks)) or "none"
            raise UsageError(
                f"--fail-on: rule '{rule.text}': no compared combination has task '{task}' "
                f"(tasks: {known})"
            )


def _targets(rules: Sequence[Rule], before: Record, after: Record) -> dict[str, Rule]:
    """Which metric each rule applies to for this pair; a named rule beats the wildcard."""
    shared = [t for t in before.get("tasks", {}) if t in after.get("tasks", {})]
    targets: dict[str, Rule] = {}
    for rule in rules:
        if rule.target == WILDCARD:
            for task in shared:
                targets.setdefault(f"{task}.{before['tasks'][task]['primary_metric']}", rule)
    for rule in rules:
        if rule.target == WILDCARD:
            continue
        task = rule.target.rpartition(".")[0]
        if rule.target in EFFICIENCY or task in shared:
            targets[rule.target] = rule
    return targets


def _status_check(parts: tuple[str, ...], after: Record) -> Check:
    return Check(
        combination=_label(parts),
        parts=parts,
        metric="status",
        rule="ok in baseline",
        direction=HIGHER,
        baseline=None,
        candidate=None,
        allowed=0.0,
        interval=None,
        regressed=True,
        note=f"failed in the candidate: {after.get('error')}",
    )


def _accuracy_check(
    parts: tuple[str, ...],
    target: str,
    rule: Rule,
    baseline: tuple[Run, Record],
    candidate: tuple[Run, Record],
    *,
    min_effect: float,
    resamples: int,
    seed: int,
) -> Check:
    task, _, metric = target.rpartition(".")

    recorded = (
        _number(baseline[1].get("metrics", {}).get(task, {}).get(metric)),
        _number(candidate[1].get("metrics", {}).get(task, {}).get(metric)),
    )

    def interval() -> Interval | str:
        for (run, record), side in ((baseline, "baseline"), (candidate, "candidate")):
            if read_predictions(run.path, record, task) is None:
                return f"no predictions of '{task}' in the {side} run"
        aligned = aligned_predictions(
            (baseline[0].path, baseline[1]), (candidate[0].path, candidate[1]), task
        )
        if aligned is None:
            return "the two runs' predictions share no test rows"
        old, new = aligned
        # The interval must be about the numbers being judged: predictions that do not give
        # the recorded value (an edited results.json, a different test split) cannot
        # vouch for it either way.
        for predictions, value, side in (
            (old, recorded[0], "baseline"),
            (new, recorded[1], "candidate"),
        ):
            full = resampled_metric(predictions, metric)(np.arange(len(predictions.y_true)))
            if value is not None and not math.isclose(full, value, rel_tol=1e-6, abs_tol=1e-9):
                return (
                    f"the {side}'s predictions give {metric} {full:.6g}, "
                    f"not the recorded {value:.6g}"
                )
        if resampling_shifts(old, metric) is None:
            return paired_difference(
                resampled_metric(old, metric),
                resampled_metric(new, metric),
                len(old.y_true),
                resamples=resamples,
                seed=seed,
            )
        # a ranking task's coverage, Gini, ...: each side's resamples sit off its estimate
        # by construction (fewer distinct users), the difference's by the two biases' gap
        before, after = resampled_metric(old, metric), resampled_metric(new, metric)
        shifted = bootstrap(
            lambda rows: after(rows) - before(rows),
            len(old.y_true),
            resamples=resamples,
            seed=seed,
            keep=True,
        )
        return debiased(shifted)

    return _judge(
        parts,
        target,
        rule,
        METRICS[metric].direction,
        *recorded,
        interval,
        min_effect=min_effect,
    )


def _efficiency_check(
    parts: tuple[str, ...],
    target: str,
    rule: Rule,
    before: Record,
    after: Record,
    resamples: int,
    seed: int,
) -> Check:
    old, old_samples = efficiency_value(before, target)
    new, new_samples = efficiency_value(after, target)

    def interval() -> Interval | None:
        if old_samples is None or new_samples is None:
            return None  # a count (FLOPs, parameters) or a single reading: as recorded
        percentile = float(target.removeprefix("latency_p"))
        return unpaired_difference(
            old_samples,
            new_samples,
            lambda sample: float(np.percentile(sample, percentile)),
            resamples=resamples,
            seed=seed,
        )

    return _judge(parts, target, rule, EFFICIENCY[target], old, new, interval, min_effect=0.0)


def _judge(
    parts: tuple[str, ...],
    target: str,
    rule: Rule,
    direction: int,
    before: float | None,
    after: float | None,
    interval_of: Callable[[], Interval | str | None],
    *,
    min_effect: float,
) -> Check:
    """The verdict on one metric; the (costly) interval is computed only where it decides.

    ``interval_of`` gives the bootstrap interval of the change; None where none applies (a
    count is compared as recorded), or why the test could not run: then the rule decides
    alone, and the note says so (a change beyond tolerance is a regression, not "n.s.").
    """
    interval: Interval | None = None
    if before is None or after is None:
        allowed, regressed, note = 0.0, False, "not reported by both runs"
    else:
        allowed = rule.allowed(before)
        worse = -direction * (after - before)
        if worse <= allowed:
            regressed, note = False, "within tolerance"
        elif worse < min_effect:
            regressed, note = False, f"below the minimum effect {min_effect:g}"
        elif (tested := interval_of()) is None:
            regressed, note = True, "beyond tolerance"
        elif isinstance(tested, str):
            regressed, note = True, f"beyond tolerance; {UNTESTED}: {tested}"
        elif _excludes_zero_on_worse_side(interval := tested, direction):
            regressed, note = True, "beyond tolerance, significant"
        else:
            regressed, note = False, "not significant (interval includes zero)"
    return Check(
        combination=_label(parts),
        parts=parts,
        metric=target,
        rule=rule.text,
        direction=direction,
        baseline=before,
        candidate=after,
        allowed=allowed,
        interval=interval.as_list() if interval is not None else None,
        regressed=regressed,
        note=note,
    )


def _excludes_zero_on_worse_side(interval: Interval, direction: int) -> bool:
    if interval.low is None or interval.high is None:
        return False
    return interval.high < 0 if direction == HIGHER else interval.low > 0


def efficiency_value(
    record: Mapping[str, Any], name: str
) -> tuple[float | None, np.ndarray | None]:
    """A recorded efficiency figure, and for latency the raw timings behind it."""
    efficiency = record.get("efficiency", {}) or {}
    if not name.startswith("latency_p"):
        return _number(efficiency.get(name)), None
    latency = efficiency.get("latency_ms", {}) or {}
    if not latency:
        return None, None
    measured = latency.get(LATENCY_BATCH) or next(iter(latency.values()))
    samples = measured.get("samples")
    array = np.asarray(samples, dtype=np.float64) if samples else None
    return _number(measured.get(name.removeprefix("latency_"))), array


def environment_differences(baseline: Mapping[str, Any], candidate: Mapping[str, Any]) -> list[str]:
    """'torch 2.3.0 -> 2.4.0' for each environment field that differs between two runs."""
    before = baseline.get("environment", {}) or {}
    after = candidate.get("environment", {}) or {}
    return [
        f"{key} {before.get(key)} -> {after.get(key)}"
        for key in ENVIRONMENT_KEYS
        if before.get(key) != after.get(key)
    ]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
