"""``mtrec-fixture-plugin``: one tiny item of every plugin kind, for mtrec's own tests.

* backbone ``fixture-bert``: a random-init BERT (1 layer, 32 wide) saved into the mtrec cache
  and loaded back through :func:`mtrec.load_pretrained`;
* head set ``fixture-heads``: ``click`` (binary, BCE) and ``rating`` (regression, MSE);
* domain ``fixture-domain``: 60/20/20 deterministic rows, labels ``click`` and ``rating``,
  sensitive attribute ``group`` (``a``/``b``); ``explode=True`` makes ``load`` raise;
* fairness metric ``fixture-metric``: counts tasks and test rows;
* fairness metric ``fixture-score-gap``: per binary task and sensitive attribute, the mean
  predicted probability of each group and the max-min gap between groups (a third-party
  group metric; other task types are reported not applicable);
* architecture ``fixture-tower``: one linear layer per task (option ``width``);
* loss weighting ``fixture-half``: every task's loss counts half;
* executor ``fixture-reversed``: the ``local`` executor, last combination first;
* tracker ``fixture-tracker``: one JSON line per finished record in
  ``RUN_DIR/fixture-tracker.jsonl``;
* update strategy ``fixture-killer``: fine-tune, except that the process kills itself
  (SIGKILL) on planning round ``MTREC_FIXTURE_KILL_AT_ROUND``; with ``MTREC_FIXTURE_PLAN_LOG``
  set to a file, each round it plans is appended to it;
* lifecycle hooks: with ``MTREC_FIXTURE_EVENTS`` set to a file, each call appends a line
  ``HOOK KEY PID`` to it (the process id shows where the hook ran).

Like any plugin it imports only from ``mtrec``, and its torch code (``models.py``) only when a
model is built.

Setting ``MTREC_FIXTURE_FAIL_IMPORT=1`` makes importing this module fail, so tests can check
how an import error is reported.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import mtrec
from mtrec import (
    ArchitectureSpec,
    BackboneSpec,
    DomainData,
    DomainSpec,
    DomainSplit,
    ExecutorSpec,
    FairnessContext,
    FairnessMetricSpec,
    Family,
    HeadSetSpec,
    HeadSpec,
    LabelField,
    LoadedBackbone,
    Pooling,
    SweepEvents,
    SweepJob,
    TaskType,
    TrackerContext,
    TrackerSpec,
    UpdateContext,
    UpdatePlan,
    UpdateStrategySpec,
    WeightingSpec,
)

FAIL_IMPORT_ENV = "MTREC_FIXTURE_FAIL_IMPORT"
EVENTS_ENV = "MTREC_FIXTURE_EVENTS"

if os.environ.get(FAIL_IMPORT_ENV) == "1":
    raise ImportError("fixture plugin import failure on purpose")

BACKBONE = "fixture-bert"
HEAD_SET = "fixture-heads"
DOMAIN = "fixture-domain"
METRIC = "fixture-metric"
SCORE_GAP_METRIC = "fixture-score-gap"
ARCHITECTURE = "fixture-tower"
WEIGHTING = "fixture-half"
EXECUTOR = "fixture-reversed"
TRACKER = "fixture-tracker"
TRACKER_FILE = "fixture-tracker.jsonl"
EXPLODE_MESSAGE = "fixture domain exploded on purpose"
SPLIT_SIZES = {"train": 60, "validation": 20, "test": 20}
GROUPS = ("a", "b")


# -- backbone ----------------------------------------------------------------------------


def _bert_config(vocab_size: int) -> Any:
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )


def load_backbone() -> LoadedBackbone:
    from mtrec.plugins.tiny_backbones import build_tiny

    # build_tiny hashes the config into the folder name under cache_dir()/backbones and
    # builds atomically (temporary folder, then one rename).
    folder = build_tiny(BACKBONE, _bert_config)
    return mtrec.load_pretrained(folder, pooling=Pooling.CLS)


# -- domain ------------------------------------------------------------------------------


def load_domain(*, seed: int = 0, explode: bool = False) -> DomainData:
    """Deterministic tiny data: equal ``seed`` gives equal data; ``explode`` raises."""
    if explode:
        raise RuntimeError(EXPLODE_MESSAGE)
    rng = np.random.default_rng(seed)
    splits: dict[str, DomainSplit] = {}
    start = 0
    for split_name, size in SPLIT_SIZES.items():
        ids = np.arange(start, start + size, dtype=np.int64)
        start += size
        # Half the rows of every split click, so every split has both classes.
        click = rng.permutation(np.arange(size) % 2).astype(np.int64)
        rating = np.clip(2.0 + 2.0 * click + rng.normal(0.0, 0.5, size), 1.0, 5.0)
        user_ids = ids % 10
        item_ids = rng.integers(0, 12, size=size).astype(np.int64)
        group = np.array([GROUPS[int(u) % 2] for u in user_ids], dtype=object)
        splits[split_name] = DomainSplit(
            ids=ids,
            user_ids=user_ids,
            item_ids=item_ids,
            user_text=[f"user {u} from group {g}" for u, g in zip(user_ids, group, strict=True)],
            item_text=[
                f"item {i} that is {'popular' if c else 'niche'}"
                for i, c in zip(item_ids, click, strict=True)
            ],
            labels={"click": click, "rating": rating.astype(np.float64)},
            sensitive={"group": group},
        )
    return DomainData(
        train=splits["train"],
        validation=splits["validation"],
        test=splits["test"],
        label_fields={
            "click": LabelField(name="click", task_type=TaskType.BINARY),
            "rating": LabelField(name="rating", task_type=TaskType.REGRESSION),
        },
        sensitive_attributes=("group",),
    )


# -- fairness metric ---------------------------------------------------------------------


def fixture_metric(context: FairnessContext) -> Mapping[str, Any]:
    rows = {len(predictions.y_true) for predictions in context.tasks.values()}
    return {"n_tasks": len(context.tasks), "rows": max(rows, default=0)}


def fixture_score_gap(context: FairnessContext) -> Mapping[str, Any]:
    result: dict[str, Any] = {}
    for task, predictions in context.tasks.items():
        if predictions.task_type is not TaskType.BINARY or predictions.score is None:
            result[task] = {"applicable": False, "reason": "needs a binary task with scores"}
            continue
        per_attribute = {}
        for attribute, groups in context.sensitive.items():
            labels = np.asarray(groups).astype(str)
            means = {
                str(g): float(predictions.score[labels == g].mean()) for g in np.unique(labels)
            }
            per_attribute[attribute] = {
                "mean_score": means,
                "difference": max(means.values()) - min(means.values()),
            }
        result[task] = per_attribute
    return result


# -- architecture and loss weighting ------------------------------------------------------


def build_tower(*, in_features: int, tasks: tuple[str, ...], **options: Any) -> Any:
    from mtrec_fixture_plugin.models import FixtureTower

    return FixtureTower(in_features=in_features, tasks=tasks, **options)


def build_weighting(*, tasks: Sequence[str], **options: Any) -> Any:
    from mtrec_fixture_plugin.models import HalfWeighting

    if options:
        raise mtrec.WeightingOptionError(f"weighting '{WEIGHTING}' has no options, got {options}")
    return HalfWeighting(tasks)


# -- executor and tracker ----------------------------------------------------------------


class ReversedExecutor:
    """The built-in local executor, last combination first."""

    def run(self, job: SweepJob, events: SweepEvents) -> None:
        reversed_job = dataclasses.replace(job, combinations=list(reversed(job.combinations)))
        mtrec.LocalExecutor().run(reversed_job, events)


def log_record(context: TrackerContext, record: Mapping[str, Any]) -> None:
    line = {"suite": context.suite, "key": record["key"], "status": record["status"]}
    with open(context.run_dir / TRACKER_FILE, "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


# -- lifecycle ---------------------------------------------------------------------------


def _event(hook: str, key: str) -> None:
    path = os.environ.get(EVENTS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(f"{hook} {key} {os.getpid()}\n")


@mtrec.hookimpl
def mtrec_before_combination(key: str) -> None:
    _event("before", key)


@mtrec.hookimpl
def mtrec_on_combination_error(key: str) -> None:
    _event("error", key)


@mtrec.hookimpl
def mtrec_after_combination(key: str) -> None:
    _event("after", key)


# -- registration ------------------------------------------------------------------------


@mtrec.hookimpl
def mtrec_register_backbones() -> list[BackboneSpec]:
    return [
        BackboneSpec(
            name=BACKBONE,
            family=Family.ENCODER,
            pooling=Pooling.CLS,
            load=load_backbone,
            description="fixture: random-init BERT, 1 layer x 32 wide",
            pretrained=False,
        )
    ]


@mtrec.hookimpl
def mtrec_register_head_sets() -> list[HeadSetSpec]:
    return [
        HeadSetSpec(
            name=HEAD_SET,
            heads=(
                HeadSpec(task="click", task_type=TaskType.BINARY, label_field="click", loss="bce"),
                HeadSpec(
                    task="rating", task_type=TaskType.REGRESSION, label_field="rating", loss="mse"
                ),
            ),
            description="fixture: click (BCE) + rating (MSE)",
        )
    ]


@mtrec.hookimpl
def mtrec_register_domains() -> list[DomainSpec]:
    return [
        DomainSpec(
            name=DOMAIN,
            load=load_domain,
            label_fields=("click", "rating"),
            sensitive_attributes=("group",),
            description="fixture: 60/20/20 deterministic rows, two groups",
            domain_kind="test",
        )
    ]


@mtrec.hookimpl
def mtrec_register_fairness_metrics() -> list[FairnessMetricSpec]:
    return [
        FairnessMetricSpec(
            name=METRIC,
            scope="group",
            compute=fixture_metric,
            description="fixture: number of tasks and test rows",
        ),
        FairnessMetricSpec(
            name=SCORE_GAP_METRIC,
            scope="group",
            compute=fixture_score_gap,
            description="fixture: gap in mean predicted probability between groups",
        ),
    ]


@mtrec.hookimpl
def mtrec_register_architectures() -> list[ArchitectureSpec]:
    return [
        ArchitectureSpec(
            name=ARCHITECTURE,
            description="fixture: one linear layer per task",
            build=build_tower,
        )
    ]


@mtrec.hookimpl
def mtrec_register_loss_weightings() -> list[WeightingSpec]:
    return [
        WeightingSpec(
            name=WEIGHTING, description="fixture: every loss counts half", build=build_weighting
        )
    ]


@mtrec.hookimpl
def mtrec_register_executors() -> list[ExecutorSpec]:
    return [
        ExecutorSpec(
            name=EXECUTOR,
            create=ReversedExecutor,
            description="fixture: the local executor, last combination first",
        )
    ]


@mtrec.hookimpl
def mtrec_register_trackers() -> list[TrackerSpec]:
    return [
        TrackerSpec(
            name=TRACKER,
            log_record=log_record,
            description=f"fixture: one JSON line per record in RUN_DIR/{TRACKER_FILE}",
        )
    ]


def plan_or_die(context: UpdateContext) -> UpdatePlan:
    log = os.environ.get("MTREC_FIXTURE_PLAN_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{context.round}\n")
    if os.environ.get("MTREC_FIXTURE_KILL_AT_ROUND") == str(context.round):
        os.kill(os.getpid(), signal.SIGKILL)
    return UpdatePlan(rows=context.new_rows)


@mtrec.hookimpl
def mtrec_register_update_strategies() -> list[UpdateStrategySpec]:
    return [
        UpdateStrategySpec(
            name="fixture-killer",
            plan=plan_or_die,
            description="fixture: fine-tune; SIGKILL at round MTREC_FIXTURE_KILL_AT_ROUND",
        )
    ]
