"""The bad-input corpus in ``tests/bad_inputs/``, run through the real ``mtrec`` command.

Every malformed suite, flag, dataset manifest, download and plugin registration is bad input:
exit code 2, exactly one line on stderr naming the file, field or plugin at fault, no
traceback, and nothing written (no run folder, no cache entry). Bad data files and plugins
that misbehave only once a combination runs follow the sweep's contract instead: the
combination is recorded as failed with a reason naming the file and line or the plugin, the
sweep exits 1, and still no traceback.

Most cases call :func:`mtrec.cli.main` in-process (fast); a few run ``python -m mtrec.cli``
in a child process, to prove the same for a real process.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mtrec.cli import main

CORPUS = Path(__file__).parent / "bad_inputs"
SUITES = CORPUS / "suites"
MANIFESTS = CORPUS / "manifests"
PLUGINS = CORPUS / "plugins"
DATA = CORPUS / "data"
MOVIELENS = Path(__file__).parent / "data" / "movielens" / "recbole"


@dataclass(frozen=True)
class Outcome:
    """What one ``mtrec`` call left: exit code and both streams."""

    code: int | str | None
    out: str
    err: str


@pytest.fixture(autouse=True)
def _clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty cache and results store per test; no plugin blocking or manifest
    folders leak in. Bad input must leave both untouched: the cache folder is returned."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("MTREC_CACHE", str(cache))
    monkeypatch.setenv("MTREC_STORE", str(tmp_path / "store" / "mtrec.sqlite"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("MTREC_BLOCK_PLUGINS", raising=False)
    monkeypatch.delenv("MTREC_DATASETS_PATH", raising=False)
    return cache


def mtrec(capsys: pytest.CaptureFixture[str], *args: str) -> Outcome:
    """Run the CLI in-process, as the console script does (argparse exits are caught)."""
    try:
        code: int | str | None = main(list(args))
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return Outcome(code=code, out=captured.out, err=captured.err)


def assert_one_line(outcome: Outcome, *fragments: str, progress: str = "") -> str:
    """Exit code 2 and one stderr line holding every fragment; return that line.

    Lines starting with ``progress`` (``mtrec datasets fetch`` logs its download) are not
    error lines and are left out.
    """
    assert outcome.code == 2, (outcome.code, outcome.err)
    assert not outcome.err.startswith("\n"), "an empty line before the error"
    lines = outcome.err.strip().splitlines()
    if progress:
        lines = [line for line in lines if not line.startswith(progress)]
    assert len(lines) == 1, outcome.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in outcome.err + outcome.out
    return lines[0]


def files_under(folder: Path) -> list[str]:
    """Everything under ``folder`` (nothing when it does not exist)."""
    if not folder.exists():
        return []
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


# --------------------------------------------------------------------------------------
# suites: one malformed file each, in tests/bad_inputs/suites/
# --------------------------------------------------------------------------------------

SUITE_CASES = {
    "yaml-unclosed-bracket.yaml": "invalid YAML",
    "yaml-tab-indent.yaml": ":8:1: invalid YAML: found character '\\t'",
    "empty.yaml": "suite file is empty",
    "only-comments.yaml": "suite file is empty",
    "top-level-list.yaml": "a suite must be a mapping, got list",
    "not-utf8.yaml": ":2: not UTF-8 text (byte 0xe9)",
    "nul-byte.yaml": "invalid YAML: unacceptable character #x0000",
    "python-tag.yaml": "could not determine a constructor for the tag",
    "duplicate-key.yaml": ":8:1: invalid YAML: key 'training' appears twice",
    "unknown-top-level-key.yaml": "colour: unknown key",
    "unknown-training-key.yaml": "training.learning_rate: unknown key",
    "unknown-measure-key.yaml": "measure.latency_repeats: unknown key",
    "unknown-backbone-key.yaml": "backbones[0].option: unknown key",
    "unknown-backbone-training-key.yaml": "backbones[0].training.epoch: unknown key",
    "unknown-domain-key.yaml": "domains[0].option: unknown key",
    "unknown-include-key.yaml": "include[0].seed: unknown key",
    "unknown-exclude-key.yaml": "exclude[0].model: unknown key",
    "reserved-key.yaml": "source: unknown key",
    "missing-name.yaml": "name: Field required",
    "empty-name.yaml": "name: String should have at least 1 character",
    "epochs-wrong-type.yaml": "training.epochs: Input should be a valid integer",
    "epochs-boolean.yaml": "training.epochs: expected a number, got true/false",
    "epochs-zero.yaml": "training.epochs: Input should be greater than or equal to 1",
    "lr-negative.yaml": "training.lr: Input should be greater than 0",
    "lr-infinite.yaml": "training.lr: Input should be a finite number",
    "dropout-nan.yaml": "training.dropout: Input should be a finite number",
    "max-length-huge.yaml": "training.max_length: Input should be less than or equal to 4096",
    "batch-size-zero-override.yaml": "backbones[0].training.batch_size: Input should be greater",
    "latency-batch-size-zero.yaml": "measure.latency_batch_sizes[1]: Input should be greater",
    "latency-batch-sizes-empty.yaml": "measure.latency_batch_sizes: List should have at least 1",
    "seeds-not-a-list.yaml": "seeds: Input should be a valid list",
    "seeds-empty.yaml": "seeds: List should have at least 1 item",
    "seeds-negative.yaml": "seeds[1]: Input should be greater than or equal to 0",
    "seeds-too-large.yaml": "seeds[0]: Input should be less than or equal to 4294967295",
    "seeds-fraction.yaml": "seeds[0]: Input should be a valid integer",
    "seeds-boolean.yaml": "seeds: expected a number, got true/false",
    "backbones-mapping.yaml": "backbones: Input should be a valid list",
    "backbone-number.yaml": "backbones[0]: Input should be a valid dictionary",
    "domain-options-list.yaml": "domains[0].options: Input should be a valid dictionary",
    "pooling-unknown.yaml": "backbones[0].pooling: Input should be 'cls', 'mean' or 'last'",
    "strategy-unknown.yaml": "training.strategy: Input should be 'full', 'top_k'",
    "unknown-backbone.yaml": "backbones[0]: unknown backbone 'tiny-bret'; did you mean 'tiny-bert'",
    "unknown-head-set.yaml": "head_sets[0]: unknown head set 'ecomerce-seed'; did you mean",
    "unknown-domain.yaml": "domains[0]: unknown domain 'synthetic-ecomerce'; did you mean",
    "unknown-architecture.yaml": "training.architecture: unknown architecture 'mmoee'",
    "unknown-loss-weighting.yaml": "training.loss_weighting: unknown loss weighting 'magic'",
    "unknown-fairness-metric.yaml": "fairness_metrics[0]: unknown fairness metric 'group-gapp'",
    "unknown-backbone-option.yaml": "backbones[0].options: got an unexpected keyword argument",
    "unknown-domain-option.yaml": "domains[0].options: got an unexpected keyword argument",
    "unknown-architecture-option.yaml": "training.architecture_options: got an unexpected",
    "empty-matrix.yaml": "the matrix is empty",
    "exclude-everything.yaml": "the matrix is empty",
    "exclude-empty-pattern.yaml": "exclude[0]: a pattern needs at least one of",
    "include-incomplete.yaml": "include[0].head_set: Field required",
    "include-unknown-name.yaml": "include[0].backbone: unknown backbone 'tiny-bret'",
    "include-backbone-option.yaml": "include[0].backbone.options: got an unexpected keyword",
    "include-backbone-loss-weighting.yaml": "include[0].backbone.training.loss_weighting: "
    "unknown loss weighting 'magic'",
    "include-backbone-architecture-option.yaml": "include[0].backbone.training."
    "architecture_options: got an unexpected keyword argument 'experts'",
    "exclude-misspelt-backbone.yaml": "exclude[0].backbone: 'tiny-gtp2' is not among the suite's "
    "backbones, so the pattern matches nothing; did you mean 'tiny-gpt2'?",
    "exclude-misspelt-domain.yaml": "exclude[0].domain: 'synthetic-vidoe' is not among the "
    "suite's domains, so the pattern matches nothing; did you mean 'synthetic-video'?",
    "name-dotdot.yaml": "name: a suite name becomes a folder name",
    "name-slash.yaml": "name: a suite name becomes a folder name",
    "name-control-character.yaml": "name: a suite name becomes a folder name",
    "yaml-alias-bomb.yaml": ":6:4: invalid YAML: the document expands to more than 20,000 values",
    "yaml-self-alias.yaml": ":3:8: invalid YAML: an alias refers to a node that contains it",
    "yaml-alias-small-bomb.yaml": "seeds[0]: Input should be a valid integer (got [[[",
}
# One-line errors stay readable: a value echoed from the input is cut short.
MAX_ERROR_LINE = 600


def test_every_suite_in_the_corpus_has_a_case() -> None:
    assert sorted(SUITE_CASES) == sorted(path.name for path in SUITES.iterdir())


@pytest.mark.parametrize(("name", "expected"), SUITE_CASES.items(), ids=list(SUITE_CASES))
def test_bad_suite(
    name: str,
    expected: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    _clean_environment: Path,
) -> None:
    out = tmp_path / "run"
    outcome = mtrec(capsys, "run", str(SUITES / name), "--out", str(out), "--device", "cpu")
    line = assert_one_line(outcome, f"mtrec run: error: {SUITES / name}", expected)
    assert len(line) <= MAX_ERROR_LINE, line[:MAX_ERROR_LINE]
    assert "\x1b" not in outcome.err and "\x07" not in outcome.err
    assert not out.exists()
    assert files_under(_clean_environment) == []
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize(
    ("make_path", "expected"),
    [
        (lambda tmp: tmp, "is a folder; pass a suite .yaml file"),
        (lambda tmp: tmp / "missing.yaml", "suite file not found"),
        (lambda tmp: tmp / "sub" / "suite", "suite file not found"),
    ],
    ids=["folder", "missing-file", "missing-path"],
)
def test_suite_path_that_is_not_a_file(
    make_path: Callable[[Path], Path],
    expected: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = make_path(tmp_path)
    outcome = mtrec(capsys, "run", str(path), "--out", str(tmp_path / "run"))
    assert_one_line(outcome, str(path), expected)
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------------------
# flags
# --------------------------------------------------------------------------------------

FLAG_CASES = {
    "seed-word": (["--seed", "x"], "argument --seed: expected an integer seed, got 'x'"),
    "seed-negative": (["--seed", "-1"], "argument --seed: a seed must be in [0, 2**32)"),
    "seed-too-large": (["--seed", str(2**32)], "argument --seed: a seed must be in [0, 2**32)"),
    "out-empty": (["--out", ""], "argument --out: expected a folder, got an empty string"),
    "device-unknown": (["--device", "tpu"], "--device tpu: expected auto, cpu or cuda[:N]"),
    "backbones-empty": (["--backbones", ","], "argument --backbones: expected one or more"),
    "unknown-backbone-flag": (["--backbones", "tiny-bret"], "unknown backbone 'tiny-bret'"),
    "unknown-flag": (["--epochs", "3"], "unrecognized arguments: --epochs 3"),
}


@pytest.mark.parametrize(("flags", "expected"), FLAG_CASES.values(), ids=list(FLAG_CASES))
def test_bad_run_flag(
    flags: list[str],
    expected: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # an empty --out would have meant "here"
    out = ["--out", str(tmp_path / "run")] if "--out" not in flags else []
    outcome = mtrec(capsys, "run", "smoke", *out, *flags)
    assert_one_line(outcome, expected)
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "store").exists()
    assert files_under(work) == []


@pytest.mark.parametrize("command", [["plugins"], ["run", "smoke"]], ids=["plugins", "run"])
def test_misspelt_block_plugin_is_bad_input(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = ["--out", str(tmp_path / "run")] if command[0] == "run" else []
    outcome = mtrec(capsys, "--block-plugin", "tiny-backbone", *command, *extra)
    assert_one_line(
        outcome, "--block-plugin tiny-backbone: no installed plugin has that name; "
        "did you mean 'tiny-backbones'?"
    )  # fmt: skip
    assert outcome.out == ""
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "store").exists()


SHARD_CASES = ["0/0", "3/2", "x", "1/", "-1/2"]


@pytest.mark.parametrize("value", SHARD_CASES)
def test_bad_shard_flag(value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if "--shard" not in mtrec(capsys, "run", "--help").out:
        pytest.skip("this mtrec has no --shard flag")
    outcome = mtrec(capsys, "run", "smoke", "--shard", value, "--out", str(tmp_path / "run"))
    assert_one_line(outcome, "--shard")
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------------------
# dataset manifests: validation, download and archive checks
# --------------------------------------------------------------------------------------

MANIFEST_CASES = {
    "missing-license": ":2: license: required field is missing",
    "unknown-field": ":5: author: unknown field",
    "short-sha256": ":15: sources[0].files[0].sha256: 'abc123' does not match",
    "uppercase-sha256": ":15: sources[0].files[0].sha256: 'ABAB",
    "member-dotdot": (
        ":17: sources[0].files[0].extract[0].member: unsafe archive member 'tiny/../../evil' "
        "(path with '..')"
    ),
    "member-absolute": ":17: sources[0].files[0].extract[0].member: '/etc/passwd' does not match",
    "cache-name-path": ":14: sources[0].files[0].name: '../tiny.archive' does not match",
    "duplicate-key": ":5: invalid YAML: key 'title' appears twice",
    "name-mismatch": ":2: name: 'something-else' must match the file name 'name-mismatch.yaml'",
    "fractions-sum": ":34: splits.random: fractions must sum to 1, got 1.2",
    "unknown-format": ":11: sources[0].format: 'fancy' is not a format under schema",
    "role-not-a-column": ":28: schema.plain.interactions.roles: 'customer' is not one of",
    "url-scheme": ":13: sources[0].files[0].url: 'ftp://example.org/tiny.zip' does not match",
    "invalid-yaml": "invalid YAML",
    "top-level-list": "a manifest must be a mapping, got list",
    "not-utf8": ":4: not UTF-8 text (byte 0xe9)",
    "yaml-alias-bomb": ":7: invalid YAML: the document expands to more than 20,000 values",
}


@pytest.fixture
def manifest_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "manifests"
    folder.mkdir()
    monkeypatch.setenv("MTREC_DATASETS_PATH", str(folder))
    return folder


def install_manifest(folder: Path, name: str, served: Path | None = None) -> Path:
    """Copy a corpus manifest into the manifest folder, pointing it at ``served`` (a file
    that does not exist when None: validation fails before any download)."""
    data = (MANIFESTS / f"{name}.yaml").read_bytes()
    url, digest = "file:///nonexistent/tiny.archive", "0" * 64
    if served is not None:
        url, digest = served.as_uri(), hashlib.sha256(served.read_bytes()).hexdigest()
    data = data.replace(b"@URL@", url.encode()).replace(b"@SHA@", digest.encode())
    path = folder / f"{name}.yaml"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("name", "expected"), MANIFEST_CASES.items(), ids=list(MANIFEST_CASES))
@pytest.mark.parametrize("action", ["info", "fetch"])
def test_bad_manifest(
    name: str,
    expected: str,
    action: str,
    manifest_folder: Path,
    capsys: pytest.CaptureFixture[str],
    _clean_environment: Path,
) -> None:
    path = install_manifest(manifest_folder, name)
    outcome = mtrec(capsys, "datasets", action, name)
    assert_one_line(outcome, f"mtrec datasets: error: {path}", expected)
    assert files_under(_clean_environment) == []


RATINGS = b"1\t10\t4\n1\t11\t2\n2\t10\t5\n2\t12\t3\n3\t13\t1\n3\t11\t4\n"


def _zip(path: Path, members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16  # a symbolic link, as Info-ZIP stores one
            archive.writestr(info, target)


def _tar(path: Path, members: dict[str, bytes], links: dict[str, tuple[bytes, str]]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, (kind, target) in links.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            archive.addfile(info)


GOOD = {"tiny/ratings.tsv": RATINGS}
ARCHIVES: dict[str, tuple[Callable[[Path], object], str]] = {
    "wrong-sha256": (
        lambda p: _zip(p, GOOD),
        "tiny.archive from file://",  # then: sha256 mismatch: expected 000...
    ),
    "archive-dotdot": (
        lambda p: _zip(p, {**GOOD, "../escape": b"x"}),
        "tiny.archive: unsafe member '../escape' (path with '..'); refusing to extract",
    ),
    "archive-absolute": (
        lambda p: _tar(p, {**GOOD, "/tmp/evil": b"x"}, {}),
        "tiny.archive: unsafe member '/tmp/evil' (absolute path); refusing to extract",
    ),
    "archive-symlink": (
        lambda p: _zip(p, GOOD, {"tiny/link": "/etc/passwd"}),
        "tiny.archive: unsafe member 'tiny/link' (it is a symbolic link)",
    ),
    "archive-tar-symlink": (
        lambda p: _tar(p, GOOD, {"tiny/link": (tarfile.SYMTYPE, "../../outside")}),
        "tiny.archive: unsafe member 'tiny/link' (it is a symbolic link)",
    ),
    "archive-tar-hardlink": (
        lambda p: _tar(p, GOOD, {"tiny/hard": (tarfile.LNKTYPE, "/etc/passwd")}),
        "tiny.archive: unsafe member 'tiny/hard' (it is a hard link)",
    ),
    "archive-not-an-archive": (
        lambda p: p.write_bytes(b"<html>rate limited</html>\n"),
        "tiny.archive: not a valid zip archive",
    ),
}


@pytest.mark.parametrize(("name", "case"), ARCHIVES.items(), ids=list(ARCHIVES))
def test_bad_download_is_refused_and_leaves_nothing(
    name: str,
    case: tuple[Callable[[Path], None], str],
    tmp_path: Path,
    manifest_folder: Path,
    capsys: pytest.CaptureFixture[str],
    _clean_environment: Path,
) -> None:
    build, expected = case
    served = tmp_path / "served.bin"
    build(served)
    install_manifest(manifest_folder, name, served)
    outcome = mtrec(capsys, "datasets", "fetch", name)
    line = assert_one_line(outcome, expected, progress=f"{name}: downloading {served.as_uri()}")
    if name == "wrong-sha256":
        assert f"sha256 mismatch: expected {'0' * 64}" in line
        assert "nothing was written to the cache" in line
    assert files_under(_clean_environment) == []
    assert not (tmp_path / "escape").exists()
    assert not (tmp_path / "tmp" / "evil").exists()


def test_bad_data_file_in_a_fetched_dataset(
    tmp_path: Path, manifest_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served = tmp_path / "served.zip"
    _zip(served, {"tiny/ratings.tsv": RATINGS.replace(b"2\t12\t3", b"2\t12\tfive")})
    install_manifest(manifest_folder, "data-bad-rating", served)
    fetched = mtrec(capsys, "datasets", "fetch", "data-bad-rating")
    assert fetched.code == 0, fetched.err  # the checksums match: the file is what was pinned
    outcome = mtrec(capsys, "datasets", "info", "data-bad-rating")
    assert_one_line(outcome, "ratings.tsv:4: column 'rating': 'five' is not a number")


def test_every_manifest_in_the_corpus_has_a_case() -> None:
    cases = {*MANIFEST_CASES, *ARCHIVES, "data-bad-rating"}
    assert sorted(cases) == sorted(path.stem for path in MANIFESTS.iterdir())


# --------------------------------------------------------------------------------------
# data files of a file-based domain (MovieLens, RecBole format): failed combinations
# --------------------------------------------------------------------------------------

DATA_CASES = {
    "missing-column": "ml-100k.inter:1: header columns ['user_id', 'item_id', 'timestamp']",
    "non-numeric-rating": "ml-100k.inter:6: column 'rating': 'five' is not a number",
    "nan-rating": "ml-100k.inter:3: column 'rating': 'nan' is not finite",
    "rating-out-of-range": "ml-100k.inter:4: column 'rating': '7' is outside [1, 5]",
    "empty-file": "ml-100k.user: file is empty (table 'users')",
    "header-only": "ml-100k.inter: no data rows (table 'interactions')",
    "duplicate-item-id": "ml-100k.item:10: item id 2 appears twice",
    "duplicate-user-id": "ml-100k.user:8: user id 1 appears twice",
    "not-utf8": "ml-100k.item:5: not valid utf-8 text",
    "wrong-separator": "ml-100k.inter:1: expected 4 fields separated by TAB, got 1",
    "unknown-user": "ml-100k.inter:8: user id 999 is not in ml-100k.user",
    "truncated-row": "ml-100k.inter:11: expected 4 fields separated by TAB, got 2",
    "unknown-genre": "ml-100k.item:4: column 'class': unknown genre 'Spaghetti'",
}


def sweep_suite(tmp_path: Path, backbone: str, domain: str) -> Path:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        f"name: runtime\nbackbones: [{backbone}]\nhead_sets: [{domain.split(':')[0]}]\n"
        f"domains: [{domain.split(':', 1)[1]}]\ntraining: {{epochs: 1}}\n"
        "measure: {latency_batch_sizes: [1], latency_min_repeats: 1, latency_min_seconds: 0}\n",
        encoding="utf-8",
    )
    return suite


def failed_sweep(
    capsys: pytest.CaptureFixture[str], suite: Path, out: Path
) -> tuple[dict[str, object], Outcome]:
    """Run a sweep that must fail its one combination; return the record and the outcome."""
    outcome = mtrec(capsys, "run", str(suite), "--out", str(out), "--device", "cpu", "--quiet")
    assert outcome.code == 1, outcome.err
    assert "Traceback" not in outcome.err + outcome.out
    (record,) = json.loads((out / "results.json").read_text(encoding="utf-8"))["records"]
    assert record["status"] == "failed"
    return record, outcome


def test_every_data_case_in_the_corpus_has_a_case() -> None:
    assert sorted(DATA_CASES) == sorted(path.name for path in DATA.iterdir())


@pytest.mark.parametrize(("case", "expected"), DATA_CASES.items(), ids=list(DATA_CASES))
def test_bad_data_file_fails_its_combination(
    case: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "ml-100k"
    shutil.copytree(MOVIELENS, folder)
    for bad in (DATA / case).iterdir():
        shutil.copyfile(bad, folder / bad.name)
    domain = f"movielens-seed:{{name: movielens-100k, options: {{path: '{folder}'}}}}"
    suite = sweep_suite(tmp_path, "trivial", domain)
    record, _ = failed_sweep(capsys, suite, tmp_path / "run")
    error = str(record["error"])
    assert "domain 'movielens-100k' (plugin 'movielens'" in error
    assert f"{folder}/{expected}" in error


def test_missing_data_file_fails_its_combination(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "ml-100k"
    shutil.copytree(MOVIELENS, folder)
    (folder / "ml-100k.user").unlink()
    domain = f"movielens-seed:{{name: movielens-100k, options: {{path: '{folder}'}}}}"
    record, _ = failed_sweep(capsys, sweep_suite(tmp_path, "trivial", domain), tmp_path / "run")
    assert f"{folder}: does not hold the files of any movielens-100k format" in str(record["error"])


def test_bad_domain_option_value_fails_its_combination(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Option names are checked before the sweep; their values are the loader's to judge.
    domain = "ecommerce-seed:{name: synthetic-ecommerce, options: {n_interactions: -5}}"
    record, _ = failed_sweep(capsys, sweep_suite(tmp_path, "trivial", domain), tmp_path / "run")
    assert "domain 'synthetic-ecommerce'" in str(record["error"])
    assert "n_interactions" in str(record["error"])


# --------------------------------------------------------------------------------------
# misbehaving plugins, installed as real distributions with an `mtrec` entry point
# --------------------------------------------------------------------------------------

PLUGIN_CASES = {
    "raises_at_registration": "raised in mtrec_register_backbones: RuntimeError: registration "
    "exploded on purpose",
    "returns_names": "returned str from mtrec_register_backbones; expected BackboneSpec",
    "returns_number": "returned int from mtrec_register_domains; expected a list of DomainSpec",
    "returns_bare_spec": "returned BackboneSpec from mtrec_register_backbones; expected a list",
    "duplicate_name": "backbone 'tiny-bert' is registered twice: by plugin 'bad-duplicate-name'",
    "duplicate_within": "head set 'twice' is registered twice",
    "syntax_error": "failed to import 'mtrec_bad_syntax_error': SyntaxError",
    "missing_dependency": "ModuleNotFoundError: No module named 'mtrec_package_that_does_not",
    "misspelt_hook": "implements an unknown hook: unknown hook 'mtrec_register_backbone'",
    "string_enum_field": "returned BackboneSpec 'stringly' whose family is 'encoder' from "
    "mtrec_register_backbones; expected Family for family",
    "loader_not_callable": "returned DomainSpec 'uncallable' whose load is 'load_my_domain'",
    "exits_at_registration": "raised in mtrec_register_fairness_metrics: SystemExit: 3",
    "generator_raises": "raised in mtrec_register_backbones: ValueError: second half missing",
    "task_name_slash": "raised in mtrec_register_head_sets: ValueError: task name 'genre/sub' "
    "cannot name a file",
    "task_name_dot": "raised in mtrec_register_head_sets: ValueError: task name '..' cannot",
}
RUNTIME_PLUGIN_CASES = {
    "backbone_load_raises": (
        "vanishing",
        "backbone 'vanishing' (plugin 'bad-backbone-load-raises' (mtrec-bad-backbone-load-"
        "raises 0.1)) raised OSError: weights file vanished on purpose",
    ),
    "backbone_load_returns_none": (
        "hollow",
        "backbone 'hollow' (plugin 'bad-backbone-load-returns-none' (mtrec-bad-backbone-load-"
        "returns-none 0.1)) returned NoneType from its loader; expected LoadedBackbone",
    ),
}

# Domains whose loader returns arrays that do not fit together: the combination fails before
# anything trains, naming the domain, the plugin, the split and the field; no prediction file.
DOMAIN_PLUGIN_CASES = {
    "domain_labels_longer": (
        "misaligned",
        "split 'train', field 'labels.rating': 121 values for 120 ids",
    ),
    "domain_arrays_shorter": ("shortened", "split 'test', field 'item_ids': 14 values for 15 ids"),
    "domain_nan_labels": ("unrated", "split 'validation', field 'labels.rating': non-finite value"),
    "domain_class_out_of_range": (
        "overflowing",
        "split 'train', field 'labels.category': value 9 at row 2 is outside [0, 5]",
    ),
    "domain_sensitive_wrong_length": (
        "ungrouped",
        "split 'test', field 'sensitive.age_group': 12 values for 15 ids",
    ),
    "domain_duplicate_ids": ("repeated", "split 'train', field 'ids': id"),
}


@pytest.fixture
def install_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], Path]]:
    """Install a corpus plugin as distribution ``mtrec-bad-NAME`` (entry point ``bad-NAME``)."""
    modules: list[str] = []

    def install(stem: str) -> Path:
        module = f"mtrec_bad_{stem}"
        dashed = stem.replace("_", "-")
        site = tmp_path / "site"
        site.mkdir(exist_ok=True)
        source = next(PLUGINS.glob(f"{stem}.py*"))
        shutil.copyfile(source, site / f"{module}.py")
        dist_info = site / f"mtrec_bad_{stem}-0.1.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: mtrec-bad-{dashed}\nVersion: 0.1\n"
        )
        (dist_info / "entry_points.txt").write_text(f"[mtrec]\nbad-{dashed} = {module}\n")
        monkeypatch.syspath_prepend(str(site))
        monkeypatch.setenv("PYTHONPATH", str(site), prepend=os.pathsep)
        importlib.invalidate_caches()
        modules.append(module)
        return site

    yield install
    for module in modules:
        sys.modules.pop(module, None)


def test_every_plugin_in_the_corpus_has_a_case() -> None:
    cases = {*PLUGIN_CASES, *RUNTIME_PLUGIN_CASES, *DOMAIN_PLUGIN_CASES}
    assert sorted(cases) == sorted(path.name.split(".")[0] for path in PLUGINS.iterdir())


@pytest.mark.parametrize(("stem", "expected"), PLUGIN_CASES.items(), ids=list(PLUGIN_CASES))
@pytest.mark.parametrize("command", [["plugins"], ["run", "smoke"]], ids=["plugins", "run"])
def test_misbehaving_plugin_is_named(
    stem: str,
    expected: str,
    command: list[str],
    install_plugin: Callable[[str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    _clean_environment: Path,
) -> None:
    install_plugin(stem)
    extra = ["--out", str(tmp_path / "run")] if command[0] == "run" else []
    outcome = mtrec(capsys, *command, *extra)
    plugin = f"plugin 'bad-{stem.replace('_', '-')}' (mtrec-bad-{stem.replace('_', '-')} 0.1)"
    assert_one_line(outcome, plugin, expected)
    assert outcome.out == ""
    assert not (tmp_path / "run").exists()
    assert files_under(_clean_environment) == []
    assert not (tmp_path / "store").exists()


def test_a_misbehaving_plugin_can_be_blocked(
    install_plugin: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    install_plugin("raises_at_registration")
    outcome = mtrec(capsys, "--block-plugin", "bad-raises-at-registration", "plugins", "--json")
    assert outcome.code == 0, outcome.err
    assert json.loads(outcome.out)["blocked"] == ["bad-raises-at-registration"]


@pytest.mark.parametrize(
    ("stem", "case"), RUNTIME_PLUGIN_CASES.items(), ids=list(RUNTIME_PLUGIN_CASES)
)
def test_plugin_failing_at_run_time_fails_its_combination(
    stem: str,
    case: tuple[str, str],
    install_plugin: Callable[[str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    backbone, expected = case
    install_plugin(stem)
    domain = "ecommerce-seed:{name: synthetic-ecommerce, options: {n_interactions: 120}}"
    record, _ = failed_sweep(capsys, sweep_suite(tmp_path, backbone, domain), tmp_path / "run")
    assert expected in str(record["error"])


@pytest.mark.parametrize(
    ("stem", "case"), DOMAIN_PLUGIN_CASES.items(), ids=list(DOMAIN_PLUGIN_CASES)
)
def test_domain_returning_bad_arrays_fails_its_combination(
    stem: str,
    case: tuple[str, str],
    install_plugin: Callable[[str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    _clean_environment: Path,
) -> None:
    domain, expected = case
    install_plugin(stem)
    dashed = stem.replace("_", "-")
    suite = sweep_suite(tmp_path, "tiny-bert", f"ecommerce-seed:{{name: {domain}}}")
    record, _ = failed_sweep(capsys, suite, tmp_path / "run")
    error = str(record["error"])
    assert error.startswith(
        f"domain '{domain}' (plugin 'bad-{dashed}' (mtrec-bad-{dashed} 0.1)) returned invalid "
        "data: "
    ), error
    assert expected in error, error
    assert "\n" not in error
    # Failed before anything trained or was written: no predictions, no cached outcome.
    assert files_under(tmp_path / "run" / "predictions") == []
    assert not [p for p in files_under(_clean_environment) if p.startswith(("outcomes", "tokens"))]


# --------------------------------------------------------------------------------------
# results files read back by report, compare and merge
# --------------------------------------------------------------------------------------

RESULTS = CORPUS / "results"
RESULTS_CASES = {
    "empty-list": "not an mtrec results document: a JSON an array, where an object",
    "empty-object": "schema_version: missing; not an mtrec results document",
    "unknown-schema-version": "schema_version: 99 is not one this mtrec reads (1)",
    "records-not-a-list": "records: expected a list, got an object",
    "record-not-an-object": "records[0]: expected an object, got the string 'ok'",
    "record-without-key": "records[0].key: expected a non-empty string, got null",
    "metric-not-a-mapping": "records[0].metrics.rating: expected an object of metric values, "
    "got the number 1.2",
    "metric-not-a-number": "records[0].metrics.rating.rmse: expected a number, got the string",
    "unknown-status": "records[0].status: expected 'ok' or 'failed', got 'done'",
    "not-json": "results.json: not valid JSON (line 2",
}


def test_every_results_file_in_the_corpus_has_a_case() -> None:
    assert sorted(RESULTS_CASES) == sorted(path.stem for path in RESULTS.iterdir())


@pytest.mark.parametrize(("name", "expected"), RESULTS_CASES.items(), ids=list(RESULTS_CASES))
@pytest.mark.parametrize("command", ["report", "report-md", "compare", "merge"])
def test_bad_results_file(
    name: str, expected: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    shutil.copyfile(RESULTS / f"{name}.json", run / "results.json")
    before = files_under(tmp_path)
    argv = {
        "report": ["report", str(run)],
        "report-md": ["report", str(run), "--format", "md"],
        "compare": ["compare", str(run), str(run)],
        "merge": ["merge", str(tmp_path / "merged"), str(run), "--no-store"],
    }[command]
    outcome = mtrec(capsys, *argv)
    assert_one_line(outcome, f"mtrec {argv[0]}: error: ", expected)
    assert outcome.out == ""
    assert files_under(tmp_path) == before  # nothing written


COMPARE_FLAG_CASES = {
    "seed-negative": (["--seed", "-1"], "argument --seed: a seed must be in [0, 2**32)"),
    "seed-word": (["--seed", "x"], "argument --seed: expected an integer seed, got 'x'"),
    "resamples-negative": (["--resamples", "-1"], "must not be negative"),
    "min-effect-negative": (["--min-effect", "-1"], "must not be negative"),
    "rule-malformed": (["--fail-on", "rmse"], "--fail-on: malformed rule 'rmse'"),
}


@pytest.mark.parametrize(
    ("flags", "expected"), COMPARE_FLAG_CASES.values(), ids=list(COMPARE_FLAG_CASES)
)
def test_bad_compare_flag(
    flags: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    document = json.loads((RESULTS / "record-without-key.json").read_text(encoding="utf-8"))
    document["records"][0]["key"] = "0123456789abcdef"  # a readable run
    (run / "results.json").write_text(json.dumps(document), encoding="utf-8")
    summary = tmp_path / "diff.md"
    outcome = mtrec(capsys, "compare", str(run), str(run), "--summary", str(summary), *flags)
    assert_one_line(outcome, expected)
    assert outcome.out == "" and not summary.exists()


# --------------------------------------------------------------------------------------
# the same, in a real child process
# --------------------------------------------------------------------------------------


def mtrec_process(*args: str, env: dict[str, str] | None = None) -> Outcome:
    done = subprocess.run(
        [sys.executable, "-m", "mtrec.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return Outcome(code=done.returncode, out=done.stdout, err=done.stderr)


def test_in_a_real_process(
    tmp_path: Path, manifest_folder: Path, install_plugin: Callable[[str], Path]
) -> None:
    suite = mtrec_process("run", str(SUITES / "not-utf8.yaml"), "--out", str(tmp_path / "run"))
    assert_one_line(suite, "not UTF-8 text")
    install_manifest(manifest_folder, "member-dotdot")
    manifest = mtrec_process("datasets", "info", "member-dotdot")
    assert_one_line(manifest, "unsafe archive member 'tiny/../../evil'")
    site = install_plugin("generator_raises")
    plugin = mtrec_process("plugins", env={"PYTHONPATH": str(site)})
    assert_one_line(plugin, "plugin 'bad-generator-raises'", "second half missing")
    assert not (tmp_path / "run").exists()
