"""Four more deterministic synthetic domains: video, social, travel and news.

``synthetic-video``, ``synthetic-social``, ``synthetic-travel`` and ``synthetic-news`` share one
small engine (:func:`_simulate`) and differ only in their :class:`Theme`: the words, the label
fields, the sensitive attribute and its disadvantaged group. Every number comes from one
``numpy.random.default_rng([seed, crc32(domain name)])``, so equal arguments give equal data,
and two domains loaded with the same seed are still independent draws. What is planted:

* Users have two liked item categories (genres, interest topics, destination types, news
  topics), a generosity level (how kindly they rate or react), an activity trait (how much they
  watch/post/read, or how long they like to travel) and a sensitive group. Items have a primary
  category (video items may add one or two secondary genres), a maker (studio, author, brand,
  outlet), a quality level and a three-level facet (buzz, tone or distance). All of it is stated
  in words in the user and item texts, so a language model can read it.
* Item-level labels (``genres``, ``interest``, ``destination_type``, ``topic``, and
  ``sentiment`` from the tone facet) are learnable from the item text alone.
* ``rating`` (regression, 1-5 stars) = 3 + quality + generosity + 0.8 * affinity + noise,
  rounded and clipped; affinity is 1 when the user likes (one of) the item's categories. The
  main effects are strong enough for a bag-of-words linear model; the user x item affinity
  rewards models that pair both texts.
* The engagement label (binary ``watch``, ``follow``, ``click``) is drawn from a sigmoid of an
  aligned signal (1.5 * quality + 1.6 * affinity + 0.5 * generosity, the same latent effects
  that drive the rating) plus the activity trait. Travel's ``trip_length`` (weekend, one-week,
  two-weeks-plus) buckets that signal together with the traveller's trip style and the
  destination's distance.
* ``task_conflict`` (c in [0, 1]) plants negative transfer: the engagement signal becomes
  (1 - c) * aligned + c * opposing, where the opposing signal is the aligned one mirrored
  around its mean (scaled by 0.8) plus a facet lure that is independent of it (trending videos,
  angry posts and alarming headlines draw engagement), so the label stays learnable. At c = 1
  users watch, follow, click or stay longest where affinity and quality are low, so the
  engagement label is anti-correlated with the rating (or with the affinity signal), and a
  backbone shared between the tasks is pulled in opposite directions. Default 0: no conflict.
* ``group_disparity`` (>= 0) adds rating noise with that standard deviation and flips the
  engagement label (binary) or redraws it (trip length) with probability
  min(0.5, group_disparity / 4), for users of ONE disadvantaged group only (``*_DISADVANTAGED``
  below), so models are planted to serve that group worse. Default: none.
* ``label_noise`` replaces a fraction of all labels by random ones (a robustness knob).

The random draws do not depend on ``label_noise``, ``group_disparity`` or ``task_conflict``:
with the same seed, those options change only the labels they act on.
"""

from __future__ import annotations

import inspect
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mtrec import DomainData, DomainSpec, LabelField, TaskType, hookimpl
from mtrec.plugins.synthetic_ecommerce import (
    FloatArray,
    IntArray,
    SyntheticOptions,
    conflicted_logit,
    sample_interactions,
    split_domain,
)

# label roles: what in the simulation a theme's label field is made from
CATEGORY = "category"  # multiclass: the item's primary category
GENRES = "genres"  # multilabel: the item's one to three categories
FACET = "facet"  # multiclass: the item's facet level (e.g. the tone of a post)
RATING = "rating"  # regression: 1-5 stars
ENGAGE = "engage"  # binary: watch / follow / click
LENGTH = "length"  # multiclass, ordinal: a bucket of the engagement, trait and facet

_TASK_TYPES: Mapping[str, TaskType] = {
    CATEGORY: TaskType.MULTICLASS,
    GENRES: TaskType.MULTILABEL,
    FACET: TaskType.MULTICLASS,
    RATING: TaskType.REGRESSION,
    ENGAGE: TaskType.BINARY,
    LENGTH: TaskType.MULTICLASS,
}

