"""Five deterministic synthetic domains on one engine: e-commerce, video, social, travel, news.

``synthetic-ecommerce`` (registered by :mod:`mtrec.plugins.synthetic_ecommerce`),
``synthetic-video``, ``synthetic-social``, ``synthetic-travel`` and ``synthetic-news`` share
:func:`_simulate` and differ only in their :class:`Theme`: the words, the label fields, the
scene they record, the sensitive attribute and its disadvantaged group. Every number comes
from one ``numpy.random.default_rng([seed, crc32(domain name)])``, so equal arguments give
equal data and two domains loaded with one seed are independent draws.

Latent attributes
-----------------
Users have two liked item categories, a generosity (how kindly they rate or react), a trait
(price sensitivity, binge level, posting habit, trip style, reading habit), a usual device and
a sensitive group. Items have a primary category (sometimes a secondary one; video items have
one to three genres), a maker, a quality level (4), a facet (3: deal, buzz, tone, season) and
a format (3: price tier, runtime, post length, distance, article length).

How the text shows them (indirectly)
------------------------------------
Nothing is stated as a label's cause word for word. Item texts are built from several
templates: a title (an adjective and a noun from wide per-category pools; a secondary
category lends the adjective), a quality sentence drawn from wide synonym pools ("superb",
"first-rate", "stellar" ... for the best level), a format phrase, a facet phrase and
distractor sentences that carry nothing. The user profile (``user_text``) names the group,
paraphrases the trait and mentions each liked category (by a synonym) and the user's
generosity ("easy to please", "a tough critic") only with some probability; generosity
always shows in the user's **history**
(``DomainSplit.history``: the user's three latest earlier interactions, newest first, e.g.
``"ceramic skillet 5/5"`` or ``"gadget unboxing (followed)"``), whose titles also reveal
the liked categories. A pretrained language model that knows "superb" ~ "excellent" and
"skillet" ~ "cookware" generalises to phrasings it rarely saw in training; a bag of words or
a random-init encoder has to memorise them.

Scene
-----
Every row has a timestamp (``DomainSplit.timestamps``, seconds since the epoch, over 120 days
from 2026-01-05) and the theme's context fields (``DomainSpec.context_fields``), drawn from
``time_of_day`` and ``weekday`` (from the timestamp), ``device`` (the user's usual one most of
the time), ``location`` and ``session_position``. The splits are cut in time order: train
holds the earliest rows, test the latest, so a row's history never holds a later row.

Labels (roles)
--------------
* category (multiclass): the item's primary category, except that a user who likes an item's
  secondary category but not its primary one files it under the secondary one (the pair
  decides), and a share ``0.08 * difficulty`` of rows are mis-filed at random.
* genres (multilabel, video): the genres the viewer tags: the item's primary genre, each
  secondary genre the viewer likes (the others with probability 1 - difficulty), and each
  liked genre the item lacks with probability 0.3 * difficulty.
* facet (multiclass: sentiment): the item's tone; a neutral item reads positive to a generous
  user and negative to a harsh one half of the time.
* rating (regression, 1-5 stars) = 3 + quality + generosity + 0.8 * affinity + 0.5 * fit +
  noise, rounded and clipped; affinity = the user likes (one of) the item's categories, fit =
  trait level x format level (a thrifty shopper and a budget item, a binge-watcher and a
  series).
* engage (binary: click, watch, follow): sigmoid of aligned (1.5 * quality + 1.2 * affinity +
  1.0 * generosity - 1.1) + 0.6 * fit + 0.8 * trait + 1.5 * context_effect * scene x format,
  where ``scene`` in [-1, 1] scores the row's context for the theme: late-night mobile
  sessions favour cheap items and short clips, weekday mornings favour news briefs, weekday
  browsing at work favours near trips, the start of a session on desktop favours long
  threads.
* length (multiclass, ordinal: trip_length): buckets of the engagement signal, the trait, the
  distance and the scene.

Options
-------
``difficulty`` (in [0, 1], default 0.5) is how hidden the evidence is: each liked category is
named in the profile with probability 1 - 0.7 * difficulty and the generosity with
probability 0.95 - 0.7 * difficulty, the quality sentence is left out
with probability 0.3 * difficulty, an item has up to round(1 + 2 * difficulty) distractor
sentences, and the mis-filed and kept-genre shares above grow with it. ``context_effect``
(>= 0, default 1; 0 = the scene changes nothing) scales the planted scene effect.
``task_conflict`` (c in [0, 1]) plants negative transfer: the engagement signal becomes
(1 - c) * aligned + c * opposing, where the opposing signal is the aligned one mirrored around
its mean (scaled by 0.5) plus 2.5 times a facet lure (deals, trending titles, angry posts,
alarming headlines draw engagement), so the label stays learnable; at c = 1 engagement is
anti-correlated with the rating. The lure carries the conflict: one shared
representation serves a mirrored signal and the rating alike (the engagement head reads it
with the opposite sign), but the lure is a direction the rating has no use for, so a backbone
shared between the tasks is pulled two ways and a narrow one cannot serve both.
``group_disparity`` (>= 0) adds rating noise with that
standard deviation and flips the engagement label (or redraws the trip length) with
probability min(0.5, group_disparity / 4) for the disadvantaged group only. ``label_noise``
replaces a fraction of all labels by random ones.

``drift`` (in [0, 1], default 0) makes the domain change with time, for protocols that train
on early rows and update on later ones; three things move, each scaled by drift. *Tastes*: a
share ``drift`` of the users there from the start trade their two liked categories for two
others on a day within the middle half of the span; the categories they browse and every
label made from the affinity (filing, tags, rating, engagement) follow the taste valid on the
row's day, while the profile, written when the user joined, names the early taste only (the
history shows the change once it happened). *Popularity*: within its category an item is drawn
with weight exp(1.5 * drift * slope * s), s going from -1 on the first day to +1 on the last
and slope ~ N(0, 1) per item, so items popular early fade and others rise. *Newcomers*: about
0.3 * drift of the users and of the items (each category keeps one item from the start) first
appear on a day within 50%-90% of the span; a row drawn for a user not there yet goes to one
who is, and a new item's popularity rises. A model trained on the earliest rows gets worse on
the latest ones, one trained on recent rows does not. The drift's draws come from a generator
of its own (seeded with the seed, the domain and a constant), so ``drift: 0`` leaves every row
exactly as it is without the option, and a larger drift keeps the switchers and newcomers of
a smaller one.

The random draws do not depend on ``label_noise``, ``group_disparity``, ``task_conflict`` or
``context_effect``: with the same seed those options change only the labels they act on (the
history shows the ratings and reactions before them). ``drift`` keeps the users, the items,
their texts and each row's time and scene draws, and redraws which user and item a row holds
from the same per-row draws at the row's time. :func:`evidence_words` names the words that
carry each label.
"""

from __future__ import annotations

import inspect
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mtrec import DomainData, DomainSpec, DomainSplit, LabelField, TaskType, hookimpl

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

# label roles: what in the simulation a theme's label field is made from
CATEGORY = "category"  # multiclass: the category the row files the item under
GENRES = "genres"  # multilabel: the item's genres as the viewer tags them
FACET = "facet"  # multiclass: the item's facet (tone) as the reader takes it
RATING = "rating"  # regression: 1-5 stars
ENGAGE = "engage"  # binary: click / watch / follow
LENGTH = "length"  # multiclass, ordinal: a bucket of engagement, trait, format and scene

_TASK_TYPES: Mapping[str, TaskType] = {
    CATEGORY: TaskType.MULTICLASS,
    GENRES: TaskType.MULTILABEL,
    FACET: TaskType.MULTICLASS,
    RATING: TaskType.REGRESSION,
    ENGAGE: TaskType.BINARY,
    LENGTH: TaskType.MULTICLASS,
}

CONTEXT_FIELDS = ("time_of_day", "weekday", "device", "location", "session_position")
HISTORY_LENGTH = 3  # earlier interactions shown per row, newest first
START_TIME = 1_767_571_200  # 2026-01-05 00:00 UTC, a Monday
DAYS = 120

_QUALITY_EFFECT = np.array([1.0, 0.4, -0.4, -1.1])
_QUALITY_PROBS = np.array([0.2, 0.35, 0.3, 0.15])
_GENEROSITY_EFFECT = np.array([0.8, 0.0, -0.8])
_LEVEL = np.array([-1.0, 0.0, 1.0])  # low / middle / high trait, facet or format
_N_CATEGORIES_PROBS = np.array([0.45, 0.4, 0.15])  # a video has 1, 2 or 3 genres
_SECONDARY_PROB = 0.4  # an item of a single-category domain has a secondary category

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIMES = ("morning", "afternoon", "evening", "night")
_HOUR_WEIGHTS = np.array(
    [1, 1, 0.5, 0.5, 0.5, 1, 2, 3, 4, 4, 3, 3, 4, 3, 3, 3, 3, 4, 5, 6, 6, 5, 4, 2], dtype=float
)
_LOCATIONS = ("home", "work", "commute")
_SESSION = ("start", "middle", "deep")

