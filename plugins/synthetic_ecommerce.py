"""A deterministic synthetic e-commerce domain, ``synthetic-ecommerce``.

Every number comes from one ``numpy.random.default_rng(seed)``, so equal arguments give equal
data. What is planted, and why:

* Users have two liked product categories, a rating bias (generous, fair or harsh), a price
  sensitivity (budget-minded or not) and an age group. Items have a category, a brand, a price
  tier and a quality level. Both are rendered as short English text that states these latent
  attributes in words, so a language model can read them.
* ``category`` (multiclass) is the item's category; item titles use nouns and adjectives
  specific to each category, so it is learnable from the item text alone.
* ``rating`` (regression, 1-5 stars) = 3 + quality effect + user bias + affinity (the user likes
  the item's category) - price mismatch (budget-minded user, premium item) + noise, rounded and
  clipped. The additive main effects are strong, so even a bag-of-words linear model beats the
  mean; the user x item interactions reward models that pair the two texts.
* ``click`` (binary) is drawn from a sigmoid of the same latent effects.
* ``label_noise`` replaces a fraction of all labels by random ones (a robustness knob).
* ``group_disparity`` adds rating noise and click flips for users aged "55+" only, so models
  are planted to serve that group worse; fairness metrics should detect it. Default: none.
* ``task_conflict`` (c in [0, 1]) plants negative transfer between rating and click: the click
  logit becomes (1 - c) * aligned + c * opposing, where the aligned signal is the one above
  (quality and affinity, which also drive the rating) and the opposing one is that signal
  mirrored around its mean (scaled by 0.8), plus a bargain lure (budget-priced items draw
  clicks), so clicks stay learnable. At c = 1 users click what they will rate badly, so a
  backbone shared by both heads is pulled in two directions. Default 0: clicks exactly as
  without the option.

The random draws do not depend on ``label_noise``, ``group_disparity`` or ``task_conflict``:
with the same seed, those options change only the labels they act on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mtrec import DomainData, DomainSpec, DomainSplit, LabelField, TaskType, hookimpl

DOMAIN_NAME = "synthetic-ecommerce"
CATEGORIES: tuple[str, ...] = ("electronics", "kitchen", "outdoor", "books", "fashion", "toys")
AGE_GROUPS: tuple[str, ...] = ("18-34", "35-54", "55+")
DISADVANTAGED_GROUP = "55+"

_CATEGORY_PHRASES = ("electronics", "kitchenware", "outdoor gear", "books", "fashion", "toys")
_NOUNS: tuple[tuple[str, ...], ...] = (
    ("headphones", "charger", "speaker", "keyboard", "monitor", "webcam", "smartwatch", "tablet"),
    ("skillet", "blender", "kettle", "knife set", "cutting board", "saucepan", "toaster", "whisk"),
    (
        "backpack",
        "tent",
        "sleeping bag",
        "hiking boots",
        "lantern",
        "camp stove",
        "compass",
        "trekking poles",
    ),
    (
        "novel",
        "cookbook",
        "biography",
        "paperback",
        "hardcover",
        "poetry collection",
        "travel guide",
        "thriller",
    ),
    ("jacket", "sneakers", "scarf", "handbag", "sweater", "jeans", "sunglasses", "dress"),
    ("puzzle", "building blocks", "plush bear", "toy car", "board game", "doll", "kite", "yo-yo"),
)
_ADJECTIVES: tuple[tuple[str, ...], ...] = (
    ("wireless", "bluetooth", "compact"),
    ("nonstick", "stainless", "ceramic"),
    ("waterproof", "rugged", "lightweight"),
    ("illustrated", "annotated", "signed"),
    ("wool", "slim-fit", "leather"),
    ("colorful", "educational", "wooden"),
)
_BRANDS = ("Acme", "Northwind", "Brightline", "Corvid", "Halden", "Lumio", "Pinecrest", "Zephyr")
_TIERS = ("budget price", "mid-range price", "premium price")
_QUALITY_EFFECT = np.array([1.0, 0.4, -0.4, -1.1])
_QUALITY_PROBS = np.array([0.2, 0.35, 0.3, 0.15])
_QUALITY_WORDS = (
    ("bestseller with glowing reviews", "a top-rated bestseller"),
    ("well reviewed by buyers", "solid, well reviewed"),
    ("mixed reviews so far", "mixed reviews from buyers"),
    ("often returned by buyers", "often returned, many complaints"),
)
_BIAS_EFFECT = np.array([0.9, 0.0, -0.9])
_BIAS_WORDS = (
    ("usually rates products generously", "tends to give generous star ratings"),
    ("rates products fairly", "gives balanced star ratings"),
    ("rates products harshly", "is a tough critic when rating"),
)
_OPENERS = ("shopper", "customer", "buyer")
_VERBS = ("mostly loves", "is really into", "mainly shops for")
_PRICE_WORDS = (
    ("is not price sensitive", "is happy to splurge"),
    ("is budget-minded", "watches prices closely"),
)

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


@dataclass(frozen=True, kw_only=True)
class SyntheticOptions:
    """The loader options every synthetic domain takes, with their defaults."""

    seed: int = 0
    n_users: int = 120
    n_items: int = 150
    n_interactions: int = 1500
    label_noise: float = 0.0
    group_disparity: float = 0.0
    task_conflict: float = 0.0
    validation_fraction: float = 0.1
    test_fraction: float = 0.1

    def split_sizes(self, n_categories: int) -> tuple[int, int, int]:
        """Validate the options; return the (train, validation, test) sizes.

        Raises ValueError naming the first bad option. A domain needs at least
        ``n_categories`` items, so that every item category is present.
        """
        for name, value, low in (
            ("seed", self.seed, 0),
            ("n_users", self.n_users, 2),
            ("n_items", self.n_items, n_categories),
            ("n_interactions", self.n_interactions, 3),
        ):
            is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            _check(is_int and value >= low, f"{name} must be an integer >= {low}, got {value!r}")
        noise, disparity, conflict = self.label_noise, self.group_disparity, self.task_conflict
        _check(0.0 <= noise <= 1.0, f"label_noise must be in [0, 1], got {noise}")
        _check(
            math.isfinite(disparity) and disparity >= 0.0,
            f"group_disparity must be a finite number >= 0, got {disparity}",
        )
        _check(0.0 <= conflict <= 1.0, f"task_conflict must be in [0, 1], got {conflict}")
        val_frac, test_frac = self.validation_fraction, self.test_fraction
        for name, frac in (("validation_fraction", val_frac), ("test_fraction", test_frac)):
            _check(0.0 < frac < 1.0, f"{name} must be in (0, 1), got {frac}")
        _check(
            val_frac + test_frac < 1.0,
            f"validation_fraction + test_fraction must be < 1, got {val_frac + test_frac}",
        )
        n_test = round(self.n_interactions * test_frac)
        n_val = round(self.n_interactions * val_frac)
        n_train = self.n_interactions - n_val - n_test
        _check(
            min(n_train, n_val, n_test) > 0,
            f"n_interactions={self.n_interactions} with validation_fraction={val_frac} and "
            f"test_fraction={test_frac} leaves an empty split "
            f"(train={n_train}, validation={n_val}, test={n_test})",
        )
        return n_train, n_val, n_test


def sample_interactions(
    rng: np.random.Generator, liked: IntArray, category: IntArray, n_interactions: int
) -> tuple[IntArray, IntArray]:
    """Draw (user, item) rows: a user, then a category (one of the user's two liked ones 65% of
    the time, else any), then an item whose category it is."""
    n_users, n_cat = len(liked), int(category.max()) + 1
    users = rng.integers(n_users, size=n_interactions)
    wanted = np.where(
        rng.random(n_interactions) < 0.65,
        liked[users, rng.integers(2, size=n_interactions)],
        rng.integers(n_cat, size=n_interactions),
    )
    by_category = np.argsort(category, kind="stable")
    counts = np.bincount(category, minlength=n_cat)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    pos = starts[wanted] + (rng.random(n_interactions) * counts[wanted]).astype(np.int64)
    return users, by_category[pos]


def conflicted_logit(aligned: FloatArray, lure: FloatArray, task_conflict: float) -> FloatArray:
    """Plant task conflict: (1 - c) * aligned + c * opposing.

    The opposing signal is the aligned one mirrored around its mean (scaled by 0.8) plus a
    lure independent of it, so that the label stays learnable for every c while its
    correlation with the aligned signal goes from positive (c = 0) to negative (c = 1).
    """
    mean = float(aligned.mean())
    opposing = mean - 0.8 * (aligned - mean) + lure
    return (1.0 - task_conflict) * aligned + task_conflict * opposing


def split_domain(
    order: IntArray,
    sizes: tuple[int, int, int],
    *,
    rows: tuple[IntArray, IntArray],
    texts: tuple[Sequence[str], Sequence[str]],
    labels: Mapping[str, np.ndarray],
    sensitive: Mapping[str, np.ndarray],
    label_fields: Mapping[str, LabelField],
) -> DomainData:
    """Cut the shuffled interactions ``order`` into train, validation and test splits.

    ``rows`` holds the user and item of every interaction, ``texts`` the text of every user
    and every item; ``labels`` and ``sensitive`` hold one value per interaction.
    """
    n_train, n_val, _ = sizes
    users, items = rows
    user_text, item_text = texts

    def split(picked: IntArray) -> DomainSplit:
        return DomainSplit(
            ids=picked.astype(np.int64),
            user_ids=users[picked].astype(np.int64),
            item_ids=items[picked].astype(np.int64),
            user_text=[user_text[u] for u in users[picked]],
            item_text=[item_text[i] for i in items[picked]],
            labels={name: values[picked] for name, values in labels.items()},
            sensitive={name: groups[picked] for name, groups in sensitive.items()},
        )

    return DomainData(
        train=split(order[:n_train]),
        validation=split(order[n_train : n_train + n_val]),
        test=split(order[n_train + n_val :]),
        label_fields=dict(label_fields),
        sensitive_attributes=tuple(sensitive),
    )


def load_synthetic_ecommerce(
    *,
    seed: int = 0,
    n_users: int = 120,
    n_items: int = 150,
    n_interactions: int = 1500,
    label_noise: float = 0.0,
    group_disparity: float = 0.0,
    task_conflict: float = 0.0,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> DomainData:
    """Generate the domain; equal arguments give identical data (see the module docstring)."""
    n_cat = len(CATEGORIES)
    sizes = SyntheticOptions(
        seed=seed,
        n_users=n_users,
        n_items=n_items,
        n_interactions=n_interactions,
        label_noise=label_noise,
        group_disparity=group_disparity,
        task_conflict=task_conflict,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
    ).split_sizes(n_cat)

    rng = np.random.default_rng(seed)
    # users: two liked categories, rating bias, price sensitivity, age group
    liked = np.argsort(rng.random((n_users, n_cat)), axis=1)[:, :2]
    bias = rng.choice(3, size=n_users, p=[0.3, 0.4, 0.3])
    budget = rng.random(n_users) < 0.4
    age = rng.choice(len(AGE_GROUPS), size=n_users, p=[0.4, 0.35, 0.25])
    user_text = [
        f"{_pick(rng, _OPENERS)} aged {AGE_GROUPS[age[u]]} who {_pick(rng, _VERBS)} "
        f"{_CATEGORY_PHRASES[liked[u, 0]]} and {_CATEGORY_PHRASES[liked[u, 1]]}, "
        f"{_pick(rng, _PRICE_WORDS[int(budget[u])])} and {_pick(rng, _BIAS_WORDS[bias[u]])}"
        for u in range(n_users)
    ]
    # items: category (each one present), brand, price tier, quality level
    category = rng.permutation(np.arange(n_items) % n_cat)
    tier = rng.integers(3, size=n_items)
    quality = rng.choice(4, size=n_items, p=_QUALITY_PROBS)
    item_text = [
        f"{_pick(rng, _BRANDS)} {_pick(rng, _ADJECTIVES[c])} {_pick(rng, _NOUNS[c])}, "
        f"{_TIERS[tier[i]]}, {_pick(rng, _QUALITY_WORDS[quality[i]])}"
        for i, c in enumerate(category)
    ]
    # interactions: a user, then a category (liked ones 65% of the time), then an item of it
    users, items = sample_interactions(rng, liked, category, n_interactions)

    # labels from the latent effects
    affinity = (liked[users] == category[items][:, None]).any(axis=1).astype(np.float64)
    mismatch = (budget[users] & (tier[items] == 2)).astype(np.float64)
    q_eff = _QUALITY_EFFECT[quality[items]]
    stars = 3.0 + q_eff + _BIAS_EFFECT[bias[users]] + 0.7 * affinity - 0.8 * mismatch
    stars = stars + rng.normal(0.0, 0.5, n_interactions)
    logit = -1.5 + 1.5 * q_eff + 1.6 * affinity - 0.6 * mismatch
    if task_conflict > 0.0:  # budget-priced items lure clicks against the rating signal
        lure = (1.0 - tier[items]).astype(np.float64)
        logit = conflicted_logit(logit, lure, task_conflict)
    click = (rng.random(n_interactions) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    cat_label = category[items].astype(np.int64)
    # group disparity: extra rating noise and click flips for the disadvantaged group only
    in_group = np.asarray(AGE_GROUPS)[age[users]] == DISADVANTAGED_GROUP
    stars = stars + in_group * rng.normal(0.0, 1.0, n_interactions) * group_disparity
    flip = in_group & (rng.random(n_interactions) < min(0.5, group_disparity / 4.0))
    click = np.where(flip, 1 - click, click)
    rating = np.clip(np.rint(stars), 1.0, 5.0)
    # label noise: a fraction of rows get random labels
    noisy = rng.random(n_interactions) < label_noise
    cat_label = np.where(noisy, rng.integers(n_cat, size=n_interactions), cat_label)
    click = np.where(noisy, rng.integers(2, size=n_interactions), click)
    rating = np.where(noisy, rng.integers(1, 6, size=n_interactions).astype(np.float64), rating)

    groups = np.array([AGE_GROUPS[a] for a in age], dtype=object)[users]
    return split_domain(
        rng.permutation(n_interactions),
        sizes,
        rows=(users, items),
        texts=(user_text, item_text),
        labels={
            "category": cat_label.astype(np.int64),
            "rating": rating.astype(np.float64),
            "click": click.astype(np.int64),
        },
        sensitive={"age_group": groups},
        label_fields={
            "category": LabelField(
                name="category", task_type=TaskType.MULTICLASS, classes=CATEGORIES
            ),
            "rating": LabelField(name="rating", task_type=TaskType.REGRESSION),
            "click": LabelField(name="click", task_type=TaskType.BINARY),
        },
    )


@hookimpl
def mtrec_register_domains() -> list[DomainSpec]:
    """Register the ``synthetic-ecommerce`` domain; no data is generated until it is loaded."""
    return [
        DomainSpec(
            name=DOMAIN_NAME,
            load=load_synthetic_ecommerce,
            label_fields=("category", "rating", "click"),
            sensitive_attributes=("age_group",),
            description="Seeded synthetic shop: users x products with category, rating and "
            "click labels, planted age-group disparity",
            domain_kind="e-commerce",
        )
    ]
