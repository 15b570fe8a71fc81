"""Real datasets for the other seed domains, one domain each:

* ``amazon-reviews`` (e-commerce): Amazon Review Data 2018, Software 5-core (JSON lines).
* ``mind-small`` (news): MIND small training set (``behaviors.tsv`` + ``news.tsv``).
* ``datafiniti-hotels`` (travel): Datafiniti Hotel Reviews, June 2019 CSV.
* ``social-airline-tweets`` (social): Twitter US Airline Sentiment, ``Tweets.csv``.

Their manifests (``mtrec.datasets_manifest/*.yaml``) say how each file maps onto users, items and
text, and how each label is derived; the files are read through that mapping. Their sources
have no verified sha256 yet, so ``mtrec datasets fetch`` refuses them: download the files
yourself and pass the loader option ``path=FOLDER`` (``X.json.gz`` may also be unpacked as
``X.json``).

Common to all four: options ``seed``, ``split`` (random 80/10/10 or temporal per-user
leave-last-out), ``max_history`` (earlier interactions shown in the user text; strictly earlier,
and only from splits the row may see), ``max_interactions`` (seeded subsample) and ``path``.
The text of the interaction being predicted (its own review or tweet body) is never in the
input, except for tweets, whose sentiment label is a property of that very text. None of the
four has demographics, so the sensitive attribute is ``user_activity`` (behavioural).
"""

from __future__ import annotations

import html
import os
import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

from mtrec import (
    DomainData,
    DomainSpec,
    Interactions,
    Manifest,
    Table,
    activity_groups,
    assemble_domain,
    check_loader_options,
    dense_ids,
    earlier_rows,
    get_manifest,
    hookimpl,
    label_fields_from,
    locate,
    read_tables,
    split_assignment,
    subsample,
)

AMAZON, MIND, HOTELS, TWEETS = (
    "amazon-reviews",
    "mind-small",
    "datafiniti-hotels",
    "social-airline-tweets",
)
PROPERTY_TYPES: tuple[str, ...] = ("resort", "bed & breakfast", "inn", "motel", "hotel", "other")
SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
OTHER = "other"
PathOption = str | os.PathLike[str] | None


def _clean(value: Any, limit: int = 200) -> str:
    """One line of plain text: HTML entities decoded, whitespace collapsed, cut at ``limit``."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    text = re.sub(r"\s+", " ", html.unescape(str(value))).strip()
    return text[:limit]


def _histories(history: list[np.ndarray], snippets: Sequence[str], label: str) -> list[str]:
    """``label: a; b; c`` for each row's history (an empty string when it has none)."""
    return [
        f"; {label}: " + "; ".join(snippets[j] for j in earlier.tolist()) if len(earlier) else ""
        for earlier in history
    ]


def _setup(
    name: str, split: str | None, max_history: int, max_interactions: int | None, path: PathOption
) -> tuple[Manifest, str, dict[str, Table], str]:
    manifest = get_manifest(name)
    split = split or manifest.default_split
    check_loader_options(name, split, max_history, max_interactions)
    folder, fmt = locate(manifest, path)
    return manifest, split, read_tables(folder, manifest, fmt), f"{name} ({folder})"