# Quality in words: wide synonym pools shared by every theme, best level first. A theme adds
# its own phrases; an item draws one word and one of its theme's quality templates.
_QUALITY_POOLS: tuple[tuple[str, ...], ...] = (
    (
        "superb",
        "outstanding",
        "excellent",
        "exceptional",
        "brilliant",
        "first-rate",
        "terrific",
        "magnificent",
        "flawless",
        "stellar",
        "top-notch",
        "phenomenal",
        "splendid",
        "marvellous",
    ),
    (
        "good",
        "solid",
        "decent",
        "pleasant",
        "dependable",
        "likeable",
        "enjoyable",
        "satisfying",
        "commendable",
        "sound",
        "worthwhile",
        "respectable",
        "nice",
        "fine",
    ),
    (
        "mediocre",
        "average",
        "so-so",
        "unremarkable",
        "forgettable",
        "middling",
        "uneven",
        "bland",
        "ordinary",
        "lacklustre",
        "passable",
        "humdrum",
        "patchy",
        "underwhelming",
    ),
    (
        "awful",
        "dreadful",
        "terrible",
        "disappointing",
        "shoddy",
        "abysmal",
        "atrocious",
        "dismal",
        "poor",
        "woeful",
        "subpar",
        "lousy",
        "horrible",
        "appalling",
    ),
)


# Generosity in words (generous, middle, harsh): a profile mentions it only sometimes; the
# history's ratings and reactions show it always.
_GENEROSITY_POOLS: tuple[tuple[str, ...], ...] = (
    ("easy to please", "generous with praise", "rarely disappointed", "quick to enthuse",
     "an easy grader", "full of praise for most things"),
    ("even-handed", "measured in judgement", "neither harsh nor soft"),
    ("hard to please", "a tough critic", "picky", "demanding", "sceptical of most things",
     "a stingy grader"),
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Theme:
    """Everything that makes one synthetic domain different from the others."""

    name: str  # registered domain name
    kind: str  # DomainSpec.domain_kind
    description: str  # one line for `mtrec plugins`
    head_set: str  # the domain's own head set (DomainSpec.head_set)
    labels: tuple[tuple[str, str], ...]  # (label field, role), in registration order
    categories: tuple[str, ...]  # class names of the item categories
    category_words: tuple[tuple[str, ...], ...]  # per category: how a profile names it
    nouns: tuple[tuple[str, ...], ...]  # per category
    adjectives: tuple[tuple[str, ...], ...]  # per category
    makers: tuple[str, ...]  # brands, studios, accounts, outlets
    quality_templates: tuple[str, ...]  # with {q}: one quality word
    quality_words: tuple[tuple[str, ...], ...]  # theme's own words per level, added to pools
    facet_classes: tuple[str, ...]  # 3 facet levels (class names when it is a label)
    facet_words: tuple[tuple[str, ...], ...]  # per facet level
    facet_probs: tuple[float, float, float]
    facet_lure: tuple[float, float, float]  # pull of each facet level under task conflict
    format_words: tuple[tuple[str, ...], ...]  # 3 format levels, shortest / cheapest first
    trait_words: tuple[tuple[str, ...], ...]  # 3 trait levels, matching the formats
    openers: tuple[str, ...]
    verbs: tuple[str, ...]  # how a profile says the user likes something
    sensitive: str  # sensitive attribute name
    groups: tuple[str, ...]  # its group names
    group_words: tuple[str, ...]  # how each group appears in the profile
    group_probs: tuple[float, ...]
    disadvantaged: str  # the one group whose labels get the planted disparity
    user_templates: tuple[str, ...]  # fields: opener, group, likes, trait
    item_templates: tuple[str, ...]  # fields: maker, title, quality, format, facet, extra
    distractors: tuple[str, ...]  # sentences that carry nothing
    context_fields: tuple[str, ...]  # from CONTEXT_FIELDS
    devices: tuple[str, ...]  # device values, the most common first
    # (context field, value) -> score; a row's scene is the clipped sum over its fields:
    # -1 favours the first format level (short, cheap), +1 the last (long, premium)
    scene: Mapping[tuple[str, str], float]
    reactions: tuple[str, ...] = ()  # history phrase of a row without / with engagement
    mix_words: tuple[str, ...] = ()  # GENRES: how secondary genres are named
    length_classes: tuple[str, ...] = ()  # LENGTH: bucket names, shortest first

    def classes(self, role: str) -> tuple[str, ...]:
        """Class names of a label with this role (empty for binary and regression)."""
        return {
            CATEGORY: self.categories,
            GENRES: self.categories,
            FACET: self.facet_classes,
            LENGTH: self.length_classes,
        }.get(role, ())


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True, kw_only=True)
class SyntheticOptions:
    """The loader options every synthetic domain takes, with their defaults."""

    seed: int = 0
    n_users: int = 120
    n_items: int = 600
    n_interactions: int = 1500
    difficulty: float = 0.5
    context_effect: float = 1.0
    label_noise: float = 0.0
    group_disparity: float = 0.0
    task_conflict: float = 0.0
    drift: float = 0.0
    validation_fraction: float = 0.1
    test_fraction: float = 0.1

    def split_sizes(self, n_categories: int) -> tuple[int, int, int]:
        """Validate the options; return the (train, validation, test) sizes.

        Raises ValueError naming the first bad option. A domain needs at least
        ``n_categories`` items, so that every item category is present.
        """
        integers: tuple[tuple[str, int, int], ...] = (
            ("seed", self.seed, 0),
            ("n_users", self.n_users, 2),
            ("n_items", self.n_items, n_categories),
            ("n_interactions", self.n_interactions, 3),
        )
        for name, value, low in integers:
            is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            _check(is_int and value >= low, f"{name} must be an integer >= {low}, got {value!r}")
        unit: tuple[tuple[str, float], ...] = (
            ("difficulty", self.difficulty),
            ("label_noise", self.label_noise),
            ("task_conflict", self.task_conflict),
            ("drift", self.drift),
        )
        for name, number in unit:
            _check(
                _number(number) and 0.0 <= number <= 1.0, f"{name} must be in [0, 1], got {number}"
            )
        for name, number in (
            ("context_effect", self.context_effect),
            ("group_disparity", self.group_disparity),
        ):
            _check(
                _number(number) and math.isfinite(number) and number >= 0.0,
                f"{name} must be a finite number >= 0, got {number}",
            )
        val_frac, test_frac = self.validation_fraction, self.test_fraction
        for name, frac in (("validation_fraction", val_frac), ("test_fraction", test_frac)):
            _check(_number(frac) and 0.0 < frac < 1.0, f"{name} must be in (0, 1), got {frac}")
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


def _number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


@dataclass(frozen=True, kw_only=True)
class _RowDraws:
    """The random draws behind each row's user and item (see :func:`sample_interactions`)."""

    users: IntArray  # a user, uniform
    from_liked: NDArray[np.bool_]  # the row's category is one the user likes (else any)
    slot: IntArray  # which of the two liked categories
    any_category: IntArray  # the category when not a liked one
    position: FloatArray  # in [0, 1): where among the category's items


def _draw_rows(rng: np.random.Generator, n_users: int, n_cat: int, n: int) -> _RowDraws:
    users = rng.integers(n_users, size=n)
    from_liked = rng.random(n) < 0.65
    slot = rng.integers(2, size=n)
    return _RowDraws(
        users=users,
        from_liked=from_liked,
        slot=slot,
        any_category=rng.integers(n_cat, size=n),
        position=rng.random(n),
    )


def _assemble_rows(
    draws: _RowDraws, liked: IntArray, category: IntArray
) -> tuple[IntArray, IntArray]:
    n_cat = int(category.max()) + 1
    users = draws.users
    wanted = np.where(draws.from_liked, liked[users, draws.slot], draws.any_category)
    by_category = np.argsort(category, kind="stable")
    counts = np.bincount(category, minlength=n_cat)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    pos = starts[wanted] + (draws.position * counts[wanted]).astype(np.int64)
    return users, by_category[pos]


def sample_interactions(
    rng: np.random.Generator, liked: IntArray, category: IntArray, n_interactions: int
) -> tuple[IntArray, IntArray]:
    """Draw (user, item) rows: a user, then a category (one of the user's two liked ones 65% of
    the time, else any), then an item whose category it is."""
    draws = _draw_rows(rng, len(liked), int(category.max()) + 1, n_interactions)
    return _assemble_rows(draws, liked, category)


# drift: its own random stream, so that the rows of a domain without drift stay what they are
_DRIFT_STREAM = 0xD81F7  # salts the drift's generator
_NEWCOMER_SHARE = 0.3  # at drift 1, about this share of users and of items arrive late
_ARRIVAL = (0.5, 0.9)  # newcomers arrive within this part of the time span
_SWITCH = (0.25, 0.75)  # a drifting user's taste changes within this part of the time span
_POPULARITY_SHIFT = 1.5  # an item's log-popularity moves by drift * 1.5 * slope from mid-span


@dataclass(frozen=True, kw_only=True)
class _DriftPlan:
    """What moves with time under ``drift``: day indices in [0, DAYS)."""

    drift: float
    user_arrival: IntArray  # the first day a user can appear (0: from the start)
    item_arrival: IntArray  # the first day an item can appear
    switch_day: IntArray  # from this day on the user likes late_liked (DAYS: never)
    late_liked: IntArray  # [n_users, 2]: the two categories liked after the switch
    slope: FloatArray  # per item: > 0 rises in popularity, < 0 fades
    stand_in: FloatArray  # per row: picks the user who stands in for one not there yet


