"""MovieLens 100K as the ``movielens-100k`` domain (kind: video).

The data is never downloaded at run time: ``mtrec datasets fetch movielens-100k`` puts it in the
cache (manifest: ``mtrec.datasets_manifest/movielens-100k.yaml``); until then :func:`load_movielens`
raises an error naming that command. The loader option ``path`` reads a folder instead.

Two file formats are read through the manifest's schema: RecBole atomic files
(``ml-100k.inter``/``.item``/``.user``, tab separated, ``name:type`` header; the default source)
and the GroupLens originals (``u.data`` tab separated, ``u.item``/``u.user`` ``|`` separated,
latin-1, no header). Both give the same rows and labels.

* One row per rating. ``ids`` are the rows' positions in the interactions file.
* Item text: ``"Toy Story (1995)"``; with ``item_genres_in_text=True`` also ``", genres: ..."``.
  Off by default because ``genres`` is a predicted task: the text would hold its label.
* User text: demographics (``"24-year-old male technician"``).
* History (``DomainSplit.history``): the titles and stars of the user's most recent earlier
  ratings, newest first (at most ``max_history``). Earlier means strictly earlier in time, and
  only ratings the model may see: training rows draw on training rows, validation and test
  rows on training and validation rows (:func:`mtrec.datasets.earlier_rows`).
* Context (``DomainSplit.context``): when the rating was made, from its timestamp (UTC):
  ``weekday`` (monday ... sunday) and ``time_of_day`` (night 0-6 h, morning 6-12 h,
  afternoon 12-18 h, evening 18-24 h). ``timestamps`` holds the seconds themselves.
* Labels: ``rating`` (regression, 1-5), ``like`` (binary, rating >= 4), ``genres`` (multilabel
  over the 19 MovieLens genres, ``unknown`` included).
* Sensitive attributes: ``gender``, ``age_bucket`` (<25, 25-34, 35-44, 45+), ``occupation``.
* Splits: ``split="random"`` (seeded 80/10/10, default) or ``"temporal"`` (per-user
  leave-last-out). ``max_interactions`` keeps a seeded random subset of the ratings first.
"""

from __future__ import annotations

import os
import re

import numpy as np

from mtrec import (
    DatasetError,
    DomainData,
    DomainSpec,
    Interactions,
    Table,
    assemble_domain,
    check_loader_options,
    earlier_rows,
    get_manifest,
    hookimpl,
    label_fields_from,
    locate,
    read_tables,
    split_assignment,
    subsample,
)

DOMAIN_NAME = "movielens-100k"
GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
AGE_BUCKETS: tuple[str, ...] = ("<25", "25-34", "35-44", "45+")
LABELS = ("rating", "like", "genres")
SENSITIVE = ("gender", "age_bucket", "occupation")
CONTEXT = ("weekday", "time_of_day")
WEEKDAYS: tuple[str, ...] = (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
)  # fmt: skip
TIMES_OF_DAY: tuple[str, ...] = ("night", "morning", "afternoon", "evening")  # 6-hour buckets
_GENDER_WORDS = {"M": "male", "F": "female"}


def age_bucket(age: int) -> str:
    """The age group of an age in years: <25, 25-34, 35-44 or 45+."""
    if age < 25:
        return "<25"
    if age < 35:
        return "25-34"
    if age < 45:
        return "35-44"
    return "45+"


