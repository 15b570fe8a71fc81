"""Tests for the four review-style real-data domains, on small invented fixtures written in
each dataset's upstream format (tests/data/{amazon,mind,datafiniti,airline})."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pluggy
import pytest

from mtrec import hookspecs
from mtrec.datasets import DataFormatError, DatasetError, DatasetNotFetchedError, get_manifest
from mtrec.errors import UsageError
from mtrec.plugins import review_datasets as rd
from mtrec.specs import DomainData, DomainSplit, TaskType

DATA = Path(__file__).parents[1] / "data"
LOADERS: dict[str, tuple[Callable[..., DomainData], Path]] = {
    rd.AMAZON: (rd.load_amazon_reviews, DATA / "amazon"),
    rd.MIND: (rd.load_mind_small, DATA / "mind"),
    rd.HOTELS: (rd.load_datafiniti_hotels, DATA / "datafiniti"),
    rd.TWEETS: (rd.load_airline_tweets, DATA / "airline"),
}


def _splits(data: DomainData) -> list[DomainSplit]:
    return [data.train, data.validation, data.test]


def _all(data: DomainData, get: Callable[[DomainSplit], Any]) -> list[Any]:
    return [x for s in _splits(data) for x in list(get(s))]


def _copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / folder.name
    shutil.copytree(folder, target)
    return target


def test_registered_through_pluggy_and_match_their_manifests() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(rd)
    specs = {s.name: s for batch in pm.hook.mtrec_register_domains() for s in batch}
    assert set(specs) == set(LOADERS)
    kinds = {name: spec.domain_kind for name, spec in specs.items()}
    assert kinds == {
        rd.AMAZON: "e-commerce",
        rd.MIND: "news",
        rd.HOTELS: "travel",
        rd.TWEETS: "social",
    }
    for name, spec in specs.items():
        manifest = get_manifest(name)
        assert manifest.domain == spec.domain_kind
        assert spec.label_fields == tuple(t.name for t in manifest.tasks)
        assert spec.sensitive_attributes == tuple(a.name for a in manifest.sensitive_attributes)
        assert all(source.pending for source in manifest.sources)  # honest: nothing verified
        assert spec.description and "\n" not in spec.description


@pytest.mark.parametrize("split", ["random", "temporal"])
@pytest.mark.parametrize("name", list(LOADERS))
def test_domains_are_aligned_deterministic_and_labelled(name: str, split: str) -> None:
    load, folder = LOADERS[name]
    data = load(path=folder, split=split, seed=3)
    again = load(path=str(folder), split=split, seed=3)
    manifest = get_manifest(name)
    assert list(data.label_fields) == [t.name for t in manifest.tasks]
    assert data.sensitive_attributes == ("user_activity",)
    ids: list[int] = []
    for s, twin in zip(_splits(data), _splits(again), strict=True):
        n = len(s)
        assert n > 0
        for column in (s.user_ids, s.item_ids, s.user_text, s.item_text):
            assert len(column) == n
        np.testing.assert_array_equal(s.ids, twin.ids)
        assert list(s.user_text) == list(twin.user_text)
        assert set(s.sensitive["user_activity"]) <= {"active", "inactive"}
        ids.extend(s.ids.tolist())
        for field in data.label_fields.values():
            values = s.labels[field.name]
            assert len(values) == n
            if field.task_type is TaskType.MULTICLASS:
                assert values.dtype == np.int64 and values.max() < len(field.classes)
            if field.task_type is TaskType.BINARY:
                assert set(values.tolist()) <= {0, 1}
            if field.task_type is TaskType.REGRESSION:
                assert values.dtype == np.float64
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name", list(LOADERS))
def test_missing_data_names_the_fix(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MTREC_CACHE", str(tmp_path))
    with pytest.raises(DatasetNotFetchedError, match=f"mtrec datasets fetch {name}.*path=FOLDER"):
        LOADERS[name][0]()


@pytest.mark.parametrize("name", list(LOADERS))
def test_an_empty_split_is_a_usage_error(name: str) -> None:
    load, folder = LOADERS[name]
    options: dict[str, Any] = {"max_interactions": 4}
    with pytest.raises(DatasetError, match=r"split '(validation|test)' is empty") as info:
        load(path=folder, **options)
    assert isinstance(info.value, UsageError)


# --------------------------------------------------------------------------------------
# amazon-reviews
# --------------------------------------------------------------------------------------


def _amazon_rows() -> list[dict[str, Any]]:
    lines = (DATA / "amazon" / "Software_5.json").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_amazon_labels_follow_the_manifest_rules() -> None:
    data = rd.load_amazon_reviews(path=DATA / "amazon", max_history=0)
    raw = _amazon_rows()
    classes = data.label_fields["category"].classes
    assert classes[-1] == "other" and "Business & Office" in classes  # HTML entity decoded
    for s in _splits(data):
        for k, row in enumerate(s.ids.tolist()):
            review = raw[row]
            assert s.labels["rating"][k] == review["overall"]
            votes = int(review.get("vote", "0").replace(",", ""))
            assert s.labels["helpful"][k] == int(votes >= 1)
            assert review["summary"] not in s.item_text[k]  # the review itself is no input
            if review["asin"] == "B000NOMETA7":
                assert s.item_text[k] == "product B000NOMETA7"
                assert classes[s.labels["category"][k]] == "other"
            if review["asin"] == "B000TAX001":
                assert s.item_text[k] == "LedgerLite Home Tax 2017, by Quillsoft"  # first record
                assert classes[s.labels["category"][k]] == "Business & Office"


def test_amazon_history_is_earlier_reviews_of_the_same_user() -> None:
    data = rd.load_amazon_reviews(path=DATA / "amazon", split="temporal", max_history=10)
    raw = _amazon_rows()
    for s in _splits(data):
        for k, row in enumerate(s.ids.tolist()):
            text = s.user_text[k]
            if "earlier reviews" not in text:
                continue
            earlier = [
                r for r in raw
                if r["reviewerID"] == raw[row]["reviewerID"]
                and r["unixReviewTime"] < raw[row]["unixReviewTime"]
            ]  # fmt: skip
            assert text.count("/5") <= len(earlier)


def test_amazon_reads_the_upstream_gzip_files(tmp_path: Path) -> None:
    folder = tmp_path / "gz"
    folder.mkdir()
    for name in ("Software_5.json", "meta_Software.json"):
        payload = (DATA / "amazon" / name).read_bytes()
        (folder / f"{name}.gz").write_bytes(gzip.compress(payload))
    plain, packed = (
        rd.load_amazon_reviews(path=DATA / "amazon"),
        rd.load_amazon_reviews(path=folder),
    )
    assert _all(plain, lambda s: s.item_text) == _all(packed, lambda s: s.item_text)
    data = (folder / "Software_5.json.gz").read_bytes()
    (folder / "Software_5.json.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match=r"Software_5.json.gz: cannot read: .*truncated"):
        rd.load_amazon_reviews(path=folder)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.replace('"overall": 5.0', '"overall": 6.0', 1),
         "column 'overall': 6.0 is outside [1, 5]"),
        (lambda s: s.replace('"vote": "2"', '"vote": "two"', 1), "column 'vote': 'two'"),
        (lambda s: s[: len(s) // 2], "invalid JSON"),
        (lambda s: s.replace('"reviewerID"', '"reviewer"', 1), "missing key 'reviewerID'"),
    ],
    ids=["rating-out-of-range", "bad-vote", "truncated", "missing-key"],
)  # fmt: skip
def test_amazon_bad_files(tmp_path: Path, edit: Callable[[str], str], message: str) -> None:
    folder = _copy(DATA / "amazon", tmp_path)
    path = folder / "Software_5.json"
    path.write_text(edit(path.read_text()))
    with pytest.raises(DataFormatError, match=r"Software_5.json:\d+: .*" + re.escape(message)):
        rd.load_amazon_reviews(path=folder)


# --------------------------------------------------------------------------------------
# mind-small
# --------------------------------------------------------------------------------------


def _behaviors() -> list[list[str]]:
    return [line.split("\t") for line in (DATA / "mind" / "behaviors.tsv").read_text().splitlines()]


def test_mind_rows_are_impression_candidates_with_click_and_topic() -> None:
    data = rd.load_mind_small(path=DATA / "mind", max_history=2)
    news = {
        line.split("\t")[0]: line.split("\t")
        for line in (DATA / "mind" / "news.tsv").read_text().splitlines()
    }
    topics = data.label_fields["topic"].classes
    assert topics == ("finance", "lifestyle", "news", "sports", "weather")
    expected = {}
    for impression_id, _, _, history, candidates in _behaviors():
        for position, token in enumerate(candidates.split()):
            news_id, label = token.split("-")
            expected[int(impression_id) * 100_000 + position] = (news_id, int(label), history)
    assert sorted(_all(data, lambda s: s.ids)) == sorted(expected)
    for s in _splits(data):
        for k, row in enumerate(s.ids.tolist()):
            news_id, click, history = expected[row]
            assert s.labels["click"][k] == click
            assert topics[s.labels["topic"][k]] == news[news_id][1]
            assert s.item_text[k] == news[news_id][3]  # the title; category never in the text
            past = history.split()
            assert s.user_text[k].startswith(f"reader with {len(past)} earlier clicks")
            for old in past[:-2]:
                assert news[old][3] not in s.user_text[k]  # only the last max_history
    # every candidate of one impression is in the same split
    where = {row: code for code, s in enumerate(_splits(data)) for row in s.ids.tolist()}
    for impression in {row // 100_000 for row in where}:
        assert len({c for row, c in where.items() if row // 100_000 == impression}) == 1


def test_mind_temporal_split_holds_out_each_users_last_impression() -> None:
    data = rd.load_mind_small(path=DATA / "mind", split="temporal")
    test_impressions = {row // 100_000 for row in data.test.ids.tolist()}
    assert test_impressions == {3, 6, 9, 12}  # the fixture's users each have 3 days, in order


@pytest.mark.parametrize(
    ("file", "edit", "message"),
    [
        ("behaviors.tsv", lambda s: s.replace("-1 ", "-x ", 1),
         "behaviors.tsv:1: column 'impressions': 'N1001-x' is not NEWSID-0 or NEWSID-1"),
        ("behaviors.tsv", lambda s: s.replace("N1001-1", "N9999-1", 1),
         "behaviors.tsv:1: column 'impressions': news id 'N9999' not in news.tsv"),
        ("behaviors.tsv", lambda s: s.replace("11/10/2019", "2019-11-10", 1),
         "behaviors.tsv:1: column 'time': '2019-11-10"),
        ("news.tsv", lambda s: s.replace("\t", ",", 3), "news.tsv:1: expected 8 fields"),
    ],
    ids=["bad-label", "unknown-news", "bad-time", "wrong-separator"],
)  # fmt: skip
def test_mind_bad_files(
    tmp_path: Path, file: str, edit: Callable[[str], str], message: str
) -> None:
    folder = _copy(DATA / "mind", tmp_path)
    path = folder / file
    path.write_text(edit(path.read_text()))
    with pytest.raises(DataFormatError, match=re.escape(message)):
        rd.load_mind_small(path=folder)


# --------------------------------------------------------------------------------------
# datafiniti-hotels
# --------------------------------------------------------------------------------------


def test_property_type_rule() -> None:
    assert rd.property_type("Hotels,Resorts,Hotels and Motels") == "resort"
    assert rd.property_type("Bed & Breakfasts,Lodging") == "bed & breakfast"
    assert rd.property_type("Inns,Hotels") == "inn"
    assert rd.property_type("Motels,Hotels and Motels") == "motel"
    assert rd.property_type("Hotels and Motels,Hotel") == "hotel"
    assert rd.property_type("Campgrounds,Lodging") == "other"
    assert rd.PROPERTY_TYPES[-1] == "other"


def test_hotels_read_quoted_multiline_csv_and_derive_labels() -> None:
    data = rd.load_datafiniti_hotels(path=DATA / "datafiniti")
    with (DATA / "datafiniti" / "Datafiniti_Hotel_Reviews_Jun19.csv").open(newline="") as f:
        raw = list(csv.DictReader(f))
    assert sorted(_all(data, lambda s: s.ids)) == list(range(len(raw))) and len(raw) == 24
    classes = data.label_fields["property_type"].classes
    for s in _splits(data):
        for k, row in enumerate(s.ids.tolist()):
            record = raw[row]
            assert s.labels["rating"][k] == float(record["reviews.rating"])
            assert s.labels["like"][k] == int(float(record["reviews.rating"]) >= 4)
            assert classes[s.labels["property_type"][k]] == rd.property_type(record["categories"])
            assert s.item_text[k].startswith(record["name"])
            assert record["reviews.text"] not in s.user_text[k] + s.item_text[k]
    anonymous = [k for k, r in enumerate(raw) if not r["reviews.username"]]
    assert anonymous  # the fixture has one review without a user name: its own reviewer


def test_hotels_errors_count_csv_lines_not_records(tmp_path: Path) -> None:
    folder = _copy(DATA / "datafiniti", tmp_path)
    path = folder / "Datafiniti_Hotel_Reviews_Jun19.csv"
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    rows[6][rows[0].index("reviews.rating")] = "6"  # record 6 starts on line 8 (4th is 2 lines)
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    path.write_text(out.getvalue(), newline="")
    with pytest.raises(DataFormatError, match=r"Jun19.csv:8: column 'reviews.rating': '6'"):
        rd.load_datafiniti_hotels(path=folder)


# --------------------------------------------------------------------------------------
# social-airline-tweets
# --------------------------------------------------------------------------------------


def test_tweets_labels_and_texts() -> None:
    data = rd.load_airline_tweets(path=DATA / "airline", max_history=0)
    with (DATA / "airline" / "Tweets.csv").open(newline="") as f:
        raw = list(csv.DictReader(f))
    assert data.label_fields["sentiment"].classes == rd.SENTIMENTS
    for s in _splits(data):
        for k, row in enumerate(s.ids.tolist()):
            record = raw[row]
            assert rd.SENTIMENTS[s.labels["sentiment"][k]] == record["airline_sentiment"]
            assert s.labels["retweeted"][k] == int(int(record["retweet_count"]) >= 1)
            assert s.item_text[k] == f"to {record['airline']}: {record['text']}"
            assert s.user_text[k].startswith(f"@{record['name']} (time zone: ")
            assert record["text"] not in s.user_text[k]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.replace(",negative,", ",angry,", 1),
         "Tweets.csv:2: column 'airline_sentiment': 'angry' is not one of"),
        (lambda s: s.replace("airline_sentiment,", "sentiment,", 1),
         "Tweets.csv:1: header has no column 'airline_sentiment'"),
        (lambda s: s.replace(" -0800", "", 1), "Tweets.csv:2: column 'tweet_created'"),
        (lambda s: s.replace(",,0,", ",,-1,", 1), "column 'retweet_count': '-1' is outside"),
    ],
    ids=["bad-sentiment", "missing-column", "bad-time", "negative-retweets"],
)  # fmt: skip
def test_tweets_bad_files(tmp_path: Path, edit: Callable[[str], str], message: str) -> None:
    folder = _copy(DATA / "airline", tmp_path)
    path = folder / "Tweets.csv"
    path.write_text(edit(path.read_text()), newline="")
    with pytest.raises(DataFormatError, match=re.escape(message)):
        rd.load_airline_tweets(path=folder)