_QUALITY_EFFECT = np.array([1.0, 0.4, -0.4, -1.1])
_QUALITY_PROBS = np.array([0.2, 0.35, 0.3, 0.15])
_GENEROSITY_EFFECT = np.array([0.8, 0.0, -0.8])
_LEVEL = np.array([-1.0, 0.0, 1.0])  # low / middle / high trait or facet
_N_CATEGORIES_PROBS = np.array([0.45, 0.4, 0.15])  # an item has 1, 2 or 3 genres


@dataclass(frozen=True, kw_only=True)
class Theme:
    """Everything that makes one synthetic domain different from the others."""

    name: str  # registered domain name
    kind: str  # DomainSpec.domain_kind
    description: str  # one line for `mtrec plugins`
    labels: tuple[tuple[str, str], ...]  # (label field, role), in registration order
    categories: tuple[str, ...]  # class names of the item categories
    category_words: tuple[str, ...]  # how a user's liked categories are phrased
    nouns: tuple[tuple[str, ...], ...]  # per category
    adjectives: tuple[tuple[str, ...], ...]  # per category
    makers: tuple[str, ...]  # studios, authors, brands, outlets
    quality_words: tuple[tuple[str, ...], ...]  # 4 levels, best first
    facet_classes: tuple[str, ...]  # 3 facet levels (class names when it is a label)
    facet_words: tuple[tuple[str, ...], ...]  # per facet level
    facet_probs: tuple[float, float, float]
    facet_lure: tuple[float, float, float]  # pull of each facet level under task conflict
    generosity_words: tuple[tuple[str, ...], ...]  # generous, fair, harsh
    trait_words: tuple[tuple[str, ...], ...]  # low, middle, high activity / trip length
    openers: tuple[str, ...]
    verbs: tuple[str, ...]
    sensitive: str  # sensitive attribute name
    groups: tuple[str, ...]  # its group names
    group_words: tuple[str, ...]  # how each group appears in the user text
    group_probs: tuple[float, ...]
    disadvantaged: str  # the one group whose labels get the planted disparity
    user_template: str  # fields: opener, group, verb, like0, like1, trait, generosity
    item_template: str  # fields: maker, adjective, noun, mix, facet, quality
    mix_words: tuple[str, ...] = ()  # GENRES: how secondary categories are named
    length_classes: tuple[str, ...] = ()  # LENGTH: bucket names, shortest first

    def classes(self, role: str) -> tuple[str, ...]:
        """Class names of a label with this role (empty for binary and regression)."""
        return {
            CATEGORY: self.categories,
            GENRES: self.categories,
            FACET: self.facet_classes,
            LENGTH: self.length_classes,
        }.get(role, ())


@dataclass(frozen=True, kw_only=True)
class _Simulation:
    """A generated domain plus its noise-free signals, indexed by interaction id."""

    data: DomainData
    # "rating": expected stars before noise and rounding; "aligned": the engagement logit
    # without task conflict; "engage": the engagement probability actually sampled from
    signals: Mapping[str, FloatArray]


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _category_sets(rng: np.random.Generator, first: IntArray, n_cat: int, multi: bool) -> IntArray:
    """0/1 matrix [n, n_cat]: column ``first[i]`` plus (if ``multi``) 0-2 random others."""
    n = len(first)
    scores = rng.random((n, n_cat))
    sizes = rng.choice(3, size=n, p=_N_CATEGORIES_PROBS) + 1
    scores[np.arange(n), first] = 2.0  # the first category always ranks first
    ranked = np.argsort(-scores, axis=1)
    keep = np.arange(n_cat)[None, :] < (sizes if multi else np.ones_like(sizes))[:, None]
    sets = np.zeros((n, n_cat), dtype=np.int64)
    np.put_along_axis(sets, ranked, keep.astype(np.int64), axis=1)
    return sets