def _plan_drift(
    seed: int, name: str, liked: IntArray, category: IntArray, n: int, drift: float
) -> _DriftPlan:
    """Draw the drift's latent plan. Every draw is made whatever ``drift`` is (it only sets
    the thresholds), so a larger drift keeps the newcomers and switchers of a smaller one."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode()), _DRIFT_STREAM])
    n_users, n_items, n_cat = len(liked), len(category), int(category.max()) + 1
    user_late, user_when = rng.random(n_users), rng.random(n_users)
    item_late, item_when = rng.random(n_items), rng.random(n_items)
    switch_draw, switch_when = rng.random(n_users), rng.random(n_users)
    taste = rng.random((n_users, n_cat))
    slope = rng.normal(0.0, 1.0, n_items)
    stand_in = rng.random(n)

    share = _NEWCOMER_SHARE * drift
    late_users = user_late < share
    late_users[int(np.argmax(user_late))] = False  # someone is there from the start
    late_items = item_late < share
    # each category keeps one item from the start: the one least inclined to arrive late
    by_draw = np.lexsort((-item_late, category))
    first_of_category = np.concatenate(([True], category[by_draw][1:] != category[by_draw][:-1]))
    late_items[by_draw[first_of_category]] = False
    low, high = _ARRIVAL
    user_arrival = np.where(late_users, (DAYS * (low + (high - low) * user_when)).astype(int), 0)
    item_arrival = np.where(late_items, (DAYS * (low + (high - low) * item_when)).astype(int), 0)
    # users there from the start drift; a newcomer's profile is fresh and keeps its taste
    low, high = _SWITCH
    switching = (switch_draw < drift) & ~late_users
    switch_day = np.where(switching, (DAYS * (low + (high - low) * switch_when)).astype(int), DAYS)
    taste[np.arange(n_users)[:, None], liked] = 2.0  # the late taste is two other categories
    late_liked = np.argsort(taste, axis=1)[:, :2]
    return _DriftPlan(
        drift=drift,
        user_arrival=user_arrival.astype(np.int64),
        item_arrival=item_arrival.astype(np.int64),
        switch_day=switch_day.astype(np.int64),
        late_liked=late_liked.astype(np.int64),
        slope=np.where(late_items, np.abs(slope), slope),  # a new item rises
        stand_in=stand_in,
    )


def _drifting_rows(
    draws: _RowDraws, liked: IntArray, category: IntArray, day: IntArray, plan: _DriftPlan
) -> tuple[IntArray, IntArray, IntArray]:
    """(user, item) rows as :func:`sample_interactions` draws them, but at the row's time: a
    user who has not arrived yet is replaced by one who has (uniform among them), the
    category follows the user's taste that day and the item is drawn by its popularity that
    day among the items already there. Also returns each row's two liked categories that
    day ([n, 2])."""
    n, n_cat = len(day), int(category.max()) + 1
    rows = np.arange(n)
    by_arrival = np.argsort(plan.user_arrival, kind="stable")
    present = np.searchsorted(plan.user_arrival[by_arrival], day, side="right")
    stand_in = by_arrival[(plan.stand_in * present).astype(np.int64)]
    users = np.where(plan.user_arrival[draws.users] > day, stand_in, draws.users)
    switched = day >= plan.switch_day[users]
    liked_now = np.where(switched[:, None], plan.late_liked[users], liked[users])
    wanted = np.where(draws.from_liked, liked_now[rows, draws.slot], draws.any_category)

    by_category = np.argsort(category, kind="stable")
    counts = np.bincount(category, minlength=n_cat)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    ends = starts + counts
    slope, arrival = plan.slope[by_category], plan.item_arrival[by_category]
    sorted_items = np.empty(n, dtype=np.int64)
    for today in np.unique(day):
        at = np.flatnonzero(day == today)
        mid_span = 2.0 * today / (DAYS - 1) - 1.0  # -1 on the first day, +1 on the last
        weight = np.exp(_POPULARITY_SHIFT * plan.drift * slope * mid_span) * (arrival <= today)
        cumulative = np.concatenate(([0.0], np.cumsum(weight)))
        c = wanted[at]
        low, high = cumulative[starts[c]], cumulative[ends[c]]
        target = low + draws.position[at] * (high - low)
        pos = np.clip(np.searchsorted(cumulative, target, side="right") - 1, starts[c], ends[c] - 1)
        # rounding at a category's edge can land on an item not there yet: step back to one
        while not (weight[pos] > 0).all():
            pos = np.where(weight[pos] > 0, pos, pos - 1)
        sorted_items[at] = pos
    return users, by_category[sorted_items], liked_now


def conflicted_logit(aligned: FloatArray, lure: FloatArray, task_conflict: float) -> FloatArray:
    """Plant task conflict: (1 - c) * aligned + c * opposing.

    The opposing signal is the aligned one mirrored around its mean (scaled by 0.5) plus
    2.5 times a lure independent of it (centred, so the base rate stays): the label stays
    learnable for every c while its correlation with the aligned signal goes from positive
    (c = 0) to negative (c = 1). The lure must weigh: a mirror alone is no conflict for a
    shared representation (a head reads it with the opposite sign, and the rating teaches
    it); the lure is a direction the rating has no use for, so one shared unit cannot serve
    both tasks.
    """
    mean = float(aligned.mean())
    opposing = mean - 0.5 * (aligned - mean) + 2.5 * (lure - float(lure.mean()))
    return (1.0 - task_conflict) * aligned + task_conflict * opposing


def _category_sets(rng: np.random.Generator, first: IntArray, n_cat: int, multi: bool) -> IntArray:
    """0/1 matrix [n, n_cat]: column ``first[i]`` plus 0-2 random others (``multi``) or one
    other with probability 0.4 (not ``multi``)."""
    n = len(first)
    scores = rng.random((n, n_cat))
    sizes = rng.choice(3, size=n, p=_N_CATEGORIES_PROBS) + 1
    if not multi:
        sizes = np.where(rng.random(n) < _SECONDARY_PROB, 2, 1)
    scores[np.arange(n), first] = 2.0  # the first category always ranks first
    ranked = np.argsort(-scores, axis=1)
    keep = np.arange(n_cat)[None, :] < sizes[:, None]
    sets = np.zeros((n, n_cat), dtype=np.int64)
    np.put_along_axis(sets, ranked, keep.astype(np.int64), axis=1)
    return sets


@dataclass(frozen=True, kw_only=True)
class _Simulation:
    """A generated domain plus its noise-free signals, indexed by interaction id."""

    data: DomainData
    # "rating": expected stars before noise and rounding; "aligned": the engagement logit
    # without task conflict; "engage": the engagement probability actually sampled from;
    # "scene": the scene score of each row; "scene_fit": scene x format level (> 0 where the
    # scene favours the item); "affinity": 1 where the user likes the item
    signals: Mapping[str, FloatArray]


def _scene(theme: Theme, context: Mapping[str, np.ndarray], n: int) -> FloatArray:
    score = np.zeros(n)
    for (name, value), weight in theme.scene.items():
        score += weight * (context[name] == value)
    return np.clip(score, -1.0, 1.0)


def _draw_context(
    rng: np.random.Generator, theme: Theme, n: int, n_users: int
) -> tuple[IntArray, dict[str, np.ndarray], Callable[[IntArray], np.ndarray]]:
    """Timestamps, every context field but the device (all drawn, whatever the theme records)
    and the device of each row given its user (the user's usual one most of the time)."""
    day = rng.integers(DAYS, size=n)
    hour = rng.choice(24, size=n, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum())
    second = rng.integers(3600, size=n)
    timestamps = (START_TIME + day * 86400 + hour * 3600 + second).astype(np.int64)
    usual = rng.choice(len(theme.devices), size=n_users, p=_device_probs(len(theme.devices)))
    own = rng.random(n) < 0.7
    other = rng.integers(len(theme.devices), size=n)
    time_index = np.select([hour < 5, hour < 12, hour < 17, hour < 22], [3, 0, 1, 2], 3)
    context = {
        "time_of_day": np.array(_TIMES, dtype=object)[time_index],
        "weekday": np.array(_WEEKDAYS, dtype=object)[day % 7],
        "location": np.array(_LOCATIONS, dtype=object)[rng.choice(3, size=n, p=[0.55, 0.3, 0.15])],
        "session_position": np.array(_SESSION, dtype=object)[
            rng.choice(3, size=n, p=[0.35, 0.4, 0.25])
        ],
    }

    def devices(users: IntArray) -> np.ndarray:
        return np.array(theme.devices, dtype=object)[np.where(own, usual[users], other)]

    return timestamps, context, devices


def _device_probs(k: int) -> FloatArray:
    weights = 1.0 / np.arange(1, k + 1)
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def _histories(
    users: IntArray, timestamps: IntArray, phrases: Sequence[str]
) -> list[tuple[str, ...]]:
    """Per row: the phrases of the user's HISTORY_LENGTH latest earlier rows, newest first."""
    n = len(users)
    order = np.lexsort((np.arange(n), timestamps, users))  # by user, then time
    out: list[tuple[str, ...]] = [()] * n
    previous_user, run = -1, 0
    for position, row in enumerate(order):
        user = int(users[row])
        run = run + 1 if user == previous_user else 0
        previous_user = user
        earlier = order[max(position - min(run, HISTORY_LENGTH), 0) : position]
        out[row] = tuple(phrases[r] for r in earlier[::-1])
    return out


def _user_texts(
    rng: np.random.Generator,
    theme: Theme,
    liked: IntArray,
    traits: tuple[IntArray, IntArray],
    group: IntArray,
    difficulty: float,
) -> list[str]:
    trait, generosity = traits
    texts = []
    for u in range(len(liked)):
        named = [
            _pick(rng, theme.category_words[c])
            for c in liked[u]
            if rng.random() < 1.0 - 0.7 * difficulty
        ]
        likes = " and ".join(named) if named else _pick(rng, ("a bit of everything", "many things"))
        texts.append(
            _pick(rng, theme.user_templates).format(
                opener=_pick(rng, theme.openers),
                group=theme.group_words[group[u]],
                verb=_pick(rng, theme.verbs),
                likes=likes,
                trait=_pick(rng, theme.trait_words[trait[u]]),
            )
        )
        if rng.random() < 0.95 - 0.7 * difficulty:
            texts[-1] += ", " + _pick(rng, _GENEROSITY_POOLS[generosity[u]])
    return texts


def _item_texts(
    rng: np.random.Generator,
    theme: Theme,
    category: IntArray,
    item_sets: IntArray,
    attributes: tuple[IntArray, IntArray, IntArray],
    difficulty: float,
) -> tuple[list[str], list[str]]:
    """(full item texts, short titles for the history)."""
    quality, facet, fmt = attributes
    pools = [(*pool, *own) for pool, own in zip(_QUALITY_POOLS, theme.quality_words, strict=True)]
    n_extra = round(1 + 2 * difficulty)
    texts, titles = [], []
    for i, c in enumerate(category):
        others = [g for g in np.flatnonzero(item_sets[i]) if g != c]
        lender = int(others[0]) if others and not theme.mix_words else int(c)
        title = f"{_pick(rng, theme.adjectives[lender])} {_pick(rng, theme.nouns[c])}"
        if theme.mix_words and others:
            mix = " and ".join(_pick(rng, theme.category_words[g]) for g in others)
            title += f" with a hint of {mix}"
        omit = rng.random() < 0.3 * difficulty
        q_sentence = _pick(rng, theme.quality_templates).format(q=_pick(rng, pools[quality[i]]))
        extras = [_pick(rng, theme.distractors) for _ in range(int(rng.integers(n_extra + 1)))]
        text = _pick(rng, theme.item_templates).format(
            maker=_pick(rng, theme.makers),
            title=title,
            quality="" if omit else " " + q_sentence + ".",
            format=_pick(rng, theme.format_words[fmt[i]]),
            facet=_pick(rng, theme.facet_words[facet[i]]),
            extra="".join(" " + e + "." for e in dict.fromkeys(extras)),
        )
        texts.append(text)
        titles.append(title)
    return texts, titles


def _simulate(theme: Theme, **options: Any) -> _Simulation:
    """Generate ``theme``'s domain (see the module docstring for what is planted).

    ``options`` are the :class:`SyntheticOptions` fields; unknown names raise TypeError, bad
    values ValueError naming the option.
    """
    opts = SyntheticOptions(**options)
    n_cat = len(theme.categories)
    sizes = opts.split_sizes(n_cat)
    n_users, n_items, n = opts.n_users, opts.n_items, opts.n_interactions
    difficulty = float(opts.difficulty)
    roles = dict(theme.labels)
    multi = GENRES in roles.values()
    # the domain's name salts the seed, so that domains loaded with one seed are independent
    rng = np.random.default_rng([opts.seed, zlib.crc32(theme.name.encode())])

    # users: two liked categories, generosity, trait, sensitive group
    liked = np.argsort(rng.random((n_users, n_cat)), axis=1)[:, :2]
    generosity = rng.choice(3, size=n_users, p=[0.3, 0.4, 0.3])
    trait = rng.choice(3, size=n_users, p=[0.3, 0.4, 0.3])
    group = rng.choice(len(theme.groups), size=n_users, p=theme.group_probs)
    user_text = _user_texts(rng, theme, liked, (trait, generosity), group, difficulty)
    # items: primary category (each one present), secondary ones, quality, facet, format
    category = rng.permutation(np.arange(n_items) % n_cat)
    item_sets = _category_sets(rng, category, n_cat, multi)
    quality = rng.choice(4, size=n_items, p=_QUALITY_PROBS)
    facet = rng.choice(3, size=n_items, p=theme.facet_probs)
    fmt = rng.integers(3, size=n_items)
    item_text, titles = _item_texts(
        rng, theme, category, item_sets, (quality, facet, fmt), difficulty
    )
    row_draws = _draw_rows(rng, n_users, n_cat, n)
    timestamps, all_context, devices = _draw_context(rng, theme, n, n_users)
    day = (timestamps - START_TIME) // 86400
    if opts.drift:
        plan = _plan_drift(opts.seed, theme.name, liked, category, n, float(opts.drift))
        users, items, liked_now = _drifting_rows(row_draws, liked, category, day, plan)
    else:
        users, items = _assemble_rows(row_draws, liked, category)
        liked_now = liked[users]
    all_context["device"] = devices(users)

    # every per-row random draw, made whatever the options are
    star_noise = rng.normal(0.0, 0.5, n)
    engage_draw = rng.random(n)
    length_noise = rng.logistic(0.0, 1.0, n)
    disparity_noise = rng.normal(0.0, 1.0, n)
    corrupt_draw = rng.random(n)
    misfile_draw = rng.random(n)
    misfiled = rng.integers(n_cat, size=n)
    keep_draw = rng.random((n, n_cat))
    tone_draw = rng.random(n)
    noisy = rng.random(n) < opts.label_noise
    random_category = rng.integers(n_cat, size=n)
    random_sets = _category_sets(rng, random_category, n_cat, multi=True)
    random_facet = rng.integers(3, size=n)
    random_stars = rng.integers(1, 6, size=n).astype(np.float64)
    random_binary = rng.integers(2, size=n)
    random_length = rng.integers(3, size=n)
    corrupt_length = rng.integers(3, size=n)

    # noise-free latent effects of each interaction
    rows = np.arange(n)
    sets = item_sets[items]
    likes = np.zeros((n, n_cat), dtype=bool)
    likes[rows, liked_now[:, 0]] = True  # the taste valid at the row's time
    likes[rows, liked_now[:, 1]] = True
    affinity = np.asarray((sets.astype(bool) & likes).any(axis=1), dtype=np.float64)
    q_eff = _QUALITY_EFFECT[quality[items]]
    g_eff = _GENEROSITY_EFFECT[generosity[users]]
    fit = _LEVEL[trait[users]] * _LEVEL[fmt[items]]
    scene = _scene(theme, all_context, n)
    scene_fit = np.asarray(scene * _LEVEL[fmt[items]], dtype=np.float64)
    expected = 3.0 + q_eff + g_eff + 0.8 * affinity + 0.5 * fit
    aligned = -1.1 + 1.5 * q_eff + 1.2 * affinity + 1.0 * g_eff
    lure = np.asarray(theme.facet_lure)[facet[items]]
    mixed = conflicted_logit(aligned, lure, opts.task_conflict) if opts.task_conflict else aligned
    rest = 0.6 * fit + 0.8 * _LEVEL[trait[users]]
    planted_scene = 1.5 * opts.context_effect * scene_fit
    logit = mixed + rest + planted_scene
    engage_p = 1.0 / (1.0 + np.exp(-logit))
    clean_p = 1.0 / (1.0 + np.exp(-(aligned + rest + 1.5 * scene_fit)))

    # labels, then the planted disparity for the disadvantaged group only
    primary = category[items]
    secondary_only = sets.astype(bool) & likes & (np.arange(n_cat)[None, :] != primary[:, None])
    filed = np.where(
        secondary_only.any(axis=1) & ~likes[rows, primary], secondary_only.argmax(axis=1), primary
    )
    filed = np.where(misfile_draw < 0.08 * difficulty, misfiled, filed)
    kept = likes | (keep_draw < 1.0 - difficulty)
    kept[rows, primary] = True
    # the viewer tags what the item has (secondary genres only sometimes) and, now and then,
    # a genre they like that it lacks: the pair decides part of the label
    added = likes & (keep_draw > 1.0 - 0.3 * difficulty)
    tagged = ((sets.astype(bool) & kept) | added).astype(np.int64)
    tone = facet[items]
    leaning = np.where(generosity[users] == 0, 2, np.where(generosity[users] == 2, 0, 1))
    tone = np.where((tone == 1) & (tone_draw < 0.5), leaning, tone)
    in_group = np.asarray(theme.groups)[group[users]] == theme.disadvantaged
    corrupt = in_group & (corrupt_draw < min(0.5, opts.group_disparity / 4.0))
    clean_stars = np.clip(np.rint(expected + star_noise), 1.0, 5.0)
    stars = expected + star_noise + in_group * disparity_noise * opts.group_disparity
    engage = (engage_draw < engage_p).astype(np.int64)
    span = mixed - mixed.mean() + rest + 2.0 * _LEVEL[trait[users]] + 1.5 * _LEVEL[fmt[items]]
    length = np.digitize(span + planted_scene + length_noise, [-1.5, 1.5]).astype(np.int64)
    made: dict[str, np.ndarray] = {
        CATEGORY: np.where(noisy, random_category, filed).astype(np.int64),
        GENRES: np.where(noisy[:, None], random_sets, tagged).astype(np.int64),
        FACET: np.where(noisy, random_facet, tone).astype(np.int64),
        RATING: np.where(noisy, random_stars, np.clip(np.rint(stars), 1.0, 5.0)),
        ENGAGE: np.where(noisy, random_binary, np.where(corrupt, 1 - engage, engage)),
        LENGTH: np.where(noisy, random_length, np.where(corrupt, corrupt_length, length)),
    }

    # history: what the user did before, in the words of the item titles
    if RATING in roles.values():
        phrases = [f"{titles[i]} {int(s)}/5" for i, s in zip(items, clean_stars, strict=True)]
    else:
        engaged = engage_draw < clean_p
        phrases = [
            f"{titles[i]} ({theme.reactions[int(e)]})" for i, e in zip(items, engaged, strict=True)
        ]
    history = _histories(users, timestamps, phrases)

    context = {name: all_context[name] for name in theme.context_fields}
    groups = np.array(theme.groups, dtype=object)[group[users]]
    labels = {name: made[role] for name, role in theme.labels}

    def split(picked: IntArray) -> DomainSplit:
        return DomainSplit(
            ids=picked.astype(np.int64),
            user_ids=users[picked].astype(np.int64),
            item_ids=items[picked].astype(np.int64),
            user_text=[user_text[u] for u in users[picked]],
            item_text=[item_text[i] for i in items[picked]],
            labels={name: values[picked] for name, values in labels.items()},
            sensitive={theme.sensitive: groups[picked]},
            context={name: values[picked] for name, values in context.items()},
            history=[history[r] for r in picked],
            timestamps=timestamps[picked],
        )

    order = np.lexsort((rows, timestamps))  # time order: train earliest, test latest
    n_train, n_val, _ = sizes
    data = DomainData(
        train=split(order[:n_train]),
        validation=split(order[n_train : n_train + n_val]),
        test=split(order[n_train + n_val :]),
        label_fields={
            name: LabelField(name=name, task_type=_TASK_TYPES[role], classes=theme.classes(role))
            for name, role in theme.labels
        },
        sensitive_attributes=(theme.sensitive,),
        context_fields=theme.context_fields,
    )
    return _Simulation(
        data=data,
        signals={
            "rating": np.clip(expected, 1.0, 5.0).astype(np.float64),
            "aligned": aligned,
            "engage": engage_p,
            "scene": scene,
            "scene_fit": scene_fit,
            "affinity": affinity,
        },
    )


_LOAD_SIGNATURE = inspect.signature(SyntheticOptions).replace(return_annotation=DomainData)


def _loader(theme: Theme) -> Callable[..., DomainData]:
    """The ``load`` of one theme's DomainSpec: keyword-only :class:`SyntheticOptions`."""

    def load(**options: Any) -> DomainData:
        return _simulate(theme, **options).data

    load.__name__ = load.__qualname__ = "load_" + theme.name.replace("-", "_")
    load.__doc__ = f"Generate ``{theme.name}``; equal arguments give identical data."
    load.__signature__ = _LOAD_SIGNATURE  # type: ignore[attr-defined]  # for inspect.signature
    return load


def domain_spec(theme: Theme, load: Callable[..., DomainData]) -> DomainSpec:
    """The registered DomainSpec of one theme; no data is generated until it is loaded."""
    return DomainSpec(
        name=theme.name,
        load=load,
        label_fields=tuple(name for name, _ in theme.labels),
        sensitive_attributes=(theme.sensitive,),
        description=theme.description,
        domain_kind=theme.kind,
        context_fields=theme.context_fields,
        head_set=theme.head_set,
    )


# --------------------------------------------------------------------------------------
# the five themes
# --------------------------------------------------------------------------------------

ECOMMERCE_DISADVANTAGED = "55+"
VIDEO_DISADVANTAGED = "female"
SOCIAL_DISADVANTAGED = "africa"
TRAVEL_DISADVANTAGED = "65+"
NEWS_DISADVANTAGED = "18-34"

_TONE_CLASSES = ("negative", "neutral", "positive")
_USER_TEMPLATES = (
    "{opener} {group} who {verb} {likes}; {trait}",
    "{opener}, {group}; {verb} {likes} and {trait}",
    "{group} {opener}: {trait}, {verb} {likes}",
)

ECOMMERCE = Theme(
    name="synthetic-ecommerce",
    kind="e-commerce",
    description="Seeded synthetic shop: users x products with category, rating and click "
    "labels, history, time/device scene, planted age-group disparity",
    head_set="ecommerce-seed",
    labels=(("category", CATEGORY), ("rating", RATING), ("click", ENGAGE)),
    categories=("electronics", "kitchen", "outdoor", "books", "fashion", "toys"),
    category_words=(
        ("electronics", "gadgets", "tech gear", "consumer electronics", "devices"),
        ("kitchenware", "cookware", "kitchen tools", "cooking gear", "bakeware"),
        ("outdoor gear", "camping kit", "hiking equipment", "trail gear", "camping supplies"),
        ("books", "novels", "reading", "literature", "paperbacks"),
        ("fashion", "clothing", "apparel", "streetwear", "accessories"),
        ("toys", "games for kids", "playthings", "children's toys", "kids' gifts"),
    ),
    nouns=(
        (
            "headphones",
            "charger",
            "speaker",
            "keyboard",
            "monitor",
            "webcam",
            "smartwatch",
            "tablet",
            "earbuds",
            "router",
            "power bank",
            "mouse",
            "soundbar",
            "e-reader",
        ),
        (
            "skillet",
            "blender",
            "kettle",
            "knife set",
            "cutting board",
            "saucepan",
            "toaster",
            "whisk",
            "wok",
            "colander",
            "stockpot",
            "grater",
            "rolling pin",
            "casserole dish",
        ),
        (
            "backpack",
            "tent",
            "sleeping bag",
            "hiking boots",
            "lantern",
            "camp stove",
            "compass",
            "trekking poles",
            "hammock",
            "water filter",
            "headlamp",
            "bivvy",
            "canteen",
            "tarp",
        ),
        (
            "novel",
            "cookbook",
            "biography",
            "paperback",
            "memoir",
            "poetry collection",
            "travel guide",
            "thriller",
            "anthology",
            "atlas",
            "short stories",
            "graphic novel",
            "essay collection",
            "mystery",
        ),
        (
            "jacket",
            "sneakers",
            "scarf",
            "handbag",
            "sweater",
            "jeans",
            "sunglasses",
            "dress",
            "blazer",
            "loafers",
            "cardigan",
            "trench coat",
            "beanie",
            "chinos",
        ),
        (
            "puzzle",
            "building blocks",
            "plush bear",
            "toy car",
            "board game",
            "doll",
            "kite",
            "yo-yo",
            "train set",
            "spinning top",
            "rocking horse",
            "marble run",
            "puppet",
            "toy robot",
        ),
    ),
    adjectives=(
        ("wireless", "bluetooth", "usb-c", "noise-cancelling", "smart", "rechargeable"),
        ("nonstick", "stainless", "ceramic", "cast-iron", "dishwasher-safe", "copper"),
        ("waterproof", "rugged", "ultralight", "windproof", "all-weather", "packable"),
        ("illustrated", "annotated", "signed", "bestselling", "abridged", "first-edition"),
        ("wool", "slim-fit", "leather", "linen", "tailored", "denim"),
        ("colorful", "educational", "wooden", "squeaky", "plush", "battery-powered"),
    ),
    makers=(
        "Acme",
        "Northwind",
        "Brightline",
        "Corvid",
        "Halden",
        "Lumio",
        "Pinecrest",
        "Zephyr",
        "Oakfield",
        "Vantor",
    ),
    quality_templates=(
        "Buyers call it {q}",
        "Reviews say {q}",
        "Shoppers rate it {q}",
        "{q}, according to reviews",
        "Customers find it {q}",
    ),
    quality_words=(
        ("a five-star buy",),
        ("worth the money",),
        ("hit and miss",),
        ("a waste of money",),
    ),
    facet_classes=("on sale", "regular", "limited"),
    facet_words=(
        ("on sale today", "discounted this week", "a flash deal"),
        ("in stock", "ships as usual", "regularly stocked"),
        ("limited edition", "a rare find", "few left"),
    ),
    facet_probs=(0.3, 0.45, 0.25),
    facet_lure=(1.2, 0.0, -0.4),
    format_words=(
        ("costs little", "cheap", "a bargain price", "low-priced"),
        ("mid-priced", "a moderate price", "fairly priced"),
        ("pricey", "a luxury price", "high-end", "expensive"),
    ),
    trait_words=(
        ("counts every penny", "hunts for bargains", "shops on a tight budget"),
        ("spends with care", "compares prices now and then"),
        ("happy to splurge", "pays for the best", "never checks the price"),
    ),
    openers=("shopper", "customer", "buyer"),
    verbs=("often buys", "keeps browsing", "shops for", "is into"),
    sensitive="age_group",
    groups=("18-34", "35-54", "55+"),
    group_words=("aged 18-34", "aged 35-54", "aged 55+"),
    group_probs=(0.4, 0.35, 0.25),
    disadvantaged=ECOMMERCE_DISADVANTAGED,
    user_templates=_USER_TEMPLATES,
    item_templates=(
        "{maker} {title}, {format}.{quality} {facet}.{extra}",
        "{title} by {maker}.{quality} Price: {format}; {facet}.{extra}",
        "{maker} {title}: {facet}, {format}.{quality}{extra}",
    ),
    distractors=(
        "Ships in recyclable packaging",
        "Available in three colours",
        "Gift wrap on request",
        "Sold by a verified seller",
        "Returns within 30 days",
        "Listed last spring",
        "Stocked in the main warehouse",
        "Barcode printed on the box",
    ),
    context_fields=("time_of_day", "device"),
    devices=("mobile", "desktop", "tablet"),
    scene={
        ("device", "mobile"): -0.5,
        ("time_of_day", "night"): -0.5,
        ("time_of_day", "evening"): -0.3,
        ("device", "desktop"): 0.5,
        ("time_of_day", "morning"): 0.3,
        ("time_of_day", "afternoon"): 0.3,
    },
)

_VIDEO_GENRES = (
    "action",
    "comedy",
    "drama",
    "horror",
    "sci-fi",
    "romance",
    "documentary",
    "animation",
)

VIDEO = Theme(
    name="synthetic-video",
    kind="video",
    description="Seeded synthetic streaming: viewers x titles with multilabel genres, rating "
    "and watch labels, history, time/device/weekday scene, planted gender disparity",
    head_set="video-seed",
    labels=(("genres", GENRES), ("rating", RATING), ("watch", ENGAGE)),
    categories=_VIDEO_GENRES,
    category_words=(
        ("action movies", "blockbusters", "shoot-'em-ups", "stunt-heavy films"),
        ("comedies", "funny films", "laughs", "sitcoms"),
        ("dramas", "serious films", "tearjerkers", "character pieces"),
        ("horror films", "scary movies", "frights", "chillers"),
        ("science fiction", "space adventures", "futuristic stories", "sci-fi"),
        ("romantic films", "love stories", "romcoms", "date-night movies"),
        ("documentaries", "true stories", "factual films", "real-life stories"),
        ("animated films", "cartoons", "anime", "animation"),
    ),
    nouns=(
        (
            "heist thriller",
            "car chase movie",
            "spy caper",
            "martial arts film",
            "shootout",
            "commando mission",
            "getaway story",
            "bounty hunt",
        ),
        (
            "buddy comedy",
            "stand-up show",
            "office farce",
            "slapstick romp",
            "prank show",
            "satire",
            "mockumentary",
            "sketch show",
        ),
        (
            "family saga",
            "courtroom drama",
            "period piece",
            "character study",
            "war drama",
            "coming-of-age story",
            "prison drama",
            "political drama",
        ),
        (
            "haunted house film",
            "slasher",
            "creature feature",
            "ghost story",
            "zombie outbreak",
            "possession tale",
            "vampire story",
            "cabin nightmare",
        ),
        (
            "space opera",
            "time travel saga",
            "robot uprising",
            "alien invasion",
            "starship voyage",
            "cyberpunk tale",
            "clone mystery",
            "dystopia",
        ),
        (
            "love story",
            "summer fling",
            "holiday romance",
            "second-chance romance",
            "wedding tale",
            "long-distance romance",
            "meet-cute",
            "love triangle",
        ),
        (
            "nature film",
            "true crime series",
            "history film",
            "biopic",
            "wildlife series",
            "exposé",
            "travelogue",
            "science explainer",
        ),
        (
            "animated feature",
            "cartoon series",
            "stop-motion film",
            "anime series",
            "claymation",
            "cel-shaded adventure",
            "puppet film",
            "hand-drawn fable",
        ),
    ),
    adjectives=(
        ("explosive", "fast-paced", "gritty", "adrenaline-fuelled", "hard-hitting"),
        ("hilarious", "witty", "goofy", "quirky", "laugh-out-loud"),
        ("moving", "poignant", "slow-burning", "intimate", "heartbreaking"),
        ("terrifying", "creepy", "blood-soaked", "eerie", "nightmarish"),
        ("futuristic", "mind-bending", "galactic", "dystopian", "interstellar"),
        ("heartwarming", "tender", "swoon-worthy", "passionate", "bittersweet"),
        ("eye-opening", "investigative", "informative", "factual", "revealing"),
        ("colorful", "hand-drawn", "family-friendly", "whimsical", "pixel-perfect"),
    ),
    mix_words=_VIDEO_GENRES,
    makers=(
        "Northlight",
        "Bluefin",
        "Redwood",
        "Kestrel",
        "Amberline",
        "Moonrise",
        "Ironbark",
        "Solstice",
    ),
    quality_templates=(
        "Critics call it {q}",
        "Viewers find it {q}",
        "Reviews: {q}",
        "{q}, say critics",
        "Audiences rate it {q}",
    ),
    quality_words=(("a must-watch",), ("worth a watch",), ("only for fans",), ("a flop",)),
    facet_classes=("trending", "steady", "niche"),
    facet_words=(
        ("trending this week", "everyone is talking about it"),
        ("a catalogue staple", "a steady pick"),
        ("a little-known release", "a cult pick"),
    ),
    facet_probs=(0.25, 0.45, 0.3),
    facet_lure=(1.2, 0.0, -0.6),
    format_words=(
        ("a ten-minute clip", "a short", "a bite-sized episode"),
        ("a one-hour episode", "a TV episode", "an hour long"),
        ("a feature-length film", "a full season", "a three-hour epic"),
    ),
    trait_words=(
        ("watches in short bursts", "rarely finishes a series", "dips in now and then"),
        ("watches a few evenings a week", "streams most weekends"),
        ("binge-watches whole seasons", "stays up for marathons"),
    ),
    openers=("viewer", "subscriber", "streamer"),
    verbs=("mostly watches", "can't get enough of", "usually streams", "enjoys"),
    sensitive="gender",
    groups=("female", "male", "nonbinary"),
    group_words=("female", "male", "nonbinary"),
    group_probs=(0.38, 0.55, 0.07),
    disadvantaged=VIDEO_DISADVANTAGED,
    user_templates=_USER_TEMPLATES,
    item_templates=(
        "{maker} {title}, {format}.{quality} {facet}.{extra}",
        "{title} from {maker}; {format}.{quality} {facet}.{extra}",
        "{maker} presents {title}: {facet}, {format}.{quality}{extra}",
    ),
    distractors=(
        "Subtitles in twelve languages",
        "Filmed on location",
        "Released in spring",
        "Available in HD",
        "Part of the new catalogue",
        "Dubbed versions exist",
        "Rated for ages 12 and up",
        "Soundtrack sold separately",
    ),
    context_fields=("time_of_day", "weekday", "device"),
    devices=("tv", "mobile", "laptop", "tablet"),
    scene={
        ("device", "mobile"): -0.6,
        ("time_of_day", "night"): -0.5,
        ("time_of_day", "morning"): -0.3,
        ("device", "tv"): 0.5,
        ("time_of_day", "evening"): 0.3,
        ("weekday", "saturday"): 0.3,
        ("weekday", "sunday"): 0.3,
    },
)

SOCIAL = Theme(
    name="synthetic-social",
    kind="social",
    description="Seeded synthetic social feed: users x posts with interest, sentiment and "
    "follow labels, history, device/session scene, planted regional disparity",
    head_set="social-seed",
    labels=(("interest", CATEGORY), ("sentiment", FACET), ("follow", ENGAGE)),
    categories=("sports", "music", "politics", "technology", "food", "gaming"),
    category_words=(
        ("sports", "athletics", "football", "the big leagues"),
        ("music", "bands", "live gigs", "new albums"),
        ("politics", "current affairs", "elections", "public policy"),
        ("tech news", "gadgets", "software", "startups"),
        ("cooking", "recipes", "food", "eating out"),
        ("video games", "gaming", "esports", "consoles"),
    ),
    nouns=(
        (
            "match highlights",
            "transfer rumor",
            "training clip",
            "league table",
            "derby recap",
            "penalty replay",
            "fixture list",
            "stadium tour",
        ),
        (
            "concert review",
            "album teaser",
            "guitar cover",
            "festival lineup",
            "tour diary",
            "vinyl haul",
            "setlist",
            "duet",
        ),
        (
            "debate recap",
            "policy thread",
            "parliament update",
            "campaign rally",
            "poll analysis",
            "referendum take",
            "manifesto breakdown",
            "town hall",
        ),
        (
            "gadget unboxing",
            "software update",
            "startup launch",
            "coding tip",
            "chip teardown",
            "app review",
            "server outage",
            "robotics demo",
        ),
        (
            "recipe video",
            "restaurant review",
            "baking tutorial",
            "street food tour",
            "brunch spread",
            "spice guide",
            "pasta hack",
            "taco crawl",
        ),
        (
            "speedrun clip",
            "patch notes",
            "esports recap",
            "game review",
            "boss fight",
            "controller mod",
            "tournament bracket",
            "loot haul",
        ),
    ),
    adjectives=(
        ("last-minute", "championship", "locker-room", "sporty", "matchday"),
        ("acoustic", "live", "chart-topping", "indie", "orchestral"),
        ("partisan", "bipartisan", "legislative", "electoral", "diplomatic"),
        ("cutting-edge", "open-source", "wireless", "digital", "AI-powered"),
        ("homemade", "spicy", "vegan", "crispy", "slow-cooked"),
        ("multiplayer", "retro", "competitive", "pixel-art", "co-op"),
    ),
    makers=(
        "@citylights",
        "@daily_take",
        "@marlowe",
        "@nightowl",
        "@pixelpost",
        "@riverstone",
        "@sunnyside",
        "@wildcard",
    ),
    quality_templates=(
        "Followers call it {q}",
        "Replies say {q}",
        "Readers find it {q}",
        "{q}, by most replies",
        "Commenters rate it {q}",
    ),
    quality_words=(
        ("widely shared",),
        ("gets steady likes",),
        ("barely noticed",),
        ("reported as spam",),
    ),
    facet_classes=_TONE_CLASSES,
    facet_words=(
        ("an angry rant", "full of complaints", "furious in tone"),
        ("a matter-of-fact update", "a plain summary", "calm and factual"),
        ("cheerful and upbeat", "full of praise", "gushing with joy"),
    ),
    facet_probs=(0.3, 0.35, 0.35),
    facet_lure=(1.0, 0.0, -0.4),
    format_words=(
        ("a photo", "a single picture", "a meme"),
        ("a short post", "a few lines", "a quick note"),
        ("a long thread", "a twenty-part thread", "a long essay"),
    ),
    trait_words=(
        ("mostly scrolls past", "rarely reads long posts", "skims the feed"),
        ("posts now and then", "reads a few posts a day"),
        ("reads every thread", "writes long replies", "posts essays daily"),
    ),
    openers=("user", "member", "poster"),
    verbs=("mostly follows", "posts about", "is into", "talks about"),
    sensitive="region",
    groups=("americas", "europe", "asia-pacific", "africa"),
    group_words=("from the Americas", "from Europe", "from Asia-Pacific", "from Africa"),
    group_probs=(0.34, 0.3, 0.24, 0.12),
    disadvantaged=SOCIAL_DISADVANTAGED,
    user_templates=_USER_TEMPLATES,
    item_templates=(
        "post by {maker}: {title}, {format}, {facet}.{quality}{extra}",
        "{maker} shared {format}: {title}; {facet}.{quality}{extra}",
        "{format} from {maker} about {title}, {facet}.{quality}{extra}",
    ),
    distractors=(
        "Posted with a hashtag",
        "Edited once",
        "Pinned for a day",
        "Shared from another account",
        "Has a link preview",
        "Posted from a phone",
        "Includes an emoji",
        "Mentions two accounts",
    ),
    context_fields=("time_of_day", "device", "session_position"),
    devices=("mobile", "desktop", "tablet"),
    scene={
        ("session_position", "deep"): -0.6,
        ("device", "mobile"): -0.4,
        ("session_position", "start"): 0.5,
        ("device", "desktop"): 0.5,
        ("time_of_day", "night"): -0.3,
    },
    reactions=("scrolled past", "followed"),
)

TRAVEL = Theme(
    name="synthetic-travel",
    kind="travel",
    description="Seeded synthetic trips: travellers x destinations with destination type, "
    "rating and trip length labels, history, weekday/location scene, planted age-group "
    "disparity",
    head_set="travel-seed",
    labels=(("destination_type", CATEGORY), ("rating", RATING), ("trip_length", LENGTH)),
    categories=("beach", "city", "mountain", "countryside", "cultural", "wildlife"),
    category_words=(
        ("beach holidays", "seaside breaks", "sun and sand", "coastal trips"),
        ("city breaks", "urban weekends", "metropolis trips", "big-city stays"),
        ("mountain trips", "alpine holidays", "peaks and passes", "ski trips"),
        ("countryside escapes", "rural retreats", "farm stays", "village holidays"),
        ("cultural tours", "museums and ruins", "heritage trips", "art weekends"),
        ("wildlife safaris", "animal spotting", "nature reserves", "jungle trips"),
    ),
    nouns=(
        (
            "seaside resort",
            "island bungalow",
            "coastal villa",
            "surf camp",
            "beach hut",
            "lagoon lodge",
            "boardwalk hotel",
            "marina suite",
        ),
        (
            "downtown hotel",
            "city apartment",
            "rooftop hostel",
            "urban loft",
            "boutique hotel",
            "metro studio",
            "skyline suite",
            "canal-side flat",
        ),
        (
            "alpine lodge",
            "ski chalet",
            "hiking hut",
            "mountain cabin",
            "glacier camp",
            "summit refuge",
            "valley inn",
            "pine cabin",
        ),
        (
            "farm stay",
            "country cottage",
            "vineyard inn",
            "lakeside barn",
            "orchard cabin",
            "meadow yurt",
            "mill house",
            "village guesthouse",
        ),
        (
            "heritage tour",
            "museum circuit",
            "old town walk",
            "temple trail",
            "castle stay",
            "cathedral route",
            "ruins trek",
            "palace visit",
        ),
        (
            "safari camp",
            "rainforest lodge",
            "whale-watching cruise",
            "national park tour",
            "gorilla trek",
            "birding hide",
            "savanna tent",
            "reef dive",
        ),
    ),
    adjectives=(
        ("sandy", "sunny", "tropical", "palm-fringed", "turquoise"),
        ("bustling", "stylish", "central", "neon-lit", "cosmopolitan"),
        ("snowy", "rugged", "high-altitude", "craggy", "alpine"),
        ("rustic", "peaceful", "rolling", "pastoral", "sleepy"),
        ("historic", "ancient", "artistic", "medieval", "baroque"),
        ("remote", "untamed", "eco-friendly", "wild", "lush"),
    ),
    makers=(
        "Sunway",
        "Globetrek",
        "Wayfarer",
        "Bluehorizon",
        "Nomadia",
        "Trailmark",
        "Voyagio",
        "Compassrose",
    ),
    quality_templates=(
        "Guests call it {q}",
        "Visitors find it {q}",
        "Reviews: {q}",
        "{q}, say past guests",
        "Travellers rate it {q}",
    ),
    quality_words=(("a dream stay",), ("comfortable",), ("hit or miss",), ("a tourist trap",)),
    facet_classes=("off-peak", "shoulder", "peak"),
    facet_words=(
        ("quiet out of season", "off-peak rates"),
        ("shoulder season", "moderately busy"),
        ("packed in high season", "peak-season crowds"),
    ),
    facet_probs=(0.3, 0.4, 0.3),
    facet_lure=(0.0, 0.0, 0.0),
    format_words=(
        ("a short drive from home", "reachable by train in hours", "close to home"),
        ("a short flight away", "a few hours by plane", "one flight away"),
        (
            "a long-haul flight away",
            "on the other side of the world",
            "two connecting flights away",
        ),
    ),
    trait_words=(
        ("prefers quick getaways", "likes short breaks", "rarely takes long leave"),
        ("usually takes a week off", "likes week-long holidays"),
        ("takes long extended trips", "travels for weeks at a time"),
    ),
    openers=("traveller", "holidaymaker", "tourist"),
    verbs=("loves", "usually books", "dreams of", "keeps planning"),
    sensitive="age_group",
    groups=("18-29", "30-49", "50-64", "65+"),
    group_words=("aged 18-29", "aged 30-49", "aged 50-64", "aged 65+"),
    group_probs=(0.27, 0.36, 0.22, 0.15),
    disadvantaged=TRAVEL_DISADVANTAGED,
    user_templates=_USER_TEMPLATES,
    item_templates=(
        "{maker} {title}, {format}.{quality} {facet}.{extra}",
        "{title} with {maker}: {format}, {facet}.{quality}{extra}",
        "{maker} offers a {title}; {facet}, {format}.{quality}{extra}",
    ),
    distractors=(
        "Free cancellation",
        "Breakfast available",
        "Pets allowed on request",
        "Wi-Fi in the lobby",
        "Check-in from 3 pm",
        "Parking nearby",
        "Booked via partner site",
        "Photos updated last month",
    ),
    context_fields=("weekday", "device", "location"),
    devices=("mobile", "desktop", "tablet"),
    scene={
        ("location", "work"): -0.5,
        ("location", "commute"): -0.5,
        ("weekday", "monday"): -0.3,
        ("weekday", "tuesday"): -0.3,
        ("weekday", "wednesday"): -0.3,
        ("weekday", "thursday"): -0.3,
        ("location", "home"): 0.3,
        ("weekday", "saturday"): 0.5,
        ("weekday", "sunday"): 0.5,
        ("device", "desktop"): 0.3,
    },
    length_classes=("weekend", "one-week", "two-weeks-plus"),
)

_WORKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")

NEWS = Theme(
    name="synthetic-news",
    kind="news",
    description="Seeded synthetic news feed: readers x articles with topic, click and "
    "sentiment labels, history, time/weekday/device scene, planted age-group disparity",
    head_set="news-seed",
    labels=(("topic", CATEGORY), ("click", ENGAGE), ("sentiment", FACET)),
    categories=(
        "politics",
        "business",
        "sports",
        "technology",
        "health",
        "entertainment",
        "science",
    ),
    category_words=(
        ("politics", "government", "elections", "Westminster and Washington"),
        ("business news", "markets", "the economy", "finance"),
        ("sports", "the scores", "football", "athletics"),
        ("technology", "tech", "gadgets", "the digital world"),
        ("health", "medicine", "wellbeing", "fitness"),
        ("celebrity gossip", "showbiz", "entertainment", "film and TV"),
        ("science", "research", "space and nature", "discoveries"),
    ),
    nouns=(
        (
            "election result",
            "cabinet reshuffle",
            "budget vote",
            "policy debate",
            "coalition talks",
            "by-election",
            "senate hearing",
            "summit",
        ),
        (
            "earnings report",
            "stock rally",
            "merger deal",
            "market outlook",
            "rate decision",
            "bond sell-off",
            "IPO",
            "trade deficit",
        ),
        (
            "cup final",
            "transfer saga",
            "title race",
            "injury update",
            "relegation battle",
            "marathon",
            "grand slam",
            "derby",
        ),
        (
            "chip launch",
            "app update",
            "AI model release",
            "data breach",
            "satellite internet",
            "chatbot",
            "smartphone",
            "quantum computer",
        ),
        (
            "vaccine study",
            "hospital funding",
            "diet research",
            "flu season",
            "sleep study",
            "cancer trial",
            "mental health report",
            "fitness trend",
        ),
        (
            "film premiere",
            "celebrity wedding",
            "album release",
            "award show",
            "reality show",
            "box office",
            "red-carpet look",
            "talent contest",
        ),
        (
            "space mission",
            "climate study",
            "fossil discovery",
            "physics experiment",
            "telescope image",
            "gene study",
            "volcano survey",
            "deep-sea finding",
        ),
    ),
    adjectives=(
        ("parliamentary", "partisan", "electoral", "ministerial", "constitutional"),
        ("quarterly", "corporate", "financial", "fiscal", "wall-street"),
        ("league", "championship", "athletic", "olympic", "sporting"),
        ("digital", "high-tech", "software", "silicon", "cyber"),
        ("medical", "clinical", "public-health", "nutritional", "epidemic"),
        ("red-carpet", "celebrity", "blockbuster", "showbiz", "tabloid"),
        ("scientific", "peer-reviewed", "lab-based", "astronomical", "geological"),
    ),
    makers=(
        "Ledger",
        "Courier",
        "Gazette",
        "Tribune",
        "Herald",
        "Sentinel",
        "Chronicle",
        "Observer",
    ),
    quality_templates=(
        "Readers call it {q}",
        "Media critics find it {q}",
        "Verdict: {q}",
        "{q}, say readers",
        "Fact-checkers rate it {q}",
    ),
    quality_words=(
        ("a carefully sourced scoop",),
        ("clear reporting",),
        ("thin on sources",),
        ("clickbait",),
    ),
    facet_classes=_TONE_CLASSES,
    facet_words=(
        ("grim and alarming", "a bleak, worrying story", "full of gloom"),
        ("a neutral report", "straight reporting", "plain and factual"),
        ("upbeat and hopeful", "good news", "a cheering story"),
    ),
    facet_probs=(0.35, 0.35, 0.3),
    facet_lure=(1.0, 0.0, -0.4),
    format_words=(
        ("a news brief", "a two-minute read", "a quick summary"),
        ("a standard report", "a five-minute read"),
        ("a long read", "an in-depth feature", "a twenty-minute read"),
    ),
    trait_words=(
        ("only skims the headlines", "wants the news fast", "reads in short bursts"),
        ("reads the news most days", "checks the app daily"),
        ("reads every long feature", "devours in-depth pieces"),
    ),
    openers=("reader", "subscriber", "news fan"),
    verbs=("mostly reads", "follows", "always checks", "is hooked on"),
    sensitive="age_group",
    groups=("18-34", "35-54", "55+"),
    group_words=("aged 18-34", "aged 35-54", "aged 55+"),
    group_probs=(0.3, 0.37, 0.33),
    disadvantaged=NEWS_DISADVANTAGED,
    user_templates=_USER_TEMPLATES,
    item_templates=(
        "{maker} reports: {title}, {format}; {facet}.{quality}{extra}",
        "{title} ({maker}), {format}. {facet}.{quality}{extra}",
        "{maker}: {facet} on the {title}, {format}.{quality}{extra}",
    ),
    distractors=(
        "Updated an hour ago",
        "Includes a photo gallery",
        "With a podcast version",
        "Filed from the newsroom",
        "Comments are open",
        "Part of a series",
        "Translated from another edition",
        "Shared by an editor",
    ),
    context_fields=("time_of_day", "weekday", "device"),
    devices=("mobile", "desktop", "tablet"),
    scene={
        **{("weekday", day): -0.4 for day in _WORKDAYS},
        ("time_of_day", "morning"): -0.6,
        ("weekday", "saturday"): 0.5,
        ("weekday", "sunday"): 0.5,
        ("time_of_day", "evening"): 0.4,
        ("device", "tablet"): 0.3,
    },
    reactions=("skipped", "read"),
)

THEMES: tuple[Theme, ...] = (VIDEO, SOCIAL, TRAVEL, NEWS)  # the four this module registers
ALL_THEMES: tuple[Theme, ...] = (ECOMMERCE, *THEMES)  # with synthetic-ecommerce

load_synthetic_ecommerce = _loader(ECOMMERCE)
load_synthetic_video = _loader(VIDEO)
load_synthetic_social = _loader(SOCIAL)
load_synthetic_travel = _loader(TRAVEL)
load_synthetic_news = _loader(NEWS)
LOADERS: Mapping[str, Callable[..., DomainData]] = {
    VIDEO.name: load_synthetic_video,
    SOCIAL.name: load_synthetic_social,
    TRAVEL.name: load_synthetic_travel,
    NEWS.name: load_synthetic_news,
}
ALL_LOADERS: Mapping[str, Callable[..., DomainData]] = {
    ECOMMERCE.name: load_synthetic_ecommerce,
    **LOADERS,
}


# --------------------------------------------------------------------------------------
# planted evidence, for explainability checks
# --------------------------------------------------------------------------------------

# words that join phrases and carry no attribute by themselves
_FUNCTION_WORDS = frozenset(
    ["a", "an", "and", "at", "by", "for", "from", "in", "is", "it", "of", "on", "or", "so",
     "the", "to", "who", "with", "say", "says", "by", "rate", "rates", "call", "find", "it"]
)  # fmt: skip
_SEPARATORS = str.maketrans({c: " " for c in ",:;.()"})


def _words(phrases: Any) -> set[str]:
    """The lower-case words of (nested collections of) phrases, split on spaces and
    punctuation."""
    if isinstance(phrases, str):
        return set(phrases.lower().translate(_SEPARATORS).split())
    found: set[str] = set()
    for phrase in phrases:
        found |= _words(phrase)
    return found


def _theme_evidence(theme: Theme, role: str) -> set[str]:
    category = _words((theme.category_words, theme.nouns, theme.adjectives, theme.mix_words))
    quality = _words((_QUALITY_POOLS, theme.quality_words))
    pair = _words((theme.trait_words, theme.format_words))
    scene = _words(value for (_, value), weight in theme.scene.items() if weight)
    stars = {f"{k}/5" for k in range(1, 6)}
    reactions = _words(theme.reactions)
    facet = _words(theme.facet_words)
    engage = quality | category | pair | scene | reactions | stars
    return {
        CATEGORY: category,
        GENRES: category,
        FACET: facet | reactions,
        RATING: quality | category | pair | stars,
        ENGAGE: engage | (facet if any(theme.facet_lure) else set()),
        LENGTH: engage,
    }[role]


def evidence_words(domain: str, label_field: str) -> frozenset[str]:
    """The planted words of ``label_field`` in the synthetic domain named ``domain``.

    A row's rendered text (scene, profile, history, item) carries its label through these
    words: the lower-case words (split on spaces and on ``, : ; . ( )``; function words such
    as "and" left out) of every phrase the generator draws to express a latent attribute the
    label is made from, e.g. the category synonyms, nouns and adjectives for a category
    label; the quality synonyms, category words, trait and format phrases and the history's
    star ratings ("4/5") for a rating; those plus the scene values that move it ("mobile",
    "night") and the history reactions ("followed") for an engagement label. Words outside
    the set (makers, openers, group names, templates, distractor sentences) do not cause the
    label; they can only help recognise an item or user seen in training (a fixed item text
    identifies its item). A bag of the planted words alone beats a bag of all the others on
    every label (tests/plugins/test_synthetic_calibration.py), so an explainer faithful to a
    trained model should put more attribution on them than a random one does. Raises
    KeyError for an unknown domain or label field.
    """
    theme = next((t for t in ALL_THEMES if t.name == domain), None)
    if theme is None:
        raise KeyError(f"unknown synthetic domain {domain!r}")
    roles = dict(theme.labels)
    if label_field not in roles:
        raise KeyError(f"{domain} has no label field {label_field!r}")
    return frozenset(_theme_evidence(theme, roles[label_field]) - _FUNCTION_WORDS)


@hookimpl
def mtrec_register_domains() -> list[DomainSpec]:
    """Register the video, social, travel and news domains (``synthetic-ecommerce`` is
    registered by its own plugin); no data is generated until one is loaded."""
    return [domain_spec(theme, LOADERS[theme.name]) for theme in THEMES]
