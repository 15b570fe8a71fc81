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

The random draws do not depend on ``label_noise`` or ``group_disparity``: with the same seed,
those options change only the labels they corrupt.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from harness.hookspecs import hookimpl
from harness.specs import DomainData, DomainSpec, DomainSplit, LabelField, TaskType

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


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def load_synthetic_ecommerce(
    *,
    seed: int = 0,
    n_users: int = 120,
    n_items: int = 150,
    n_interactions: int = 1500,
    label_noise: float = 0.0,
    group_disparity: float = 0.0,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> DomainData:
    """Generate the domain; equal arguments give identical data (see the module docstring)."""
    n_cat = len(CATEGORIES)
    for name, value, low in (
        ("seed", seed, 0),
        ("n_users", n_users, 2),
        ("n_items", n_items, n_cat),
        ("n_interactions", n_interactions, 3),
    ):
        is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        _check(is_int and value >= low, f"{name} must be an integer >= {low}, got {value!r}")
    _check(0.0 <= label_noise <= 1.0, f"label_noise must be in [0, 1], got {label_noise}")
    _check(
        math.isfinite(group_disparity) and group_disparity >= 0.0,
        f"group_disparity must be a finite number >= 0, got {group_disparity}",
    )
    for name, frac in (
        ("validation_fraction", validation_fraction),
        ("test_fraction", test_fraction),
    ):
        _check(0.0 < frac < 1.0, f"{name} must be in (0, 1), got {frac}")
    _check(
        validation_fraction + test_fraction < 1.0,
        "validation_fraction + test_fraction must be < 1, got "
        f"{validation_fraction + test_fraction}",
    )
    n_test = round(n_interactions * test_fraction)
    n_val = round(n_interactions * validation_fraction)
    n_train = n_interactions - n_val - n_test
    _check(
        min(n_train, n_val, n_test) > 0,
        f"n_interactions={n_interactions} with validation_fraction={validation_fraction} and "
        f"test_fraction={test_fraction} leaves an empty split "
        f"(train={n_train}, validation={n_val}, test={n_test})",
    )

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
    items = by_category[pos]

    # labels from the latent effects
    affinity = (liked[users] == category[items][:, None]).any(axis=1).astype(np.float64)
    mismatch = (budget[users] & (tier[items] == 2)).astype(np.float64)
    q_eff = _QUALITY_EFFECT[quality[items]]
    stars = 3.0 + q_eff + _BIAS_EFFECT[bias[users]] + 0.7 * affinity - 0.8 * mismatch
    stars = stars + rng.normal(0.0, 0.5, n_interactions)
    logit = -1.5 + 1.5 * q_eff + 1.6 * affinity - 0.6 * mismatch
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
    order = rng.permutation(n_interactions)

    def split(rows: IntArray) -> DomainSplit:
        return DomainSplit(
            ids=rows.astype(np.int64),
            user_ids=users[rows].astype(np.int64),
            item_ids=items[rows].astype(np.int64),
            user_text=[user_text[u] for u in users[rows]],
            item_text=[item_text[i] for i in items[rows]],
            labels={
                "category": cat_label[rows].astype(np.int64),
                "rating": rating[rows].astype(np.float64),
                "click": click[rows].astype(np.int64),
            },
            sensitive={"age_group": groups[rows]},
        )

    return DomainData(
        train=split(order[:n_train]),
        validation=split(order[n_train : n_train + n_val]),
        test=split(order[n_train + n_val :]),
        label_fields={
            "category": LabelField(
                name="category", task_type=TaskType.MULTICLASS, classes=CATEGORIES
            ),
            "rating": LabelField(name="rating", task_type=TaskType.REGRESSION),
            "click": LabelField(name="click", task_type=TaskType.BINARY),
        },
        sensitive_attributes=("age_group",),
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
