"""Unit tests of mtrec.registry: one typed registry per kind, attribution, did-you-mean."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mtrec.errors import PluginError, UnknownNameError, UsageError
from mtrec.registry import Provider, Registry

BUILTIN = Provider(plugin="tiny-backbones", distribution="mtrec-harness", version="0.1.0")
THIRD_PARTY = Provider(plugin="fixture", distribution="mtrec-fixture-plugin", version="0.3.1")
IN_MEMORY = Provider(plugin="local", distribution="", version="")


@dataclass(frozen=True)
class Item:
    name: str
    payload: int = 0


@pytest.fixture
def registry() -> Registry[Item]:
    registry: Registry[Item] = Registry("backbone")
    for name in ("tiny-gpt2", "minilm-l6", "tiny-bert"):
        registry.add(Item(name), BUILTIN)
    return registry


def test_add_and_get(registry: Registry[Item]) -> None:
    item = Item("fixture-bert", payload=7)
    registry.add(item, THIRD_PARTY)
    assert registry.get("fixture-bert") is item
    entry = registry.entry("fixture-bert")
    assert entry.spec is item
    assert entry.provider == THIRD_PARTY
    assert "fixture-bert" in registry
    assert "fixture-gpt" not in registry
    assert len(registry) == 4


def test_iteration_and_names_are_sorted(registry: Registry[Item]) -> None:
    registry.add(Item("a-first"), THIRD_PARTY)
    expected = ["a-first", "minilm-l6", "tiny-bert", "tiny-gpt2"]
    assert [entry.spec.name for entry in registry] == expected
    assert registry.names() == expected


def test_duplicate_names_both_providers(registry: Registry[Item]) -> None:
    with pytest.raises(PluginError) as caught:
        registry.add(Item("tiny-bert", payload=1), THIRD_PARTY)
    message = str(caught.value)
    assert "backbone 'tiny-bert' is registered twice" in message
    assert "plugin 'tiny-backbones' (mtrec-harness 0.1.0)" in message
    assert "plugin 'fixture' (mtrec-fixture-plugin 0.3.1)" in message
    assert "--block-plugin" in message
    # The first registration stays.
    assert registry.entry("tiny-bert").provider == BUILTIN


@pytest.mark.parametrize(
    ("provider", "described"),
    [
        (BUILTIN, "plugin 'tiny-backbones' (mtrec-harness 0.1.0)"),
        (THIRD_PARTY, "plugin 'fixture' (mtrec-fixture-plugin 0.3.1)"),
        (IN_MEMORY, "plugin 'local'"),
    ],
)
def test_provider_describe(provider: Provider, described: str) -> None:
    assert provider.describe() == described


@pytest.mark.parametrize("name", ["", None])
def test_item_without_name_names_the_plugin(registry: Registry[Item], name: str | None) -> None:
    with pytest.raises(PluginError) as caught:
        registry.add(Item(name), THIRD_PARTY)  # type: ignore[arg-type]
    assert "plugin 'fixture' (mtrec-fixture-plugin 0.3.1) registered a backbone without a name" in (
        str(caught.value)
    )


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [("tiny-bret", "tiny-bert"), ("tiny-gpt", "tiny-gpt2"), ("minilm", "minilm-l6")],
)
def test_unknown_close_name_suggests_it(
    registry: Registry[Item], typo: str, suggestion: str
) -> None:
    with pytest.raises(UnknownNameError) as caught:
        registry.get(typo)
    message = str(caught.value)
    assert f"unknown backbone '{typo}'" in message
    assert f"did you mean '{suggestion}'?" in message
    assert "known backbones: minilm-l6, tiny-bert, tiny-gpt2" in message


@pytest.mark.parametrize("far", ["resnet-152", "x"])
def test_unknown_far_name_has_no_suggestion(registry: Registry[Item], far: str) -> None:
    with pytest.raises(UnknownNameError) as caught:
        registry.entry(far)
    message = str(caught.value)
    assert f"unknown backbone '{far}'" in message
    assert "did you mean" not in message
    assert "known backbones: minilm-l6, tiny-bert, tiny-gpt2" in message


def test_unknown_name_is_a_usage_error(registry: Registry[Item]) -> None:
    with pytest.raises(UsageError) as caught:
        registry.get("nope")
    assert caught.value.exit_code == 2


def test_unknown_message_of_empty_registry() -> None:
    empty: Registry[Item] = Registry("domain")
    message = empty.unknown_message("synthetic-ecommerce")
    assert message.startswith("unknown domain 'synthetic-ecommerce'")
    assert "is mtrec-harness installed?" in message
    assert len(empty) == 0
    assert list(empty) == []
