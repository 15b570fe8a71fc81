"""Damaged cache files are discarded, logged and recomputed: results never change.

A sweep runs once on a clean cache; then its token and outcome files are truncated,
bit-flipped or swapped with one another (each a valid file of another key), and the same
sweep runs again on that cache: every metric and every fairness figure must equal the clean
run's, each damaged file must be named in a warning, and the cache must be sound again
afterwards. The tiny backbones' built checkpoints get the same treatment.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mtrec.cache_files import file_digest, read_arrays, write_arrays
from mtrec.config import parse_suite
from mtrec.plugin_host import PluginHost
from mtrec.plugins.tiny_backbones import _bert_config, build_tiny
from mtrec.run.runner import run_sweep

SUITE = """
name: cache-integrity
seeds: [0]
backbones: [tiny-bert]
head_sets: [ecommerce-seed]
domains:
  - {name: synthetic-ecommerce, options: {n_users: 20, n_items: 20, n_interactions: 160}}
fairness_metrics: [subtask-gain]
fairness: {baseline_seeds: 1, bootstrap_resamples: 0}
training: {epochs: 1, batch_size: 32, max_length: 32, patience: 0}
measure: {latency_batch_sizes: [1], latency_warmup: 0, latency_min_repeats: 1,
          latency_min_seconds: 0, flops: false}
"""


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def swap(first: Path, second: Path) -> None:
    held = first.read_bytes()
    first.write_bytes(second.read_bytes())
    second.write_bytes(held)


def figures(out: Path) -> list[dict[str, Any]]:
    suite = parse_suite(SUITE, origin="cache-integrity.yaml", source="file")
    result = run_sweep(suite, PluginHost(), out, device="cpu")
    records = result.document["records"]
    assert [r["status"] for r in records] == ["ok"], [r["error"] for r in records]
    return [{"metrics": r["metrics"], "fairness": r["fairness"]} for r in records]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """A cache filled by one clean run, and that run's figures."""
    root = tmp_path_factory.mktemp("cache-integrity")
    cache = root / "cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MTREC_CACHE", str(cache))
        reference = figures(root / "clean")
    return cache, reference


def damaged(
    clean: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> tuple[Path, list[Path], list[Path]]:
    cache = tmp_path / "cache"
    shutil.copytree(clean[0], cache)
    tokens = sorted((cache / "tokens").glob("*.npz"))
    outcomes = sorted((cache / "outcomes").glob("*.npz"))
    # train/validation/test, the training rows with next-item's sampled negatives and its
    # rank:validation/rank:test candidate pairs; four baselines
    assert len(tokens) == 6 and len(outcomes) == 4
    return cache, tokens, outcomes


def _damage_each(damage: Callable[[Path], None], files: list[Path]) -> list[Path]:
    for path in files:
        damage(path)
    return files


def _swap_first_two(files: list[Path]) -> list[Path]:
    swap(files[0], files[1])
    return files[:2]


DAMAGE: dict[str, Callable[[list[Path]], list[Path]]] = {
    "truncated": lambda files: _damage_each(truncate, files[:2]),
    "bit flip": lambda files: _damage_each(flip_bit, files[:2]),
    "swapped": _swap_first_two,
}


@pytest.mark.parametrize("how", DAMAGE.values(), ids=list(DAMAGE))
def test_damaged_cache_gives_the_clean_figures(
    how: Callable[[list[Path]], list[Path]],
    clean: tuple[Path, list[dict[str, Any]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache, tokens, outcomes = damaged(clean, tmp_path)
    broken = how(tokens) + how(outcomes)
    monkeypatch.setenv("MTREC_CACHE", str(cache))
    with caplog.at_level(logging.WARNING, logger="mtrec.cache"):
        assert figures(tmp_path / "run") == clean[1]
    warned = "\n".join(r.getMessage() for r in caplog.records)
    for path in broken:
        assert f"cache entry {path} discarded and recomputed" in warned
        assert read_arrays(path, path.stem) is not None  # rewritten, sound again


def test_an_entry_of_another_key_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    arrays = {"ids": np.arange(5)}
    assert write_arrays(tmp_path / "a.npz", "a", arrays)
    assert write_arrays(tmp_path / "b.npz", "b", {"ids": np.arange(6)})
    stored = read_arrays(tmp_path / "a.npz", "a")
    assert stored is not None
    np.testing.assert_array_equal(stored["ids"], arrays["ids"])
    shutil.copyfile(tmp_path / "b.npz", tmp_path / "a.npz")
    with caplog.at_level(logging.WARNING, logger="mtrec.cache"):
        assert read_arrays(tmp_path / "a.npz", "a") is None
    assert "holds the entry of another key (b)" in caplog.text
    assert not (tmp_path / "a.npz").exists()


@pytest.mark.parametrize("damage", [truncate, flip_bit], ids=["truncated", "bit flip"])
@pytest.mark.parametrize("member", ["model.safetensors", "tokenizer.json"])
def test_a_damaged_tiny_checkpoint_is_rebuilt(
    damage: Callable[[Path], None],
    member: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = build_tiny("tiny-bert", _bert_config, tmp_path)
    before = file_digest(folder / member)
    damage(folder / member)
    with caplog.at_level(logging.WARNING, logger="mtrec.cache"):
        again = build_tiny("tiny-bert", _bert_config, tmp_path)
    assert again == folder
    assert file_digest(folder / member) == before
    assert f"cache entry {folder} discarded and recomputed: {member} does not match" in caplog.text