def _epoch(table: Table, row: int, value: str, pattern: str) -> float:
    try:
        moment = datetime.strptime(value.strip(), pattern)
    except ValueError:
        column = table.spec.roles["timestamp"]
        raise table.error(
            row, f"column '{column}': {value!r} is not a date like {pattern}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


# --------------------------------------------------------------------------------------
# amazon-reviews (e-commerce)
# --------------------------------------------------------------------------------------


def _votes(table: Table, row: int, value: Any) -> int:
    if value is None or value == "":
        return 0
    try:
        return int(str(value).replace(",", ""))
    except ValueError:
        raise table.error(row, f"column 'vote': {value!r} is not a vote count") from None


def load_amazon_reviews(
    *,
    seed: int = 0,
    split: str | None = None,
    max_history: int = 5,
    max_interactions: int | None = None,
    n_categories: int = 10,
    path: PathOption = None,
) -> DomainData:
    """Amazon Software 5-core reviews: category, rating and helpful labels per review."""
    manifest, split, tables, origin = _setup(AMAZON, split, max_history, max_interactions, path)
    reviews, meta = tables["interactions"], tables["items"]
    products: dict[str, tuple[str, str]] = {}  # asin -> (item text, sub-category)
    for row, asin in enumerate(meta.role("item")):
        if asin in products:
            continue  # the metadata files repeat some products; the first record wins
        path_ = meta.column("category")[row]
        sub = _clean(path_[1]) if isinstance(path_, list) and len(path_) > 1 else ""
        title, brand = _clean(meta.column("title")[row]), _clean(meta.column("brand")[row])
        text = f"{title}, by {brand}" if title and brand else title or f"product {asin}"
        products[str(asin)] = (text, sub)

    rows = subsample(len(reviews), max_interactions, seed)
    asins = [str(reviews.role("item")[r]) for r in rows.tolist()]
    user_ids, _ = dense_ids([reviews.role("user")[r] for r in rows.tolist()])
    item_ids, _ = dense_ids(asins)
    times = reviews.role("timestamp")[rows]
    stars = reviews.role("rating")[rows]
    item_text = [products.get(a, (f"product {a}", ""))[0] for a in asins]
    subcategory = [products.get(a, ("", ""))[1] for a in asins]
    counts = Counter(c for c in dict(zip(asins, subcategory, strict=True)).values() if c)
    top = sorted(counts, key=lambda c: (-counts[c], c))[: max(n_categories, 1)]
    classes = (*sorted(top), OTHER)
    class_index = {c: k for k, c in enumerate(classes)}
    category = np.array([class_index.get(c, len(top)) for c in subcategory], dtype=np.int64)
    votes = np.array(
        [_votes(reviews, r, reviews.column("vote")[r]) for r in rows.tolist()], dtype=np.int64
    )

    assignment = split_assignment(split, user_ids, times, seed=seed, fractions=manifest.fractions)
    history = earlier_rows(user_ids, times, assignment, max_history)
    summaries = [_clean(reviews.column("summary")[r], 80) for r in rows.tolist()]
    snippets = [
        f"{text} {s:g}/5" + (f" ({summary})" if summary else "")
        for text, s, summary in zip(item_text, stars.tolist(), summaries, strict=True)
    ]
    earlier = _histories(history, snippets, "earlier reviews")
    user_text = [f"shopper{tail}" if tail else "shopper, no earlier reviews" for tail in earlier]
    return assemble_domain(
        Interactions(
            ids=rows,
            user_ids=user_ids,
            item_ids=item_ids,
            user_text=user_text,
            item_text=item_text,
            labels={
                "category": category,
                "rating": stars.astype(np.float64),
                "helpful": (votes >= 1).astype(np.int64),
            },
            sensitive={"user_activity": activity_groups(user_ids)},
            label_fields=label_fields_from(manifest, {"category": classes}),
        ),
        assignment,
        origin=origin,
    )


# --------------------------------------------------------------------------------------
# mind-small (news)
# --------------------------------------------------------------------------------------

_MIND_TIME = "%m/%d/%Y %I:%M:%S %p"  # 11/15/2019 8:55:22 AM
_CANDIDATE_SLOTS = 100_000  # interaction id = impression id * slots + candidate position


def load_mind_small(
    *,
    seed: int = 0,
    split: str | None = None,
    max_history: int = 5,
    max_impressions: int | None = 5000,
    max_interactions: int | None = None,
    path: PathOption = None,
) -> DomainData:
    """MIND small: one row per (impression, candidate article) with click and topic labels.

    ``max_impressions`` (default 5,000 of 156,965) keeps a seeded subset of impressions before
    they are expanded into candidates; None keeps all (several million rows).
    """
    manifest, split, tables, origin = _setup(MIND, split, max_history, max_interactions, path)
    behaviors, news = tables["interactions"], tables["items"]
    article: dict[str, int] = {}
    for row, news_id in enumerate(news.role("item")):
        if news_id in article:
            raise news.error(row, f"news id {news_id} appears twice")
        article[news_id] = row
    titles = [_clean(t) for t in news.column("title")]
    topics = sorted(set(news.column("category")))
    topic_of = np.array([topics.index(c) for c in news.column("category")], dtype=np.int64)

    def known(row: int, news_id: str, column: str) -> int:
        if news_id not in article:
            raise behaviors.error(row, f"column '{column}': news id {news_id!r} not in news.tsv")
        return article[news_id]

    impressions = subsample(len(behaviors), max_impressions, seed)
    imp_users, _ = dense_ids([behaviors.role("user")[r] for r in impressions.tolist()])
    imp_times = np.array(
        [
            _epoch(behaviors, r, behaviors.column("time")[r], _MIND_TIME)
            for r in impressions.tolist()
        ]
    )
    imp_assignment = split_assignment(
        split, imp_users, imp_times, seed=seed, fractions=manifest.fractions
    )
    ids: list[int] = []
    rows_of: list[int] = []  # index into `impressions` of each row
    items: list[int] = []
    clicks: list[int] = []
    history_len: list[int] = []
    reader_text: list[str] = []
    for k, row in enumerate(impressions.tolist()):
        past = [known(row, n, "history") for n in behaviors.column("history")[row].split()]
        recent = "; ".join(titles[j] for j in past[-max_history:]) if max_history else ""
        reader_text.append(
            f"reader with {len(past)} earlier clicks"
            + (f"; recently read: {recent}" if recent else "")
        )
        impression_id = int(behaviors.column("impression_id")[row])
        for position, token in enumerate(behaviors.column("impressions")[row].split()):
            news_id, _, label = token.rpartition("-")
            if label not in ("0", "1") or not news_id:
                raise behaviors.error(
                    row, f"column 'impressions': {token!r} is not NEWSID-0 or NEWSID-1"
                )
            ids.append(impression_id * _CANDIDATE_SLOTS + position)
            rows_of.append(k)
            items.append(known(row, news_id, "impressions"))
            clicks.append(int(label))
        history_len.append(len(past))
    keep = subsample(len(ids), max_interactions, seed)
    of = np.asarray(rows_of, dtype=np.int64)[keep]
    item_k = np.asarray(items, dtype=np.int64)[keep]
    return assemble_domain(
        Interactions(
            ids=np.asarray(ids, dtype=np.int64)[keep],
            user_ids=imp_users[of],
            item_ids=item_k,
            user_text=[reader_text[k] for k in of.tolist()],
            item_text=[titles[j] for j in item_k.tolist()],
            labels={
                "topic": topic_of[item_k],
                "click": np.asarray(clicks, dtype=np.int64)[keep],
            },
            sensitive={
                "user_activity": activity_groups(
                    imp_users[of], np.asarray(history_len, dtype=np.float64)[of]
                )
            },
            label_fields=label_fields_from(manifest, {"topic": topics}),
        ),
        imp_assignment[of],
        origin=origin,
    )


# --------------------------------------------------------------------------------------
# datafiniti-hotels (travel)
# --------------------------------------------------------------------------------------

_PROPERTY_WORDS = {
    "resort": ("resort", "resorts"),
    "bed & breakfast": ("bed & breakfast", "bed & breakfasts", "bed and breakfast", "b&b"),
    "inn": ("inn", "inns"),
    "motel": ("motel", "motels"),
    "hotel": ("hotel", "hotels"),
}


def property_type(categories: str) -> str:
    """The hotel's type from its comma-separated categories (see the manifest's rule)."""
    named = {c.strip().lower() for c in categories.split(",")}
    for kind, words in _PROPERTY_WORDS.items():
        if named.intersection(words):
            return kind
    return OTHER


def _hotel_time(table: Table, row: int) -> float:
    """reviews.date: 2018-12-18T00:00:00.000Z, or just the day."""
    value = table.role("timestamp")[row].strip()
    if len(value) >= 19:
        return _epoch(table, row, value[:19], "%Y-%m-%dT%H:%M:%S")
    return _epoch(table, row, value, "%Y-%m-%d")


def load_datafiniti_hotels(
    *,
    seed: int = 0,
    split: str | None = None,
    max_history: int = 5,
    max_interactions: int | None = None,
    path: PathOption = None,
) -> DomainData:
    """Datafiniti hotel reviews: property type, rating and like labels per review."""
    manifest, split, tables, origin = _setup(HOTELS, split, max_history, max_interactions, path)
    reviews = tables["interactions"]
    rows = subsample(len(reviews), max_interactions, seed).tolist()
    # a review without a user name is its own anonymous reviewer
    names = [reviews.role("user")[r].strip() or f"anonymous#{r}" for r in rows]
    user_ids, _ = dense_ids(names)
    item_ids, _ = dense_ids([reviews.role("item")[r] for r in rows])
    times = np.array([_hotel_time(reviews, r) for r in rows])
    stars = reviews.role("rating")[rows]
    col = reviews.column
    item_text = [f"{_clean(col('name')[r])}, {col('city')[r]}, {col('province')[r]}" for r in rows]
    kinds = [property_type(col("categories")[r]) for r in rows]
    assignment = split_assignment(split, user_ids, times, seed=seed, fractions=manifest.fractions)
    history = earlier_rows(user_ids, times, assignment, max_history)
    snippets = [
        f"{text} {s:g}/5 ({_clean(col('reviews.title')[r], 80)})"
        for text, s, r in zip(item_text, stars.tolist(), rows, strict=True)
    ]
    earlier = _histories(history, snippets, "earlier stays")
    user_text = []
    for k, r in enumerate(rows):
        home = ", ".join(
            p for p in (col("reviews.userCity")[r], col("reviews.userProvince")[r]) if p
        )
        user_text.append(
            f"traveller from {home or 'an unknown place'}{earlier[k] or '; first review'}"
        )
    return assemble_domain(
        Interactions(
            ids=np.asarray(rows, dtype=np.int64),
            user_ids=user_ids,
            item_ids=item_ids,
            user_text=user_text,
            item_text=item_text,
            labels={
                "property_type": np.array([PROPERTY_TYPES.index(k) for k in kinds], dtype=np.int64),
                "rating": stars.astype(np.float64),
                "like": (stars >= 4).astype(np.int64),
            },
            sensitive={"user_activity": activity_groups(user_ids)},
            label_fields=label_fields_from(manifest),
        ),
        assignment,
        origin=origin,
    )


# --------------------------------------------------------------------------------------
# social-airline-tweets (social)
# --------------------------------------------------------------------------------------


def load_airline_tweets(
    *,
    seed: int = 0,
    split: str | None = None,
    max_history: int = 5,
    max_interactions: int | None = None,
    path: PathOption = None,
) -> DomainData:
    """Tweets to US airlines: sentiment and retweeted labels per tweet."""
    manifest, split, tables, origin = _setup(TWEETS, split, max_history, max_interactions, path)
    tweets = tables["interactions"]
    rows = subsample(len(tweets), max_interactions, seed).tolist()
    col = tweets.column
    sentiment = []
    for r in rows:
        value = tweets.role("label")[r].strip()
        if value not in SENTIMENTS:
            raise tweets.error(
                r, f"column 'airline_sentiment': {value!r} is not one of {SENTIMENTS}"
            )
        sentiment.append(SENTIMENTS.index(value))
    user_ids, _ = dense_ids([tweets.role("user")[r] for r in rows])
    item_ids, _ = dense_ids([tweets.role("item")[r] for r in rows])
    times = np.array(
        [_epoch(tweets, r, tweets.role("timestamp")[r], "%Y-%m-%d %H:%M:%S %z") for r in rows]
    )
    bodies = [_clean(col("text")[r], 280) for r in rows]
    assignment = split_assignment(split, user_ids, times, seed=seed, fractions=manifest.fractions)
    history = earlier_rows(user_ids, times, assignment, max_history)
    earlier = _histories(history, bodies, "earlier tweets")
    user_text = [
        f"@{col('name')[r]} (time zone: {col('user_timezone')[r] or 'unknown'}){earlier[k]}"
        for k, r in enumerate(rows)
    ]
    return assemble_domain(
        Interactions(
            ids=np.asarray(rows, dtype=np.int64),
            user_ids=user_ids,
            item_ids=item_ids,
            user_text=user_text,
            item_text=[f"to {col('airline')[r]}: {b}" for r, b in zip(rows, bodies, strict=True)],
            labels={
                "sentiment": np.asarray(sentiment, dtype=np.int64),
                "retweeted": (tweets.column("retweet_count")[rows] >= 1).astype(np.int64),
            },
            sensitive={"user_activity": activity_groups(user_ids)},
            label_fields=label_fields_from(manifest),
        ),
        assignment,
        origin=origin,
    )


@hookimpl
def mtrec_register_domains() -> list[DomainSpec]:
    """Register the four review-style domains; nothing is read until one is loaded."""
    fetch = "download the files and pass path=FOLDER (no verified checksums yet)"
    return [
        DomainSpec(
            name=AMAZON,
            load=load_amazon_reviews,
            label_fields=("category", "rating", "helpful"),
            sensitive_attributes=("user_activity",),
            description=f"Amazon 2018 Software 5-core reviews: category, rating, helpful; {fetch}",
            domain_kind="e-commerce",
            head_set="amazon-seed",
        ),
        DomainSpec(
            name=MIND,
            load=load_mind_small,
            label_fields=("topic", "click"),
            sensitive_attributes=("user_activity",),
            description=f"MIND small news impressions: topic, click; {fetch}",
            domain_kind="news",
            head_set="mind-seed",
        ),
        DomainSpec(
            name=HOTELS,
            load=load_datafiniti_hotels,
            label_fields=("property_type", "rating", "like"),
            sensitive_attributes=("user_activity",),
            description=f"Datafiniti US hotel reviews: property type, rating, like; {fetch}",
            domain_kind="travel",
            head_set="hotels-seed",
        ),
        DomainSpec(
            name=TWEETS,
            load=load_airline_tweets,
            label_fields=("sentiment", "retweeted"),
            sensitive_attributes=("user_activity",),
            description=f"Tweets to US airlines: sentiment, retweeted; {fetch}",
            domain_kind="social",
            head_set="airline-seed",
        ),
    ]
