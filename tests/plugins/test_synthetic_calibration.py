"""Calibration of the five synthetic domains with cheap models (scikit-learn, seconds).

A benchmark discriminates only if no model sits at the ceiling and the models that read more
do better. On each domain, from its rendered input (scene | profile; earlier: history, then the
item), five cheap predictors are fit on train and scored on test:

* ``trivial``: the best constant (majority class, mean, base rate, label frequencies);
* ``ids``: one-hot user and item ids (what ID embeddings know);
* ``item``: a bag of words of the item text only;
* ``user``: a bag of words of the first segment only (scene, profile, history);
* ``both``: both bags plus hashed scene x item word crosses (reads the pair and the scene).

Checked, with paired bootstrap intervals over test rows where it matters:

* no ceiling: no accuracy, AUC or mAP above 0.97, for any model on any task;
* no floor: on every task some model beats the trivial predictor beyond its interval;
* the expected order trivial < one side < both sides on the domain's pair task (the rating,
  or the engagement label where there is none) on at least three of the five domains (all
  five today), each step beyond its interval.

The pretrained backbones' side of the order (MiniLM above bag of words and ID embeddings) is
measured by the default suite and the leaderboard, not here: it needs minutes, not seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from scipy import sparse  # type: ignore[import-untyped]  # noqa: E402
from sklearn.feature_extraction import FeatureHasher  # noqa: E402
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.metrics import average_precision_score, roc_auc_score  # noqa: E402
from sklearn.preprocessing import OneHotEncoder  # noqa: E402

from mtrec.model.inputs import InputOptions, render_split, user_parts  # noqa: E402
from mtrec.plugins.synthetic_domains import (  # noqa: E402
    ALL_LOADERS,
    ALL_THEMES,
    ENGAGE,
    GENRES,
    RATING,
    Theme,
    evidence_words,
)
from mtrec.specs import DomainSplit, TaskType  # noqa: E402

pytestmark = pytest.mark.slow  # about 40 s on one core for the five domains

OPTIONS = {"seed": 0, "n_interactions": 2400, "validation_fraction": 0.05, "test_fraction": 0.4}
CEILING = 0.97
RESAMPLES = 200
TOKENS = r"(?u)[\w/'-]+"  # keeps "4/5" and "first-rate" whole
MODELS = ("trivial", "ids", "item", "user", "both")
REGRESSION_ALPHA = 2.0
CLASSIFIER_C = 2.0

Matrix = Any  # a scipy sparse matrix


def _fit(task_type: TaskType, x: Matrix, y: np.ndarray, x_test: Matrix, n_classes: int):
    if task_type is TaskType.REGRESSION:
        return Ridge(alpha=REGRESSION_ALPHA).fit(x, y).predict(x_test)
    if task_type is TaskType.BINARY:
        return (
            LogisticRegression(C=CLASSIFIER_C, max_iter=1000).fit(x, y).predict_proba(x_test)[:, 1]
        )
    if task_type is TaskType.MULTICLASS:
        model = LogisticRegression(C=CLASSIFIER_C, max_iter=1000).fit(x, y)
        out = np.zeros((x_test.shape[0], n_classes))
        out[:, model.classes_] = model.predict_proba(x_test)
        return out
    columns = []
    for j in range(y.shape[1]):
        if y[:, j].min() == y[:, j].max():
            columns.append(np.full(x_test.shape[0], float(y[0, j])))
        else:
            model = LogisticRegression(C=CLASSIFIER_C, max_iter=1000).fit(x, y[:, j])
            columns.append(model.predict_proba(x_test)[:, 1])
    return np.stack(columns, axis=1)


def _trivial(task_type: TaskType, y: np.ndarray, n: int, n_classes: int) -> np.ndarray:
    if task_type is TaskType.MULTICLASS:
        out = np.zeros((n, n_classes))
        out[:, np.bincount(y, minlength=n_classes).argmax()] = 1.0
        return out
    return np.tile(y.mean(axis=0), (n, 1)) if y.ndim == 2 else np.full(n, y.mean())


def _words(texts: list[str]) -> list[list[str]]:
    analyse = CountVectorizer(token_pattern=TOKENS).build_analyzer()
    return [sorted(set(analyse(text))) for text in texts]


def _features(train: DomainSplit, test: DomainSplit) -> dict[str, tuple[Matrix, Matrix]]:
    options = InputOptions()
    first = [render_split(s, options).user_text for s in (train, test)]
    ids = OneHotEncoder(handle_unknown="ignore")
    item = TfidfVectorizer(token_pattern=TOKENS, sublinear_tf=True)
    user = TfidfVectorizer(token_pattern=TOKENS, sublinear_tf=True)
    hasher = FeatureHasher(n_features=2**16, input_type="string", alternate_sign=False)

    def crosses(split: DomainSplit) -> Matrix:
        scene = _words([user_parts(split, i, options)[0] for i in range(len(split))])
        things = _words(list(split.item_text))
        return hasher.transform(
            [[f"{a}|{b}" for a in s for b in t] for s, t in zip(scene, things, strict=True)]
        )

    out = {
        "ids": (
            ids.fit_transform(np.c_[train.user_ids, train.item_ids]),
            ids.transform(np.c_[test.user_ids, test.item_ids]),
        ),
        "item": (item.fit_transform(train.item_text), item.transform(test.item_text)),
        "user": (user.fit_transform(first[0]), user.transform(first[1])),
    }
    out["both"] = tuple(
        sparse.hstack([out["item"][k], out["user"][k], 0.2 * crosses(split)]).tocsr()
        for k, split in enumerate((train, test))
    )
    return out


def _per_row(task_type: TaskType, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-row parts of the metric whose mean (or root mean, for RMSE) is the score: 1/0
    correct (accuracy), squared error (RMSE), average precision (mAP). Empty for AUC."""
    if task_type is TaskType.MULTICLASS:
        return np.asarray(pred.argmax(axis=1) == y, dtype=float)
    if task_type is TaskType.REGRESSION:
        return np.asarray((pred - y) ** 2, dtype=float)
    if task_type is TaskType.MULTILABEL:
        return np.array([average_precision_score(y[i], pred[i]) if y[i].any() else 0.0
                         for i in range(len(y))])  # fmt: skip
    return np.empty(0)


