"""Tests for the video, social, travel and news seed head sets."""

from __future__ import annotations

import pluggy
import pytest

from mtrec import hookspecs
from mtrec.measure.tasks import LOSSES
from mtrec.plugins import domain_heads, synthetic_domains
from mtrec.specs import HeadSetSpec, TaskType

# head set -> the domain whose label fields it trains on
MATCHING = {
    "video-seed": "synthetic-video",
    "social-seed": "synthetic-social",
    "travel-seed": "synthetic-travel",
    "news-seed": "synthetic-news",
}


def _expected_loss(task_type: TaskType) -> str:
    if task_type is TaskType.MULTICLASS:
        return "cross_entropy"
    if task_type is TaskType.REGRESSION:
        return "mse"
    return "bce"  # binary, multilabel (one sigmoid per class) and ranking (pointwise)


def _registered() -> list[HeadSetSpec]:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(domain_heads)
    return [s for batch in pm.hook.mtrec_register_head_sets() for s in batch]


SPECS = _registered()


def test_registered_through_pluggy() -> None:
    assert [s.name for s in SPECS] == list(MATCHING)


def test_loss_table_agrees_with_the_core() -> None:
    # Every task type has a loss in the core's table (a missing key is a failure, not a pass).
    assert set(LOSSES) == set(TaskType)
    for task_type in TaskType:
        assert LOSSES[task_type] == _expected_loss(task_type), task_type


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_heads_match_their_domain(spec: HeadSetSpec) -> None:
    assert spec.architecture == "shared-bottom"
    assert spec.description and "\n" not in spec.description
    assert len(spec.heads) == 4
    tasks = [head.task for head in spec.heads]
    assert len(set(tasks)) == len(tasks)
    domain = next(t for t in synthetic_domains.THEMES if t.name == MATCHING[spec.name])
    data = synthetic_domains.LOADERS[domain.name](seed=0, n_interactions=60)
    # one head per label field, then the ranking head on the derived relevance column
    assert tasks == [*data.label_fields, "next-item"]
    ranks = spec.heads[-1]
    assert ranks.task_type is TaskType.RANKING and ranks.label_field == "relevance"
    assert ranks.loss == _expected_loss(ranks.task_type)
    assert "relevance" not in data.label_fields
    for head in spec.heads[:-1]:
        assert head.task == head.label_field
        field = data.label_fields[head.label_field]
        assert head.task_type is field.task_type
        assert head.loss == _expected_loss(head.task_type)
        assert head.loss_weight > 0


def test_video_genres_head_is_multilabel_bce() -> None:
    video = next(s for s in SPECS if s.name == "video-seed")
    genres = next(head for head in video.heads if head.task == "genres")
    assert genres.task_type is TaskType.MULTILABEL and genres.loss == "bce"
