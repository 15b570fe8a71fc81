from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mtrec.config import builtin_suites, load_suite, parse_suite
from mtrec.errors import ConfigError, UnknownNameError


def parse(text: str):
    return parse_suite(text, origin="suites/mine.yaml", source="file")


def test_builtin_suites_load() -> None:
    assert {"smoke", "quick"} <= set(builtin_suites())
    for name in builtin_suites():
        suite = load_suite(name)
        assert suite.name == name
        assert suite.source == "builtin"
        assert suite.backbones and suite.head_sets and suite.domains


def test_default_suite_is_quick() -> None:
    assert load_suite(None).name == "quick"


def test_bare_names_and_entries_mix() -> None:
    suite = parse(
        "name: s\nbackbones: [tiny-bert, {name: tiny-gpt2, training: {lr: 0.01}}]\n"
        "head_sets: [h]\ndomains: [{name: d, options: {n_users: 5}}]\n"
    )
    assert [b.name for b in suite.backbones] == ["tiny-bert", "tiny-gpt2"]
    assert suite.backbones[1].training.lr == 0.01
    assert suite.domains[0].options == {"n_users": 5}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: [oops", "suites/mine.yaml:1:"),
        ("", "suite file is empty"),
        ("- a\n- b\n", "a suite must be a mapping"),
        ("name: s\nbackbone: [a]\n", "backbone: unknown key"),
        ("nam: s\n", "nam: unknown key"),
        ("name: s\ntraining: {lr: -1}\n", "training.lr: Input should be greater than 0"),
        ("name: s\ntraining: {epochs: two}\n", "training.epochs: Input should be a valid integer"),
        ("name: s\nbackbones: [{name: a, trainig: {}}]\n", "backbones[0].trainig: unknown key"),
        ("name: s\nseeds: []\n", "seeds: List should have at least 1 item"),
        ("name: s\nexclude: [{}]\n", "exclude[0]: a pattern needs at least one"),
        ("name: s\ninclude: [{backbone: a, head_set: b}]\n", "include[0].domain: Field required"),
        ("name: s\nsource: x\n", "source: unknown key"),
    ],
)
def test_bad_suites_name_file_and_field(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text)
    message = str(info.value)
    assert message.startswith("suites/mine.yaml")
    assert expected in message
    assert "\n" not in message


def test_unknown_builtin_suggests() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'smoke'"):
        load_suite("smok")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="suite file not found"):
        load_suite(str(tmp_path / "nope.yaml"))


def test_suite_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nbackbones: [tiny-bert]\nhead_sets: [h]\ndomains: [d]\n")
    suite = load_suite(str(path))
    assert suite.path == str(path)
    assert suite.source == "file"


# --------------------------------------------------------------------------------------
# input: what the backbone reads (context, history)
# --------------------------------------------------------------------------------------

INPUT_SUITE = "name: s\nhead_sets: [h]\ndomains: [d]\n"


def test_input_defaults_and_per_backbone_overrides() -> None:
    from mtrec.run.matrix import expand

    suite = parse(
        INPUT_SUITE + "input: {history: 2}\n"
        "backbones: [b, {name: b, input: {context: false}}, {name: b, input: {history: null}}]\n"
    )
    assert parse(INPUT_SUITE + "backbones: [b]\n").input.model_dump() == {
        "context": True,
        "history": None,
    }
    assert suite.backbones[0].input is None  # the suite's
    # a backbone's block overrides the keys it writes; the others come from the suite's
    assert suite.backbones[1].input.model_dump() == {"context": False, "history": 2}
    assert suite.backbones[2].input.model_dump() == {"context": True, "history": None}
    inputs = [c.input.model_dump() for c in expand(suite)]
    assert inputs == [
        {"context": True, "history": 2},
        {"context": False, "history": 2},
        {"context": True, "history": None},
    ]
    assert len({c.key for c in expand(suite)}) == 3  # the input is part of the identity
    # ... in the key only when not the default: a suite without `input:` keeps its keys
    configs = [c.config() for c in expand(suite)]
    assert [config.get("input") for config in configs] == [inputs[0], inputs[1], None]
    plain = expand(parse(INPUT_SUITE + "backbones: [b]\n"))[0]
    assert "input" not in plain.config()
    # the validated suite reads back the same (results.json keeps it; merge re-expands it)
    again = parse_suite_dump(suite)
    assert [c.key for c in expand(again)] == [c.key for c in expand(suite)]


def parse_suite_dump(suite: Any) -> Any:
    import yaml

    dumped = suite.model_dump(mode="json", exclude={"source", "path"})
    return parse(yaml.safe_dump(dumped))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("input: {history: -1}\n", "input.history: Input should be greater than or equal to 0"),
        ("input: {history: true}\n", "input.history: expected a number, got true/false"),
        ("input: {context: 'yes'}\n", "input.context: Input should be a valid boolean"),
        ("input: {context: 1}\n", "input.context: Input should be a valid boolean"),
        ("input: {scene: true}\n", "input.scene: unknown key"),
        ("input: [context]\n", "input: Input should be a valid dictionary"),
        (
            "backbones: [{name: b, input: {history: 1.5}}]\n",
            "backbones[0].input.history: Input should be a valid integer",
        ),
    ],
)
def test_bad_input_blocks_name_the_field(text: str, expected: str) -> None:
    body = INPUT_SUITE + text + ("" if text.startswith("backbones") else "backbones: [b]\n")
    with pytest.raises(ConfigError) as caught:
        parse(body)
    assert str(caught.value).startswith("suites/mine.yaml: ")
    assert expected in str(caught.value), str(caught.value)