@dataclass(frozen=True)
class Task:
    """One task of one domain: the test labels and each model's test predictions."""

    task_type: TaskType
    y: np.ndarray
    predictions: Mapping[str, np.ndarray]
    parts: dict[str, np.ndarray] = field(default_factory=dict)  # per model, filled on use

    def score(self, model: str, rows: np.ndarray | None = None) -> float:
        """The primary metric (higher is better: RMSE is negated) on ``rows`` (all: None)."""
        pick = slice(None) if rows is None else rows
        if self.task_type is TaskType.BINARY:
            return float(roc_auc_score(self.y[pick], self.predictions[model][pick]))
        if model not in self.parts:
            self.parts[model] = _per_row(self.task_type, self.y, self.predictions[model])
        parts = self.parts[model][pick]
        return (
            -float(np.sqrt(parts.mean()))
            if self.task_type is TaskType.REGRESSION
            else float(parts.mean())
        )

    def gain(self, better: str, worse: str) -> tuple[float, float, float]:
        """Score of ``better`` minus that of ``worse``, with a paired bootstrap 95% interval."""
        rng = np.random.default_rng(0)
        n = len(self.y)
        draws = []
        for _ in range(RESAMPLES):
            rows = rng.integers(n, size=n)
            if self.task_type is TaskType.BINARY and self.y[rows].min() == self.y[rows].max():
                continue
            draws.append(self.score(better, rows) - self.score(worse, rows))
        low, high = np.quantile(draws, [0.025, 0.975])
        return self.score(better) - self.score(worse), float(low), float(high)


def _measure(theme: Theme) -> dict[str, Task]:
    data = ALL_LOADERS[theme.name](**OPTIONS)
    features = _features(data.train, data.test)
    tasks = {}
    for name, label in data.label_fields.items():
        y, y_test = data.train.labels[name], data.test.labels[name]
        k = len(label.classes)
        predictions = {"trivial": _trivial(label.task_type, y, len(y_test), k)}
        for model, (x, x_test) in features.items():
            predictions[model] = _fit(label.task_type, x, y, x_test, k)
        tasks[name] = Task(label.task_type, y_test, predictions)
    return tasks


