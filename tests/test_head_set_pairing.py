"""``head_sets: auto`` (and an omitted ``head_sets``): each domain with its own head set."""

from __future__ import annotations

from importlib import resources

import pytest

from mtrec.config import load_suite, parse_suite
from mtrec.errors import ConfigError
from mtrec.plugin_host import PluginHost
from mtrec.registry import Provider
from mtrec.run.matrix import check_suite, expand
from mtrec.specs import DomainData, DomainSpec, TaskType

SYNTHETIC = ("ecommerce", "video", "social", "travel", "news")
# What `full` trained before it was rebuilt on the pairing (20 exclude lines then): each
# synthetic domain with its own seed head set, plus the e-commerce -> video transfer.
FULL_PAIRS = {(f"{name}-seed", f"synthetic-{name}") for name in SYNTHETIC}


@pytest.fixture
def host() -> PluginHost:
    return PluginHost()


def _suite(head_sets: str, domains: str = "[movielens-100k, mind-small]") -> str:
    return f"name: s\nbackbones: [trivial, id-embedding]\n{head_sets}domains: {domains}\n"


def _pairs(text: str, host: PluginHost) -> list[tuple[str, str, str]]:
    suite = parse_suite(text, origin="s.yaml", source="file")
    return [
        (c.backbone.name, c.head_set.name, c.domain.name)
        for c in check_suite(suite, host.registries)
    ]


def test_full_pairs_each_domain_with_its_head_set_without_excludes(host: PluginHost) -> None:
    text = resources.files("mtrec.suites").joinpath("full.yaml").read_text("utf-8")
    assert "exclude" not in text
    suite = load_suite("full")
    assert suite.head_sets == "auto" and not suite.exclude
    combinations = check_suite(suite, host.registries)
    plain = {(c.head_set.name, c.domain.name) for c in combinations if c.domain.transfer is None}
    assert plain == FULL_PAIRS
    transfers = [c for c in combinations if c.domain.transfer is not None]
    assert {(c.backbone.name, c.head_set.name, c.domain.name) for c in transfers} == {
        ("minilm-l6", "video-seed", "synthetic-video")
    }
    # every backbone entry on every domain, for every seed; the transfer trains the first
    assert len(combinations) == len(suite.backbones) * len(FULL_PAIRS) * len(suite.seeds) + len(
        transfers
    )
    assert all(c.backbone == suite.backbones[0] for c in transfers)


def test_auto_and_omitted_pair_each_domain_with_its_own(host: PluginHost) -> None:
    expected = [
        ("trivial", "movielens-seed", "movielens-100k"),
        ("trivial", "mind-seed", "mind-small"),
        ("id-embedding", "movielens-seed", "movielens-100k"),
        ("id-embedding", "mind-seed", "mind-small"),
    ]
    assert _pairs(_suite("head_sets: auto\n"), host) == expected
    assert _pairs(_suite(""), host) == expected


def test_a_list_keeps_the_cross_product(host: PluginHost) -> None:
    pairs = _pairs(_suite("head_sets: [video-seed]\n", "[movielens-100k]"), host)
    assert pairs == [
        ("trivial", "video-seed", "movielens-100k"),
        ("id-embedding", "video-seed", "movielens-100k"),
    ]
    crossed = _pairs(_suite("head_sets: [movielens-seed, mind-seed]\n"), host)
    assert len(crossed) == 2 * 2 * 2  # (and the domain check fails them later, as before)


def _never_loaded(seed: int = 0) -> DomainData:
    raise AssertionError("checking a suite loads no domain")


def _register(host: PluginHost, name: str, head_set: str | None) -> None:
    spec = DomainSpec(
        name=name,
        load=_never_loaded,
        label_fields=("category",),
        sensitive_attributes=(),
        head_set=head_set,
    )
    host.registries.domains.add(spec, Provider(plugin="test", distribution="", version=""))


def test_auto_with_a_domain_without_a_head_set_is_a_one_line_error(host: PluginHost) -> None:
    _register(host, "plain-domain", None)
    text = _suite("head_sets: auto\n", "[movielens-100k, plain-domain]")
    with pytest.raises(ConfigError) as caught:
        _pairs(text, host)
    message = str(caught.value)
    assert message.splitlines() == [message]
    assert message.startswith("s.yaml: domains[1]: domain 'plain-domain' declares no head set")
    assert "list the suite's head_sets" in message
    # the same domain with a listed head set is fine: the pairing is only asked under auto
    assert _pairs(_suite("head_sets: [video-seed]\n", "[plain-domain]"), host)


def test_auto_with_an_unregistered_head_set_names_it(host: PluginHost) -> None:
    _register(host, "odd-domain", "no-such-heads")
    with pytest.raises(ConfigError, match="declares head set 'no-such-heads', which is not"):
        _pairs(_suite("", "[odd-domain]"), host)


def test_expand_without_the_registry_cannot_guess_the_pairing() -> None:
    suite = parse_suite(_suite(""), origin="s.yaml", source="file")
    with pytest.raises(ConfigError, match="head_sets: auto pairs each domain"):
        expand(suite)


def test_bad_head_sets_values_are_refused() -> None:
    with pytest.raises(ConfigError, match="head_sets: write auto"):
        parse_suite("name: s\nhead_sets: automatic\n", origin="s.yaml", source="file")


def test_every_declared_head_set_is_registered_and_reads_the_domain_labels(
    host: PluginHost,
) -> None:
    declared = 0
    for entry in host.registries.domains:
        domain = entry.spec
        if domain.head_set is None:
            continue
        declared += 1
        heads = host.registries.head_sets.get(domain.head_set).heads
        # a ranking head reads the relevance column the harness derives, not a domain label
        fields = {head.label_field for head in heads if head.task_type is not TaskType.RANKING}
        assert fields <= set(domain.label_fields), domain.name
    assert declared >= 5  # MovieLens and the four review datasets, at least
