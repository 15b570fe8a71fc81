from __future__ import annotations

import pytest

from mtrec.config import parse_suite
from mtrec.errors import ConfigError, UnknownNameError
from mtrec.plugin_host import PluginHost
from mtrec.run.matrix import check_suite, expand

BASE = """
name: m
seeds: [0, 1]
backbones: [tiny-bert, tiny-gpt2]
head_sets: [ecommerce-seed]
domains: [synthetic-ecommerce]
"""


def parse(text: str):
    return parse_suite(text, origin="m.yaml", source="file")


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost()


def test_product_times_seeds() -> None:
    combos = expand(parse(BASE))
    assert len(combos) == 4
    assert {(c.backbone.name, c.seed) for c in combos} == {
        ("tiny-bert", 0),
        ("tiny-bert", 1),
        ("tiny-gpt2", 0),
        ("tiny-gpt2", 1),
    }


def test_keys_are_stable_and_content_addressed() -> None:
    first = [c.key for c in expand(parse(BASE))]
    again = [c.key for c in expand(parse(BASE))]
    assert first == again
    assert len(set(first)) == len(first)
    changed = [c.key for c in expand(parse(BASE + "training: {lr: 0.5}\n"))]
    assert not set(changed) & set(first)
    # Reordering the suite's lists does not change a combination's key.
    reordered = BASE.replace("[tiny-bert, tiny-gpt2]", "[tiny-gpt2, tiny-bert]")
    assert set(c.key for c in expand(parse(reordered))) == set(first)


def test_backbone_overrides_merge_into_training() -> None:
    suite = parse(
        BASE.replace(
            "[tiny-bert, tiny-gpt2]", "[{name: tiny-bert, training: {lr: 0.3}}, tiny-gpt2]"
        )
    )
    by_name = {c.backbone.name: c for c in expand(suite)}
    assert by_name["tiny-bert"].training.lr == 0.3
    assert by_name["tiny-gpt2"].training.lr == suite.training.lr


def test_exclude_and_include() -> None:
    suite = parse(
        BASE
        + "exclude: [{backbone: tiny-gpt2}]\n"
        + "include: [{backbone: minilm-l6, head_set: ecommerce-seed,\n"
        + "            domain: synthetic-ecommerce}]\n"
    )
    names = sorted({c.backbone.name for c in expand(suite)})
    assert names == ["minilm-l6", "tiny-bert"]


def test_duplicates_collapse() -> None:
    suite = parse(
        BASE + "include: [{backbone: tiny-bert, head_set: ecommerce-seed, "
        "domain: synthetic-ecommerce}]\n"
    )
    assert len(expand(suite)) == 4


def test_unknown_names_get_field_and_suggestion(host: PluginHost) -> None:
    suite = parse(BASE.replace("tiny-gpt2", "tiny-gtp2"))
    with pytest.raises(UnknownNameError) as info:
        check_suite(suite, host.registries)
    message = str(info.value)
    assert "m.yaml: backbones[1]" in message
    assert "did you mean 'tiny-gpt2'" in message
    assert "tiny-bert" in message  # the known names are listed


def test_empty_matrix(host: PluginHost) -> None:
    with pytest.raises(ConfigError, match="matrix is empty"):
        check_suite(parse(BASE + "exclude: [{domain: synthetic-ecommerce}]\n"), host.registries)
    with pytest.raises(ConfigError, match="matrix is empty"):
        check_suite(parse("name: e\n"), host.registries)


def test_domain_options_checked_up_front(host: PluginHost) -> None:
    suite = parse(
        BASE.replace(
            "[synthetic-ecommerce]", "[{name: synthetic-ecommerce, options: {n_userz: 3}}]"
        )
    )
    with pytest.raises(ConfigError, match=r"domains\[0\]\.options: .*n_userz"):
        check_suite(suite, host.registries)


def test_unknown_fairness_metric(host: PluginHost) -> None:
    with pytest.raises(UnknownNameError, match=r"fairness_metrics\[0\].*did you mean 'group-gap'"):
        check_suite(parse(BASE + "fairness_metrics: [group-gapp]\n"), host.registries)