@pytest.fixture(scope="module")
def measured() -> dict[str, dict[str, Task]]:
    return {theme.name: _measure(theme) for theme in ALL_THEMES}


def _pair_task(theme: Theme) -> str:
    """The task a model reading the user, the item and the scene should win: the rating, or
    the engagement label where the domain has no rating."""
    roles = {role: name for name, role in theme.labels}
    return roles[RATING] if RATING in roles else roles[ENGAGE]


def test_no_task_at_the_ceiling(measured: dict[str, dict[str, Task]]) -> None:
    for domain, tasks in measured.items():
        for name, task in tasks.items():
            if task.task_type is TaskType.REGRESSION:
                continue
            for model in MODELS:
                assert task.score(model) <= CEILING, (domain, name, model, task.score(model))


def test_no_task_at_the_floor(measured: dict[str, dict[str, Task]]) -> None:
    for domain, tasks in measured.items():
        for name, task in tasks.items():
            best = max(MODELS[1:], key=task.score)
            _, low, _ = task.gain(best, "trivial")
            assert low > 0, (domain, name, best)


def _order_holds(theme: Theme, tasks: dict[str, Task]) -> bool:
    task = tasks[_pair_task(theme)]
    side = max(("item", "user"), key=task.score)
    return task.gain(side, "trivial")[1] > 0 and task.gain("both", side)[1] > 0


def test_reading_both_sides_beats_reading_one(measured: dict[str, dict[str, Task]]) -> None:
    holds = {theme.name: _order_holds(theme, measured[theme.name]) for theme in ALL_THEMES}
    assert sum(holds.values()) >= 3, holds


def test_the_order_check_fails_on_a_planted_violation(
    measured: dict[str, dict[str, Task]],
) -> None:
    """The order check is not vacuous: swap the "both" predictions for the one-side ones."""
    theme = ALL_THEMES[0]
    tasks = dict(measured[theme.name])
    name = _pair_task(theme)
    task = tasks[name]
    swapped: dict[str, np.ndarray] = {**task.predictions, "both": task.predictions["item"]}
    tasks[name] = Task(task.task_type, task.y, swapped)
    assert _order_holds(theme, measured[theme.name])
    assert not _order_holds(theme, tasks)


def _bag_score(
    theme: Theme, label: str, words: frozenset[str], inside: bool
) -> tuple[float, float]:
    """(score, trivial score) of a bag of the rendered words in ``words`` (``inside``) or not
    in it."""
    data = ALL_LOADERS[theme.name](seed=1, n_interactions=1500, test_fraction=0.3)
    analyse = CountVectorizer(token_pattern=TOKENS).build_analyzer()
    vectorizer = TfidfVectorizer(
        analyzer=lambda text: [w for w in analyse(text) if (w in words) == inside],
        sublinear_tf=True,
    )
    texts = [
        [f"{u} {i}" for u, i in zip(render_split(s, InputOptions()).user_text, s.item_text,
                                    strict=True)]
        for s in (data.train, data.test)
    ]  # fmt: skip
    x, x_test = vectorizer.fit_transform(texts[0]), vectorizer.transform(texts[1])
    task_type = data.label_fields[label].task_type
    k = len(data.label_fields[label].classes)
    y, y_test = data.train.labels[label], data.test.labels[label]
    task = Task(
        task_type,
        y_test,
        {
            "bag": _fit(task_type, x, y, x_test, k),
            "trivial": _trivial(task_type, y, len(y_test), k),
        },
    )
    return task.score("bag"), task.score("trivial")


@pytest.mark.parametrize("theme", ALL_THEMES, ids=[theme.kind for theme in ALL_THEMES])
def test_evidence_words_carry_the_labels(theme: Theme) -> None:
    """A bag of only the planted words (evidence_words) beats the trivial predictor clearly
    and beats a bag of all the other words (which can only recognise items and users seen in
    training) on every label."""
    for label, role in theme.labels:
        if role == GENRES:
            continue
        words = evidence_words(theme.name, label)
        planted, trivial = _bag_score(theme, label, words, inside=True)
        other, _ = _bag_score(theme, label, words, inside=False)
        assert planted > other, (label, planted, other)
        assert planted - trivial > 0.05, (label, planted, trivial)