def _simulate(theme: Theme, **options: Any) -> _Simulation:
    """Generate ``theme``'s domain (see the module docstring for what is planted).

    ``options`` are the :class:`SyntheticOptions` fields; unknown names raise TypeError, bad
    values ValueError naming the option.
    """
    opts = SyntheticOptions(**options)
    n_cat = len(theme.categories)
    sizes = opts.split_sizes(n_cat)
    n_users, n_items, n = opts.n_users, opts.n_items, opts.n_interactions
    label_noise, group_disparity = opts.label_noise, opts.group_disparity
    task_conflict = opts.task_conflict
    roles = dict(theme.labels)
    multi = GENRES in roles.values()
    # the domain's name salts the seed, so that domains loaded with one seed are independent
    rng = np.random.default_rng([opts.seed, zlib.crc32(theme.name.encode())])

    # users: two liked categories, generosity, activity trait, sensitive group
    liked = np.argsort(rng.random((n_users, n_cat)), axis=1)[:, :2]
    generosity = rng.choice(3, size=n_users, p=[0.3, 0.4, 0.3])
    trait = rng.choice(3, size=n_users, p=[0.3, 0.4, 0.3])
    group = rng.choice(len(theme.groups), size=n_users, p=theme.group_probs)
    user_text = [
        theme.user_template.format(
            opener=_pick(rng, theme.openers),
            group=theme.group_words[group[u]],
            verb=_pick(rng, theme.verbs),
            like0=theme.category_words[liked[u, 0]],
            like1=theme.category_words[liked[u, 1]],
            trait=_pick(rng, theme.trait_words[trait[u]]),
            generosity=_pick(rng, theme.generosity_words[generosity[u]]),
        )
        for u in range(n_users)
    ]
    # items: primary category (each one present), secondary ones, facet, quality
    category = rng.permutation(np.arange(n_items) % n_cat)
    item_sets = _category_sets(rng, category, n_cat, multi)
    facet = rng.choice(3, size=n_items, p=theme.facet_probs)
    quality = rng.choice(4, size=n_items, p=_QUALITY_PROBS)
    item_text = []
    for i, c in enumerate(category):
        extra = [theme.mix_words[g] for g in np.flatnonzero(item_sets[i]) if g != c]
        item_text.append(
            theme.item_template.format(
                maker=_pick(rng, theme.makers),
                adjective=_pick(rng, theme.adjectives[c]),
                noun=_pick(rng, theme.nouns[c]),
                mix=f" with {' and '.join(extra)} elements" if extra else "",
                facet=_pick(rng, theme.facet_words[facet[i]]),
                quality=_pick(rng, theme.quality_words[quality[i]]),
            )
        )
    users, items = sample_interactions(rng, liked, category, n)

    # every per-row random draw, made whatever the options are
    star_noise = rng.normal(0.0, 0.5, n)
    engage_draw = rng.random(n)
    length_noise = rng.logistic(0.0, 1.0, n)
    disparity_noise = rng.normal(0.0, 1.0, n)
    corrupt_draw = rng.random(n)
    noisy = rng.random(n) < label_noise
    random_category = rng.integers(n_cat, size=n)
    random_sets = _category_sets(rng, random_category, n_cat, multi=True)
    random_facet = rng.integers(3, size=n)
    random_stars = rng.integers(1, 6, size=n).astype(np.float64)
    random_binary = rng.integers(2, size=n)
    random_length = rng.integers(3, size=n)
    corrupt_length = rng.integers(3, size=n)
    order = rng.permutation(n)

    # noise-free latent effects of each interaction
    affinity = (item_sets[items][np.arange(n)[:, None], liked[users]] > 0).any(axis=1)
    q_eff = _QUALITY_EFFECT[quality[items]]
    g_eff = _GENEROSITY_EFFECT[generosity[users]]
    expected = 3.0 + q_eff + g_eff + 0.8 * affinity
    aligned = -1.3 + 1.5 * q_eff + 1.6 * affinity + 0.5 * g_eff
    lure = np.asarray(theme.facet_lure)[facet[items]]
    mixed = conflicted_logit(aligned, lure, task_conflict) if task_conflict > 0 else aligned
    logit = mixed + 0.6 * _LEVEL[trait[users]]
    engage_p = 1.0 / (1.0 + np.exp(-logit))

    # labels, then the planted disparity for the disadvantaged group only
    in_group = np.asarray(theme.groups)[group[users]] == theme.disadvantaged
    corrupt = in_group & (corrupt_draw < min(0.5, group_disparity / 4.0))
    stars = expected + star_noise + in_group * disparity_noise * group_disparity
    engage = (engage_draw < engage_p).astype(np.int64)
    span = mixed - mixed.mean() + 2.0 * _LEVEL[trait[users]] + 1.5 * _LEVEL[facet[items]]
    length = np.digitize(span + length_noise, [-1.5, 1.5]).astype(np.int64)
    made: dict[str, np.ndarray] = {
        CATEGORY: np.where(noisy, random_category, category[items]).astype(np.int64),
        GENRES: np.where(noisy[:, None], random_sets, item_sets[items]).astype(np.int64),
        FACET: np.where(noisy, random_facet, facet[items]).astype(np.int64),
        RATING: np.where(noisy, random_stars, np.clip(np.rint(stars), 1.0, 5.0)),
        ENGAGE: np.where(noisy, random_binary, np.where(corrupt, 1 - engage, engage)),
        LENGTH: np.where(noisy, random_length, np.where(corrupt, corrupt_length, length)),
    }
    groups = np.array(theme.groups, dtype=object)[group[users]]
    data = split_domain(
        order,
        sizes,
        rows=(users, items),
        texts=(user_text, item_text),
        labels={name: made[role] for name, role in theme.labels},
        sensitive={theme.sensitive: groups},
        label_fields={
            name: LabelField(name=name, task_type=_TASK_TYPES[role], classes=theme.classes(role))
            for name, role in theme.labels
        },
    )
    return _Simulation(
        data=data,
        signals={"rating": np.clip(expected, 1.0, 5.0), "aligned": aligned, "engage": engage_p},
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


# --------------------------------------------------------------------------------------
# the four themes
# --------------------------------------------------------------------------------------

VIDEO_DISADVANTAGED = "female"
SOCIAL_DISADVANTAGED = "africa"
TRAVEL_DISADVANTAGED = "65+"
NEWS_DISADVANTAGED = "18-34"

_USER_TEMPLATE = "{opener} {group} who {verb} {like0} and {like1}, {trait} and {generosity}"
_TONE_CLASSES = ("negative", "neutral", "positive")
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
    "and watch labels, planted gender disparity",
    labels=(("genres", GENRES), ("rating", RATING), ("watch", ENGAGE)),
    categories=_VIDEO_GENRES,
    category_words=(
        "action movies",
        "comedies",
        "dramas",
        "horror films",
        "science fiction",
        "romantic films",
        "documentaries",
        "animated films",
    ),
    nouns=(
        ("heist thriller", "car chase movie", "spy caper", "martial arts film"),
        ("buddy comedy", "sitcom special", "stand-up show", "office farce"),
        ("family saga", "courtroom drama", "period piece", "character study"),
        ("haunted house film", "slasher flick", "creature feature", "ghost story"),
        ("space opera", "time travel saga", "robot uprising film", "alien invasion movie"),
        ("love story", "summer fling tale", "holiday love story", "second-chance romance"),
        ("nature documentary", "true crime series", "history documentary", "biopic feature"),
        ("animated feature", "cartoon series", "stop-motion film", "anime series"),
    ),
    adjectives=(
        ("explosive", "fast-paced", "gritty"),
        ("hilarious", "witty", "goofy"),
        ("moving", "poignant", "slow-burning"),
        ("terrifying", "creepy", "blood-soaked"),
        ("futuristic", "mind-bending", "galactic"),
        ("heartwarming", "tender", "swoon-worthy"),
        ("eye-opening", "investigative", "informative"),
        ("colorful", "hand-drawn", "family-friendly"),
    ),
    mix_words=_VIDEO_GENRES,  # genres are named as they are
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
    quality_words=(
        ("critically acclaimed must-watch", "award-winning and beloved"),
        ("well reviewed by critics", "solid reviews from viewers"),
        ("mixed reviews so far", "divides critics and viewers"),
        ("panned by critics", "widely considered a flop"),
    ),
    facet_classes=("trending", "steady", "niche"),
    facet_words=(
        ("trending this week", "everyone is talking about it"),
        ("has a steady audience", "a reliable catalogue pick"),
        ("a little-known release", "a niche cult pick"),
    ),
    facet_probs=(0.25, 0.45, 0.3),
    facet_lure=(1.2, 0.0, -0.6),
    generosity_words=(
        ("rates titles generously", "hands out five stars easily"),
        ("gives balanced star ratings", "rates titles fairly"),
        ("is a harsh critic", "rarely gives more than three stars"),
    ),
    trait_words=(
        ("rarely finishes a series", "watches now and then"),
        ("watches a few evenings a week", "streams most weekends"),
        ("binge-watches whole seasons", "streams something every night"),
    ),
    openers=("viewer", "subscriber", "streamer"),
    verbs=("mostly watches", "can't get enough of", "usually streams"),
    sensitive="gender",
    groups=("female", "male", "nonbinary"),
    group_words=("female", "male", "nonbinary"),
    group_probs=(0.38, 0.55, 0.07),
    disadvantaged=VIDEO_DISADVANTAGED,
    user_template="{group} {opener} who {verb} {like0} and {like1}, {trait} and {generosity}",
    item_template="{maker} {adjective} {noun}{mix}, {facet}, {quality}",
)

