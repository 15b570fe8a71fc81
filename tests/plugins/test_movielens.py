"""Tests for the movielens-100k domain plugin, on small invented fixtures in both upstream
formats (tests/data/movielens/{recbole,grouplens}), plus one opt-in test on the real data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pluggy
import pytest

from mtrec import hookspecs
from mtrec.datasets import (
    DataFormatError,
    DatasetError,
    DatasetNotFetchedError,
    get_manifest,
)
from mtrec.errors import UsageError
from mtrec.plugins import movielens
from mtrec.plugins.movielens import GENRES, age_bucket, load_movielens
from mtrec.specs import DomainData, DomainSplit, TaskType

DATA = Path(__file__).parents[1] / "data" / "movielens"
RECBOLE, GROUPLENS = DATA / "recbole", DATA / "grouplens"


def _splits(data: DomainData) -> list[DomainSplit]:
    return [data.train, data.validation, data.test]


def _raw_ratings() -> dict[int, tuple[int, int, float, int]]:
    """Row id -> (user, item, rating, timestamp), straight from u.data."""
    lines = (GROUPLENS / "u.data").read_text().splitlines()
    return {
        k: (int(u), int(i), float(r), int(t))
        for k, (u, i, r, t) in enumerate(line.split("\t") for line in lines)
    }


def _titles() -> dict[str, int]:
    lines = (GROUPLENS / "u.item").read_text(encoding="latin-1").splitlines()
    return {line.split("|")[1]: int(line.split("|")[0]) for line in lines}


def test_registered_through_pluggy_and_matches_manifest() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(movielens)
    (spec,) = [s for batch in pm.hook.mtrec_register_domains() for s in batch]
    assert spec.name == "movielens-100k" and spec.domain_kind == "video"
    manifest = get_manifest(spec.name)
    assert spec.label_fields == tuple(t.name for t in manifest.tasks)
    assert spec.sensitive_attributes == tuple(a.name for a in manifest.sensitive_attributes)
    assert manifest.domain == "video"
    assert [t.classes for t in manifest.tasks if t.name == "genres"] == [GENRES]
    data = spec.load(seed=0, path=str(RECBOLE))
    assert set(data.label_fields) == set(spec.label_fields)


def test_both_formats_give_identical_domains() -> None:
    a, b = load_movielens(path=RECBOLE), load_movielens(path=GROUPLENS)
    for sa, sb in zip(_splits(a), _splits(b), strict=True):
        np.testing.assert_array_equal(sa.ids, sb.ids)
        assert list(sa.user_text) == list(sb.user_text)
        assert list(sa.history) == list(sb.history)
        assert {k: v.tolist() for k, v in sa.context.items()} == {
            k: v.tolist() for k, v in sb.context.items()
        }
        assert list(sa.item_text) == list(sb.item_text)
        for name in ("rating", "like", "genres"):
            np.testing.assert_array_equal(sa.labels[name], sb.labels[name])
        for name in ("gender", "age_bucket", "occupation"):
            np.testing.assert_array_equal(sa.sensitive[name], sb.sensitive[name])
    # latin-1 in u.item and UTF-8 in ml-100k.item decode to the same title
    assert "Café Noir (1995)" in set(a.train.item_text) | set(a.test.item_text) | set(
        a.validation.item_text
    )


def test_labels_classes_and_sensitive_attributes() -> None:
    data = load_movielens(path=GROUPLENS, item_genres_in_text=True)
    raw = _raw_ratings()
    fields = data.label_fields
    assert fields["rating"].task_type is TaskType.REGRESSION
    assert fields["like"].task_type is TaskType.BINARY
    assert fields["genres"].task_type is TaskType.MULTILABEL
    assert fields["genres"].classes == GENRES and len(GENRES) == 19
    assert data.sensitive_attributes == ("gender", "age_bucket", "occupation")
    ages = {1: 19, 2: 27, 3: 33, 4: 41, 5: 52, 6: 24}
    for split in _splits(data):
        genres = split.labels["genres"]
        assert genres.dtype == np.int64 and genres.shape == (len(split), 19)
        assert split.labels["rating"].dtype == np.float64
        for k, row in enumerate(split.ids.tolist()):
            user, item, rating, _ = raw[row]
            assert split.user_ids[k] == user and split.item_ids[k] == item
            assert split.labels["rating"][k] == rating
            assert split.labels["like"][k] == int(rating >= 4)
            assert split.sensitive["age_bucket"][k] == age_bucket(ages[user])
            named = [GENRES[j] for j in np.flatnonzero(genres[k])]
            assert split.item_text[k].endswith("genres: " + ", ".join(named))
    assert [age_bucket(a) for a in (18, 24, 25, 34, 35, 44, 45, 70)] == [
        "<25", "<25", "25-34", "25-34", "35-44", "35-44", "45+", "45+"
    ]  # fmt: skip


def test_item_text_leaves_genres_out_by_default() -> None:
    data = load_movielens(path=RECBOLE)
    assert all("genres" not in text for text in data.train.item_text)
    assert "Laugh Track, The (1992)" in set(data.train.item_text) | set(data.test.item_text)


@pytest.mark.parametrize("split", ["random", "temporal"])
def test_history_text_holds_only_strictly_earlier_visible_ratings(split: str) -> None:
    data = load_movielens(path=RECBOLE, split=split, max_history=50)
    raw = _raw_ratings()
    titles = _titles()
    where = {
        row: code for code, s in enumerate(_splits(data)) for row in s.ids.tolist()
    }  # row id -> 0 train, 1 validation, 2 test
    by_user_item = {(u, i): (t, row) for row, (u, i, _, t) in raw.items()}
    checked = 0
    for code, s in enumerate(_splits(data)):
        assert len(s.history) == len(s)
        for k, row in enumerate(s.ids.tolist()):
            user, _, _, t = raw[row]
            assert "earlier" not in s.user_text[k]  # the profile only; history is its own field
            times = []
            for entry in s.history[k]:
                title, stars = entry.rsplit(" ", 1)
                earlier_t, earlier_row = by_user_item[(user, titles[title])]
                assert earlier_t < t, f"row {row}: history holds a rating not strictly earlier"
                assert stars == f"{raw[earlier_row][2]:g}/5"
                allowed = {0} if code == 0 else {0, 1}
                assert where[earlier_row] in allowed, "history leaks a held-out rating"
                times.append(earlier_t)
                checked += 1
            assert times == sorted(times, reverse=True), "history is newest first"
    assert checked > 20


def test_max_history_caps_the_newest_earlier_ratings() -> None:
    full = load_movielens(path=RECBOLE, max_history=50)
    two = load_movielens(path=RECBOLE, max_history=2)
    none = load_movielens(path=RECBOLE, max_history=0)
    for a, b, c in zip(_splits(full), _splits(two), _splits(none), strict=True):
        assert [tuple(h[:2]) for h in a.history] == [tuple(h) for h in b.history]
        assert all(len(h) == 0 for h in c.history)
    assert max(len(h) for h in full.train.history) > 2


def test_context_is_weekday_and_time_of_day_of_the_timestamp() -> None:
    import datetime

    data = load_movielens(path=GROUPLENS)
    raw = _raw_ratings()
    assert data.context_fields == ("weekday", "time_of_day")
    seen: set[tuple[str, str]] = set()
    for s in _splits(data):
        assert s.timestamps is not None and s.timestamps.dtype == np.int64
        for k, row in enumerate(s.ids.tolist()):
            moment = datetime.datetime.fromtimestamp(raw[row][3], tz=datetime.timezone.utc)
            assert s.timestamps[k] == raw[row][3]
            assert s.context["weekday"][k] == moment.strftime("%A").lower()
            expected = ("night", "morning", "afternoon", "evening")[moment.hour // 6]
            assert s.context["time_of_day"][k] == expected
            seen.add((s.context["weekday"][k], s.context["time_of_day"][k]))
    assert len(seen) >= 3  # the fixture's ratings fall in several scenes


def test_scene_of_known_moments() -> None:
    stamps = np.array([0, 1_700_000_000, 893_286_638, 6 * 3600 - 1, 6 * 3600])
    scene = movielens.scene(stamps)
    # 1970-01-01 00:00 Thu; 2023-11-14 22:13 Tue; 1998-04-22 23:10 Wed (a real ML-100k stamp)
    assert scene["weekday"].tolist() == ["thursday", "tuesday", "wednesday"] + ["thursday"] * 2
    assert scene["time_of_day"].tolist() == ["night", "evening", "evening", "night", "morning"]


def test_rendered_input_holds_scene_profile_and_history() -> None:
    from mtrec.model.inputs import InputOptions, render_split

    split = load_movielens(path=RECBOLE, max_history=2).test
    k = next(i for i, h in enumerate(split.history) if len(h) == 2)
    full = render_split(split, InputOptions()).user_text[k]
    assert full == (
        f"weekday {split.context['weekday'][k]}, time of day {split.context['time_of_day'][k]}"
        f" | {split.user_text[k]}; earlier: {split.history[k][0]}; {split.history[k][1]}"
    )
    bare = render_split(split, InputOptions(context=False, history=0)).user_text[k]
    assert bare == split.user_text[k]


def test_same_second_ratings_never_see_each_other() -> None:
    raw = _raw_ratings()
    stamps = [r[3] for r in raw.values()]
    tied = [row for row, r in raw.items() if stamps.count(r[3]) > 1]
    assert len(tied) == 2  # the fixture plants one tie: user 3 rated two movies in one second
    names = {item: title for title, item in _titles().items()}
    data = load_movielens(path=RECBOLE, split="temporal", max_history=50)
    text_of = {
        row: "; ".join(s.history[k]) for s in _splits(data) for k, row in enumerate(s.ids.tolist())
    }
    first, second = tied
    assert text_of[first] and text_of[second]
    assert names[raw[second][1]] not in text_of[first]
    assert names[raw[first][1]] not in text_of[second]


def test_temporal_split_puts_each_users_last_rating_in_test() -> None:
    data = load_movielens(path=GROUPLENS, split="temporal")
    raw = _raw_ratings()
    per_user: dict[int, list[tuple[int, int]]] = {}
    for row, (user, _, _, t) in raw.items():
        per_user.setdefault(user, []).append((t, row))
    for events in per_user.values():
        events.sort()
    assert sorted(data.test.ids.tolist()) == sorted(e[-1][1] for e in per_user.values())
    assert sorted(data.validation.ids.tolist()) == sorted(e[-2][1] for e in per_user.values())
    assert len(data.test) == len(per_user) == 6
    # deterministic, whatever the seed
    again = load_movielens(path=GROUPLENS, split="temporal", seed=5)
    np.testing.assert_array_equal(data.test.ids, again.test.ids)


def test_random_split_is_seeded_80_10_10() -> None:
    a, b, c = (load_movielens(path=RECBOLE, seed=s) for s in (1, 1, 2))
    n = sum(len(s) for s in _splits(a))
    assert n == len(_raw_ratings()) == 42
    assert (len(a.train), len(a.validation), len(a.test)) == (34, 4, 4)
    np.testing.assert_array_equal(a.test.ids, b.test.ids)
    assert not np.array_equal(a.test.ids, c.test.ids)
    all_ids = np.concatenate([s.ids for s in _splits(a)])
    assert len(set(all_ids.tolist())) == n


def test_max_interactions_subsamples_with_the_seed() -> None:
    a = load_movielens(path=RECBOLE, max_interactions=30, seed=3)
    b = load_movielens(path=RECBOLE, max_interactions=30, seed=3)
    assert sum(len(s) for s in _splits(a)) == 30
    np.testing.assert_array_equal(a.train.ids, b.train.ids)


def test_an_empty_split_is_a_clear_error() -> None:
    with pytest.raises(DatasetError, match="split 'validation' is empty") as info:
        load_movielens(path=RECBOLE, max_interactions=3)
    assert isinstance(info.value, UsageError)
    assert str(RECBOLE) in str(info.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"split": "leave-one-out"}, "split must be random or temporal"),
        ({"max_history": -1}, "max_history"),
        ({"max_interactions": 0}, "max_interactions"),
    ],
)
def test_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        load_movielens(path=RECBOLE, **options)  # type: ignore[arg-type]


def test_missing_dataset_names_the_fetch_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MTREC_CACHE", str(tmp_path))
    with pytest.raises(DatasetNotFetchedError, match="mtrec datasets fetch movielens-100k"):
        load_movielens()
    assert not (tmp_path / "datasets").exists()  # loading never creates cache folders


def _copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / folder.name
    shutil.copytree(folder, target)
    return target


@pytest.mark.parametrize(
    ("fmt", "file", "edit", "message"),
    [
        ("grouplens", "u.data", lambda s: s.replace("\t", ",", 8), "u.data:1: expected 4 fields"),
        ("grouplens", "u.data", lambda s: s + "3\t4\n", "u.data:43: expected 4 fields"),
        ("grouplens", "u.data", lambda s: "", "u.data: file is empty"),
        (
            "recbole",
            "ml-100k.inter",
            lambda s: s.replace("\t2\t880016547", "\t7\t880016547"),
            "ml-100k.inter:2: column 'rating': '7' is outside [1, 5]",
        ),
        (
            "recbole",
            "ml-100k.inter",
            lambda s: s.replace("\t2\t880016547", "\tx\t880016547"),
            "ml-100k.inter:2: column 'rating': 'x' is not a number",
        ),
        (
            "recbole",
            "ml-100k.inter",
            lambda s: s.replace("2\t8\t2", "99\t8\t2", 1),
            "ml-100k.inter:2: user id 99 is not in ml-100k.user",
        ),
        (
            "recbole",
            "ml-100k.item",
            lambda s: s.replace("Drama Romance", "Drama Romcom"),
            "ml-100k.item:2: column 'class': unknown genre 'Romcom'",
        ),
        (
            "recbole",
            "ml-100k.user",
            lambda s: s.replace("\t", ","),
            "ml-100k.user:1: expected 5 fields separated by TAB, got 1; the line looks comma",
        ),
    ],
    ids=[
        "wrong-separator",
        "truncated-line",
        "empty-file",
        "rating-out-of-range",
        "not-a-number",
        "unknown-user",
        "unknown-genre",
        "wrong-separator-header",
    ],
)
def test_bad_files_are_one_line_errors_naming_file_and_line(
    tmp_path: Path, fmt: str, file: str, edit: object, message: str
) -> None:
    folder = _copy(RECBOLE if fmt == "recbole" else GROUPLENS, tmp_path)
    path = folder / file
    encoding = "latin-1" if file == "u.item" else "utf-8"
    path.write_text(edit(path.read_text(encoding)), encoding)  # type: ignore[operator]
    with pytest.raises(DataFormatError) as info:
        load_movielens(path=folder)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_folder_without_movielens_files_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"does not hold the files of any movielens-100k"):
        load_movielens(path=tmp_path)


@pytest.mark.network
@pytest.mark.skipif(
    os.environ.get("MTREC_NETWORK_TESTS") != "1", reason="set MTREC_NETWORK_TESTS=1 to download"
)
def test_real_fetch_from_pypi_and_full_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real thing: pip download recbole==1.2.1, verify, load all 100,000 ratings < 10 s."""
    monkeypatch.setenv("MTREC_CACHE", str(tmp_path))
    env = {**os.environ, "MTREC_CACHE": str(tmp_path)}
    command = [sys.executable, "-m", "mtrec.cli", "datasets"]
    done = subprocess.run(
        [*command, "fetch", "movielens-100k"], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr
    info = subprocess.run(
        [*command, "info", "movielens-100k"], capture_output=True, text=True, env=env, timeout=120
    )
    assert info.returncode == 0, info.stderr
    assert "100,000 interactions, 943 users, 1,682 items" in info.stdout
    assert not list(tmp_path.rglob("*.whl"))
    started = time.perf_counter()
    data = load_movielens()
    elapsed = time.perf_counter() - started
    assert sum(len(s) for s in _splits(data)) == 100_000
    assert elapsed < 10, f"loading took {elapsed:.1f} s"
    users = set(np.concatenate([s.user_ids for s in _splits(data)]).tolist())
    items = set(np.concatenate([s.item_ids for s in _splits(data)]).tolist())
    assert (len(users), len(items)) == (943, 1682)
    temporal = load_movielens(split="temporal")
    assert len(temporal.test) == 943


def test_mtrec_run_records_the_fetch_command_as_the_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is downloaded at run time: the combination fails, naming the command."""
    from mtrec.config import parse_suite
    from mtrec.plugin_host import PluginHost
    from mtrec.plugins import ecommerce_heads, executors, mtl, tiny_backbones
    from mtrec.run.runner import run_sweep

    monkeypatch.setenv("MTREC_CACHE", str(tmp_path / "cache"))
    suite = parse_suite(
        "name: real\nbackbones: [tiny-bert]\nhead_sets: [ecommerce-seed]\n"
        "domains: [movielens-100k]\ntraining: {epochs: 1}\n",
        origin="test",
        source="file",
    )
    host = PluginHost(
        load_entry_points=False,
        extra_plugins=[
            ("tiny-backbones", tiny_backbones),
            ("ecommerce-heads", ecommerce_heads),
            ("movielens", movielens),
            ("mtl", mtl),
            ("executors", executors),
        ],
    )
    result = run_sweep(suite, host, tmp_path / "run", device="cpu")
    [record] = result.document["records"]
    assert record["status"] == "failed"
    assert "run `mtrec datasets fetch movielens-100k` first" in record["error"]
    assert not (tmp_path / "cache" / "datasets").exists()
