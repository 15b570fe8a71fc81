"""The suite's ``evaluation.ranking`` block: read, refused when malformed, and keyed.

A malformed block is bad input like any other suite error (exit code 2, one stderr line naming
the field, nothing written). The block is part of a combination's key only when it is not the
default, so suites without it keep the keys they had before ranking tasks existed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mtrec.cli import main
from mtrec.config import RankingConfig, Suite, parse_suite
from mtrec.run.matrix import expand

BASE = """
name: m
seeds: [0, 1]
backbones: [tiny-bert, trivial]
head_sets: [ecommerce-seed]
domains: [synthetic-ecommerce]
"""
# The keys of BASE's four combinations as they were before ranking tasks existed: a change
# here makes every earlier run unreachable for --resume and compare.
BASE_KEYS = {"5f4fb2aa8d1335b2", "7c75539278e72a70", "9e2590ea42875cf4", "b251fa8ab665f616"}


def parse(text: str) -> Suite:
    return parse_suite(text, origin="m.yaml", source="file")


def with_ranking(block: str) -> str:
    return BASE + f"evaluation:\n  ranking: {block}\n"


def test_the_block_is_read_with_cut_offs_sorted_and_deduplicated() -> None:
    suite = parse(
        with_ranking(
            "{protocol: full, negatives: 50, sampling: popularity, k: [20, 5, 10, 5], "
            "relevance: 'rating >= 4', train_negatives: 2, validation_negatives: 19}"
        )
    )
    ranking = suite.evaluation.ranking
    assert ranking.protocol == "full"
    assert ranking.negatives == 50
    assert ranking.sampling == "popularity"
    assert ranking.k == [5, 10, 20]
    assert ranking.relevance == "rating >= 4"
    assert ranking.train_negatives == 2
    assert ranking.validation_negatives == 19


def test_defaults_without_the_block() -> None:
    ranking = parse(BASE).evaluation.ranking
    assert ranking == RankingConfig()
    assert (ranking.protocol, ranking.negatives, ranking.sampling) == ("sampled", 99, "uniform")
    assert (ranking.k, ranking.relevance) == ([5, 10, 20], "observed")


@pytest.mark.parametrize(
    "rule", ["observed", " observed ", "click == 1", "rating>=4", "score < -0.5", "watch > 0"]
)
def test_relevance_rules_accepted(rule: str) -> None:
    assert parse(with_ranking(f"{{relevance: '{rule}'}}")).evaluation.ranking.relevance == (
        rule.strip()
    )


BAD_BLOCKS = {
    "{protocol: bogus}": "evaluation.ranking.protocol: Input should be 'full' or 'sampled'",
    "{negatives: 0}": "evaluation.ranking.negatives: Input should be greater than or equal to 1",
    "{negatives: true}": "evaluation.ranking.negatives: expected a number, got true/false",
    "{sampling: zipf}": "evaluation.ranking.sampling: Input should be 'uniform' or 'popularity'",
    "{k: []}": "evaluation.ranking.k: List should have at least 1 item",
    "{k: 5}": "evaluation.ranking.k: Input should be a valid list",
    "{k: [10, 0]}": "evaluation.ranking.k[1]: Input should be greater than or equal to 1",
    "{k: [5, 5000]}": "evaluation.ranking.k[1]: Input should be less than or equal to 1000",
    "{relevance: 'rating ~ 4'}": "evaluation.ranking.relevance: relevance 'rating ~ 4': use "
    "'observed' or 'FIELD OP NUMBER'",
    "{relevance: 'rating >= high'}": "evaluation.ranking.relevance: relevance 'rating >= high'",
    "{relevance: ''}": "evaluation.ranking.relevance: relevance '': use 'observed'",
    "{train_negatives: 0}": "evaluation.ranking.train_negatives: Input should be greater",
    "{colour: red}": "evaluation.ranking.colour: unknown key",
    "[full]": "evaluation.ranking: Input should be a valid dictionary",
}


@pytest.fixture
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("MTREC_CACHE", str(cache))
    monkeypatch.setenv("MTREC_STORE", str(tmp_path / "store" / "mtrec.sqlite"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("MTREC_BLOCK_PLUGINS", raising=False)
    monkeypatch.delenv("MTREC_DATASETS_PATH", raising=False)
    return cache


@pytest.mark.parametrize(("block", "expected"), BAD_BLOCKS.items(), ids=list(BAD_BLOCKS))
def test_a_bad_block_is_bad_input(
    block: str,
    expected: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    clean_environment: Path,
) -> None:
    suite = tmp_path / "bad.yaml"
    suite.write_text(
        "name: bad\nbackbones: [trivial]\nhead_sets: [ecommerce-seed]\n"
        "domains:\n  - {name: synthetic-ecommerce, options: {n_interactions: 200}}\n"
        f"evaluation:\n  ranking: {block}\n",
        encoding="utf-8",
    )
    out = tmp_path / "run"
    try:
        code = main(["run", str(suite), "--out", str(out), "--device", "cpu"])
    except SystemExit as exc:
        code = exc.code  # type: ignore[assignment]
    captured = capsys.readouterr()
    assert code == 2, (code, captured.err)
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"mtrec run: error: {suite}: "), lines[0]
    assert expected in lines[0], (expected, lines[0])
    assert "Traceback" not in captured.err + captured.out
    assert not out.exists()
    assert not clean_environment.exists() or not any(clean_environment.rglob("*"))


def keys(text: str) -> set[str]:
    return {combination.key for combination in expand(parse(text))}


def test_suites_without_the_block_keep_their_keys() -> None:
    combinations = expand(parse(BASE))
    assert {c.key for c in combinations} == BASE_KEYS
    for combination in combinations:
        config = combination.config()
        assert "ranking" not in config
        # the key is the hash of exactly that configuration: nothing about ranking is hashed
        canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
        assert hashlib.sha256(canonical.encode()).hexdigest().startswith(combination.key)
    # writing the default block out changes nothing
    assert keys(with_ranking("{}")) == BASE_KEYS
    assert keys(with_ranking("{protocol: sampled, negatives: 99, k: [20, 10, 5]}")) == BASE_KEYS


@pytest.mark.parametrize(
    "block",
    [
        "{protocol: full}",
        "{negatives: 49}",
        "{sampling: popularity}",
        "{k: [10]}",
        "{k: [5, 10, 20, 50]}",
        "{relevance: 'rating >= 4'}",
        "{train_negatives: 1}",
        "{validation_negatives: 19}",
    ],
)
def test_a_changed_block_changes_every_key(block: str) -> None:
    changed = expand(parse(with_ranking(block)))
    assert len(changed) == len(BASE_KEYS)
    assert not {c.key for c in changed} & BASE_KEYS
    assert all("ranking" in c.config() for c in changed)


def test_cut_offs_in_another_order_are_the_same_combination() -> None:
    assert keys(with_ranking("{k: [20, 1, 5]}")) == keys(with_ranking("{k: [1, 5, 20, 5]}"))
    assert keys(with_ranking("{k: [20, 1, 5]}")) != BASE_KEYS