SOCIAL = Theme(
    name="synthetic-social",
    kind="social",
    description="Seeded synthetic social feed: users x posts with interest, sentiment and "
    "follow labels, planted regional disparity",
    labels=(("interest", CATEGORY), ("sentiment", FACET), ("follow", ENGAGE)),
    categories=("sports", "music", "politics", "technology", "food", "gaming"),
    category_words=("sports", "music", "politics", "tech news", "cooking", "video games"),
    nouns=(
        ("match highlights", "transfer rumor", "training clip", "league standings"),
        ("concert review", "new album teaser", "guitar cover", "festival lineup"),
        ("election debate", "policy thread", "parliament update", "campaign rally"),
        ("gadget unboxing", "software update", "startup launch", "coding tip"),
        ("recipe video", "restaurant review", "baking tutorial", "street food tour"),
        ("speedrun clip", "patch notes", "esports recap", "game review"),
    ),
    adjectives=(
        ("last-minute", "championship", "locker-room"),
        ("acoustic", "live", "chart-topping"),
        ("partisan", "bipartisan", "legislative"),
        ("cutting-edge", "open-source", "wireless"),
        ("homemade", "spicy", "vegan"),
        ("multiplayer", "retro", "competitive"),
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
    quality_words=(
        ("widely shared and insightful", "thoughtful, with many replies"),
        ("interesting to many readers", "gets steady engagement"),
        ("low effort", "barely any replies"),
        ("reads like spam", "reported as misleading"),
    ),
    facet_classes=_TONE_CLASSES,
    facet_words=(
        ("written as an angry rant", "full of complaints"),
        ("a matter-of-fact update", "a neutral summary"),
        ("cheerful and upbeat", "full of praise and excitement"),
    ),
    facet_probs=(0.3, 0.35, 0.35),
    facet_lure=(1.0, 0.0, -0.4),
    generosity_words=(
        ("is easily impressed", "likes almost everything"),
        ("is fairly selective", "likes some posts"),
        ("is hard to impress", "rarely likes anything"),
    ),
    trait_words=(
        ("mostly lurks", "rarely follows anyone new"),
        ("posts now and then", "follows a few accounts"),
        ("posts every day", "follows new accounts all the time"),
    ),
    openers=("user", "member", "poster"),
    verbs=("mostly follows", "posts a lot about", "is really into"),
    sensitive="region",
    groups=("americas", "europe", "asia-pacific", "africa"),
    group_words=("from the Americas", "from Europe", "from Asia-Pacific", "from Africa"),
    group_probs=(0.34, 0.3, 0.24, 0.12),
    disadvantaged=SOCIAL_DISADVANTAGED,
    user_template=_USER_TEMPLATE,
    item_template="post by {maker}: {adjective} {noun}, {facet}, {quality}",
)

TRAVEL = Theme(
    name="synthetic-travel",
    kind="travel",
    description="Seeded synthetic trips: travellers x destinations with destination type, "
    "rating and trip length labels, planted age-group disparity",
    labels=(("destination_type", CATEGORY), ("rating", RATING), ("trip_length", LENGTH)),
    categories=("beach", "city", "mountain", "countryside", "cultural", "wildlife"),
    category_words=(
        "beach holidays",
        "city breaks",
        "mountain trips",
        "countryside escapes",
        "cultural tours",
        "wildlife safaris",
    ),
    nouns=(
        ("seaside resort", "island bungalow", "coastal villa", "surf camp"),
        ("downtown hotel", "city apartment", "rooftop hostel", "urban loft"),
        ("alpine lodge", "ski chalet", "hiking hut", "mountain cabin"),
        ("farm stay", "country cottage", "vineyard inn", "lakeside barn"),
        ("heritage tour", "museum circuit", "old town walk", "temple trail"),
        ("safari camp", "rainforest lodge", "whale-watching cruise", "national park tour"),
    ),
    adjectives=(
        ("sandy", "sunny", "tropical"),
        ("bustling", "stylish", "central"),
        ("snowy", "rugged", "high-altitude"),
        ("rustic", "peaceful", "rolling"),
        ("historic", "ancient", "artistic"),
        ("remote", "untamed", "eco-friendly"),
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
    quality_words=(
        ("guests rave about it", "a five-star favourite"),
        ("well reviewed by guests", "comfortable and reliable"),
        ("mixed guest reviews", "hit or miss, say guests"),
        ("frequent complaints from guests", "poorly rated by visitors"),
    ),
    facet_classes=("near", "medium", "far"),
    facet_words=(
        ("a short drive from home", "reachable by train in hours"),
        ("a short flight away", "a few hours by plane"),
        ("a long-haul flight away", "on the other side of the world"),
    ),
    facet_probs=(0.35, 0.35, 0.3),
    facet_lure=(0.0, 0.0, 0.0),
    generosity_words=(
        ("leaves glowing reviews", "rates stays generously"),
        ("writes balanced reviews", "rates stays fairly"),
        ("is a tough reviewer", "rarely rates a stay highly"),
    ),
    trait_words=(
        ("prefers quick weekend getaways", "likes short breaks"),
        ("usually takes a week off", "likes week-long holidays"),
        ("takes long extended trips", "travels for weeks at a time"),
    ),
    openers=("traveller", "holidaymaker", "tourist"),
    verbs=("loves", "usually books", "dreams of"),
    sensitive="age_group",
    groups=("18-29", "30-49", "50-64", "65+"),
    group_words=("aged 18-29", "aged 30-49", "aged 50-64", "aged 65+"),
    group_probs=(0.27, 0.36, 0.22, 0.15),
    disadvantaged=TRAVEL_DISADVANTAGED,
    user_template=_USER_TEMPLATE,
    item_template="{maker} {adjective} {noun}, {facet}, {quality}",
    length_classes=("weekend", "one-week", "two-weeks-plus"),
)

NEWS = Theme(
    name="synthetic-news",
    kind="news",
    description="Seeded synthetic news feed: readers x articles with topic, click and "
    "sentiment labels, planted age-group disparity",
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
        "politics",
        "business news",
        "sports",
        "technology",
        "health",
        "celebrity gossip",
        "science",
    ),
    nouns=(
        ("election result", "cabinet reshuffle", "budget vote", "policy debate"),
        ("earnings report", "stock rally", "merger deal", "market outlook"),
        ("cup final", "transfer saga", "title race", "injury update"),
        ("chip launch", "app update", "AI model release", "data breach"),
        ("vaccine study", "hospital funding", "diet research", "flu season"),
        ("film premiere", "celebrity wedding", "album release", "award show"),
        ("space mission", "climate study", "fossil discovery", "physics experiment"),
    ),
    adjectives=(
        ("parliamentary", "partisan", "electoral"),
        ("quarterly", "corporate", "financial"),
        ("league", "championship", "athletic"),
        ("digital", "high-tech", "software"),
        ("medical", "clinical", "public-health"),
        ("red-carpet", "celebrity", "blockbuster"),
        ("scientific", "peer-reviewed", "lab-based"),
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
    quality_words=(
        ("in-depth reporting from trusted sources", "a carefully sourced investigation"),
        ("solid reporting", "a clear, well-written piece"),
        ("thin on sources", "a rushed, shallow piece"),
        ("sensational and poorly sourced", "misleading headline, little substance"),
    ),
    facet_classes=_TONE_CLASSES,
    facet_words=(
        ("grim and alarming in tone", "a bleak, worrying story"),
        ("a factual, neutral report", "straight reporting without spin"),
        ("upbeat and hopeful", "good news worth celebrating"),
    ),
    facet_probs=(0.35, 0.35, 0.3),
    facet_lure=(1.0, 0.0, -0.4),
    generosity_words=(
        ("clicks on almost anything", "is curious about every story"),
        ("is moderately selective", "picks stories with care"),
        ("ignores most stories", "is very hard to hook"),
    ),
    trait_words=(
        ("only skims the headlines", "checks the news once a week"),
        ("reads the news most days", "checks the app daily"),
        ("reads every article in the feed", "refreshes the news all day"),
    ),
    openers=("reader", "subscriber", "news fan"),
    verbs=("mostly reads", "follows", "always checks"),
    sensitive="age_group",
    groups=("18-34", "35-54", "55+"),
    group_words=("aged 18-34", "aged 35-54", "aged 55+"),
    group_probs=(0.3, 0.37, 0.33),
    disadvantaged=NEWS_DISADVANTAGED,
    user_template=_USER_TEMPLATE,
    item_template="{maker} reports: {adjective} {noun}, {facet}, {quality}",
)

THEMES: tuple[Theme, ...] = (VIDEO, SOCIAL, TRAVEL, NEWS)

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


@hookimpl
def mtrec_register_domains() -> list[DomainSpec]:
    """Register the four domains; no data is generated until one is loaded."""
    return [
        DomainSpec(
            name=theme.name,
            load=LOADERS[theme.name],
            label_fields=tuple(name for name, _ in theme.labels),
            sensitive_attributes=(theme.sensitive,),
            description=theme.description,
            domain_kind=theme.kind,
        )
        for theme in THEMES
    ]


# --------------------------------------------------------------------------------------
# planted evidence, for explainability checks
# --------------------------------------------------------------------------------------

# words that join phrases and carry no attribute by themselves
_FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "at",
        "by",
        "for",
        "from",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "so",
        "the",
        "to",
        "who",
        "with",
    ]
)