def scene(timestamps: np.ndarray) -> dict[str, np.ndarray]:
    """The context of ratings from their Unix timestamps (UTC): weekday and time of day."""
    seconds = np.asarray(timestamps, dtype=np.int64)
    days = seconds // 86_400
    hours = (seconds % 86_400) // 3_600
    # 1970-01-01 was a Thursday (index 3 with Monday at 0)
    weekday = np.asarray(WEEKDAYS, dtype=object)[(days + 3) % 7]
    time_of_day = np.asarray(TIMES_OF_DAY, dtype=object)[hours // 6]
    return {"weekday": weekday, "time_of_day": time_of_day}


def _items(table: Table, fmt: str) -> tuple[dict[int, int], list[str], np.ndarray]:
    """Item id -> index, each item's display title, and its [n_items, 19] genre matrix."""
    ids = table.role("item").tolist()
    index: dict[int, int] = {}
    titles: list[str] = []
    genres = np.zeros((len(ids), len(GENRES)), dtype=np.int64)
    genre_index = {genre: k for k, genre in enumerate(GENRES)}
    for row, item in enumerate(ids):
        if item in index:
            raise table.error(row, f"item id {item} appears twice")
        index[item] = row
        if fmt == "recbole":
            title = table.column("movie_title")[row].strip()
            year = table.column("release_year")[row].strip()
            titles.append(f"{title} ({year})" if re.fullmatch(r"\d{4}", year) else title)
            for token in table.column("class")[row].split():
                if token not in genre_index:
                    raise table.error(row, f"column 'class': unknown genre {token!r}")
                genres[row, genre_index[token]] = 1
        else:
            titles.append(table.column("title")[row].strip())
            for k, genre in enumerate(GENRES):
                flag = table.column(genre)[row]
                if flag not in ("0", "1"):
                    raise table.error(row, f"column '{genre}': genre flag {flag!r} is not 0 or 1")
                genres[row, k] = int(flag)
    return index, titles, genres


def _users(table: Table) -> tuple[dict[int, int], list[str], dict[str, list[str]]]:
    """User id -> index, each user's demographic phrase, and their sensitive groups."""
    ids = table.role("user").tolist()
    ages = table.column("age").tolist()
    index: dict[int, int] = {}
    phrases: list[str] = []
    groups: dict[str, list[str]] = {name: [] for name in SENSITIVE}
    for row, user in enumerate(ids):
        if user in index:
            raise table.error(row, f"user id {user} appears twice")
        index[user] = row
        gender = table.column("gender")[row].strip()
        occupation = table.column("occupation")[row].strip()
        phrases.append(f"{ages[row]}-year-old {_GENDER_WORDS.get(gender, gender)} {occupation}")
        groups["gender"].append(gender)
        groups["age_bucket"].append(age_bucket(ages[row]))
        groups["occupation"].append(occupation)
    return index, phrases, groups


def _dense(table: Table, role: str, index: dict[int, int], other: Table) -> np.ndarray:
    values = table.role(role).tolist()
    dense = np.empty(len(values), dtype=np.int64)
    for row, value in enumerate(values):
        if value not in index:
            raise table.error(row, f"{role} id {value} is not in {other.path.name}")
        dense[row] = index[value]
    return dense


def load_movielens(
    *,
    seed: int = 0,
    split: str | None = None,
    max_history: int = 5,
    max_interactions: int | None = None,
    item_genres_in_text: bool = False,
    path: str | os.PathLike[str] | None = None,
) -> DomainData:
    """Load MovieLens 100K from the cache (or ``path``) as three splits; see the module doc."""
    manifest = get_manifest(DOMAIN_NAME)
    split = split or manifest.default_split
    check_loader_options(DOMAIN_NAME, split, max_history, max_interactions)
    folder, fmt = locate(manifest, path)
    tables = read_tables(folder, manifest, fmt)
    ratings, items, users = tables["interactions"], tables["items"], tables["users"]
    item_index, titles, genres = _items(items, fmt)
    user_index, phrases, groups = _users(users)
    item_of_row = _dense(ratings, "item", item_index, items)
    user_of_row = _dense(ratings, "user", user_index, users)

    rows = subsample(len(ratings), max_interactions, seed)
    item_k, user_k = item_of_row[rows], user_of_row[rows]
    stars = ratings.role("rating")[rows]
    times = ratings.role("timestamp")[rows]
    user_ids = ratings.role("user")[rows]
    assignment = split_assignment(split, user_ids, times, seed=seed, fractions=manifest.fractions)
    history = earlier_rows(user_ids, times, assignment, max_history)

    genre_text = [
        ", ".join(g for g, on in zip(GENRES, flags, strict=True) if on) for flags in genres
    ]
    item_text = [
        f"{titles[k]}, genres: {genre_text[k]}" if item_genres_in_text else titles[k]
        for k in item_k.tolist()
    ]
    watched = [f"{titles[k]} {s:g}/5" for k, s in zip(item_k.tolist(), stars.tolist(), strict=True)]
    user_text = [phrases[k] for k in user_k.tolist()]
    # earlier_rows gives oldest first; DomainSplit.history is newest first
    earlier_ratings = [tuple(watched[j] for j in earlier[::-1]) for earlier in history]

    origin = f"{DOMAIN_NAME} ({folder})"
    if not len(rows):
        raise DatasetError(f"{origin}: no ratings to load")
    return assemble_domain(
        Interactions(
            ids=rows,
            user_ids=user_ids.astype(np.int64),
            item_ids=ratings.role("item")[rows].astype(np.int64),
            user_text=user_text,
            item_text=item_text,
            labels={
                "rating": stars.astype(np.float64),
                "like": (stars >= 4).astype(np.int64),
                "genres": genres[item_k],
            },
            sensitive={
                name: np.asarray(values, dtype=object)[user_k] for name, values in groups.items()
            },
            label_fields=label_fields_from(manifest),
            context=scene(times),
            history=earlier_ratings,
            timestamps=np.asarray(times, dtype=np.int64),
        ),
        assignment,
        origin=origin,
    )


@hookimpl
def mtrec_register_domains() -> list[DomainSpec]:
    """Register ``movielens-100k``; nothing is read until it is loaded."""
    return [
        DomainSpec(
            name=DOMAIN_NAME,
            load=load_movielens,
            label_fields=LABELS,
            sensitive_attributes=SENSITIVE,
            context_fields=CONTEXT,
            description="MovieLens 100K ratings with demographics: rating, like, genres "
            "(fetch first: mtrec datasets fetch movielens-100k)",
            domain_kind="video",
            head_set="movielens-seed",
        )
    ]
