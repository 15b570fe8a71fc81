"""The rules of ``mtrec compare --fail-on``: how much each metric may worsen.

``METRIC:+N%`` (a share of the baseline value) or ``METRIC:+N`` (absolute), comma separated.
N is always the allowed worsening in the metric's own direction, so ``click.auc:-1%`` and
``click.auc:+1%`` say the same. METRIC is ``TASK.METRIC``, ``*`` (every task's primary
metric) or an efficiency figure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from mtrec.errors import UsageError
from mtrec.measure.tasks import HIGHER, LOWER, METRICS

WILDCARD = "*"  # every task's primary metric
DEFAULT_RULES = "*:+2%,flops_per_sample:+0%"

# Efficiency figures a rule can name, with their direction.
EFFICIENCY: Mapping[str, int] = {
    "latency_p50": LOWER,
    "latency_p90": LOWER,
    "latency_p95": LOWER,
    "latency_p99": LOWER,
    "flops_per_sample": LOWER,
    "peak_memory_mb": LOWER,
    "params": LOWER,
    "trainable_params": LOWER,
    "train_samples_per_s": HIGHER,
    "inference_samples_per_s": HIGHER,
}

_RULE = re.compile(
    r"^(?P<target>[^:\s]+)\s*:\s*(?P<sign>[+-]?)(?P<amount>\d+(\.\d*)?|\.\d+)(?P<pct>%?)$"
)


@dataclass(frozen=True, kw_only=True)
class Rule:
    """How much one metric may worsen (always in its worsening direction)."""

    target: str  # "TASK.METRIC", "*" (every task's primary metric) or an EFFICIENCY name
    tolerance: float  # allowed worsening: a share of the baseline value, or absolute
    relative: bool  # True: ``tolerance`` is a share of |baseline|
    text: str  # the rule as written, for messages

    def allowed(self, baseline: float) -> float:
        return self.tolerance * abs(baseline) if self.relative else self.tolerance


def parse_rules(text: str) -> list[Rule]:
    """``METRIC:+N%`` or ``METRIC:+N`` rules, comma separated; UsageError on a bad one."""
    rules: list[Rule] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        match = _RULE.match(item)
        if match is None:
            raise UsageError(
                f"--fail-on: malformed rule '{item}'; expected METRIC:+N% or METRIC:+N, "
                "e.g. rating.rmse:+2%, latency_p50:+10%, *:+2%"
            )
        target = match["target"]
        _check_target(target, item)
        amount = float(match["amount"])
        relative = match["pct"] == "%"
        rules.append(
            Rule(
                target=target,
                tolerance=amount / 100.0 if relative else amount,
                relative=relative,
                text=item,
            )
        )
    if not rules:
        raise UsageError("--fail-on: no rules given")
    return rules


def _check_target(target: str, item: str) -> None:
    if target == WILDCARD or target in EFFICIENCY:
        return
    task, dot, metric = target.rpartition(".")
    if not dot or not task:
        raise UsageError(
            f"--fail-on: rule '{item}': '{target}' is neither TASK.METRIC, '*' nor an "
            f"efficiency figure ({', '.join(EFFICIENCY)})"
        )
    if metric not in METRICS:
        raise UsageError(
            f"--fail-on: rule '{item}': unknown metric '{metric}' (metrics: {', '.join(METRICS)})"
        )