def _words(phrases: Any) -> set[str]:
    """The lower-case words of (nested tuples of) phrases, split on spaces, commas, colons."""
    if isinstance(phrases, str):
        return set(phrases.lower().replace(",", " ").replace(":", " ").split())
    found: set[str] = set()
    for phrase in phrases:
        found |= _words(phrase)
    return found


def _theme_evidence(theme: Theme, role: str) -> set[str]:
    category = _words((theme.category_words, theme.nouns, theme.adjectives, theme.mix_words))
    category |= _words(theme.categories)
    quality, facet = _words(theme.quality_words), _words(theme.facet_words)
    generosity, trait = _words(theme.generosity_words), _words(theme.trait_words)
    by_role = {
        CATEGORY: category,
        GENRES: category,
        FACET: facet,
        RATING: quality | generosity | category,
        ENGAGE: quality | generosity | category | trait | facet,
        LENGTH: quality | category | trait | facet,
    }
    return by_role[role]


def evidence_words(domain: str, label_field: str) -> frozenset[str]:
    """The planted words of ``label_field`` in the synthetic domain named ``domain``.

    A row's text carries its label through these words: the lower-case words (split on
    spaces, commas and colons; function words such as "and" left out) of every phrase the
    generator draws to express a latent attribute that the label is made from. For example
    the words of item categories for a category label, and those of item quality, user
    generosity and liked categories for a rating. Words outside this set (makers, openers,
    distractor sentences, group names) carry nothing about the label by construction, so an
    explainer that is faithful to a trained model should put more attribution on these words
    than a random one does. Raises KeyError for an unknown domain or label field.
    """
    if domain == "synthetic-ecommerce":
        from mtrec.plugins import synthetic_ecommerce as shop

        category = _words((shop.CATEGORIES, shop._CATEGORY_PHRASES, shop._NOUNS, shop._ADJECTIVES))
        quality, bias = _words(shop._QUALITY_WORDS), _words(shop._BIAS_WORDS)
        price = _words((shop._TIERS, shop._PRICE_WORDS))
        words = {
            "category": category,
            "rating": quality | bias | category | price,
            "click": quality | category | price,
        }[label_field]
    else:
        theme = next((t for t in THEMES if t.name == domain), None)
        if theme is None:
            raise KeyError(f"unknown synthetic domain {domain!r}")
        roles = dict(theme.labels)
        if label_field not in roles:
            raise KeyError(f"{domain} has no label field {label_field!r}")
        words = _theme_evidence(theme, roles[label_field])
    return frozenset(words - _FUNCTION_WORDS)
