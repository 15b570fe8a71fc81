"""Security defaults, each pinned by a test.

* remote code (``trust_remote_code``) stays off unless a suite opts in for that one backbone;
* weights come from safetensors only: a checkpoint with only pickled weights is refused;
* downloads are checksum-verified, and a mismatch leaves nothing in the cache;
* archives (zip, wheel, tar) are extracted only when no member could land outside the
  target folder: ``..``, absolute paths, links and special files are refused;
* the package never evaluates, executes or unpickles data (checked on its syntax tree).

(HTML escaping of reports is tested with the report.)
"""

from __future__ import annotations

import ast
import hashlib
import io
import re
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

import mtrec.datasets as ds
from mtrec.config import parse_suite
from mtrec.errors import CombinationError
from mtrec.plugin_host import PluginHost
from mtrec.plugins.hub_backbones import NAMED

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "plugins", "reports")


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost()


@pytest.fixture(autouse=True)
def _own_cache_and_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTREC_STORE", str(tmp_path / "store" / "mtrec.sqlite"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


# --------------------------------------------------------------------------------------
# remote code
# --------------------------------------------------------------------------------------


@pytest.fixture
def from_pretrained_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Record what ``from_pretrained`` is asked for, without loading anything."""
    import transformers

    calls: list[tuple[str, dict[str, Any]]] = []

    def fake(kind: str, result: Any) -> Callable[..., Any]:
        def from_pretrained(source: str, **kwargs: Any) -> Any:
            calls.append((kind, kwargs))
            return result

        return from_pretrained

    model = SimpleNamespace(config=SimpleNamespace(hidden_size=8))
    tokenizer = SimpleNamespace(pad_token="[PAD]")
    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", fake("model", model))
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fake("tokenizer", tokenizer))
    return calls


SUITE = """
name: remote-code
backbones:
  - hf:some-org/plain-model
  - {name: hf:some-org/custom-model, options: {trust_remote_code: true}}
  - {name: gpt2}
head_sets: [ecommerce-seed]
domains: [synthetic-ecommerce]
"""


def test_remote_code_only_where_a_suite_opts_in(
    host: PluginHost, from_pretrained_calls: list[tuple[str, dict[str, Any]]]
) -> None:
    suite = parse_suite(SUITE, origin="remote-code.yaml", source="file")
    trusted: dict[str, set[bool]] = {}
    for entry in suite.backbones:
        from_pretrained_calls.clear()
        host.registries.backbones.get(entry.name).load(**entry.options)
        assert {kind for kind, _ in from_pretrained_calls} == {"model", "tokenizer"}
        trusted[entry.name] = {kwargs["trust_remote_code"] for _, kwargs in from_pretrained_calls}
    assert trusted == {
        "hf:some-org/plain-model": {False},
        "hf:some-org/custom-model": {True},
        "gpt2": {False},
    }


@pytest.mark.parametrize("name", [*NAMED, "hf:some-org/model", "minilm-l6"])
def test_every_hub_loader_defaults_to_no_remote_code_and_safetensors(
    name: str, host: PluginHost, from_pretrained_calls: list[tuple[str, dict[str, Any]]]
) -> None:
    host.registries.backbones.get(name).load()
    models = [kwargs for kind, kwargs in from_pretrained_calls if kind == "model"]
    assert models, "the backbone did not load through from_pretrained"
    for kwargs in models:
        assert kwargs["use_safetensors"] is True
    for _, kwargs in from_pretrained_calls:
        assert kwargs.get("trust_remote_code", False) is False


@pytest.mark.parametrize("value", ["true", "false", 1, None])
def test_remote_code_option_must_be_a_boolean(
    value: Any, host: PluginHost, from_pretrained_calls: list[tuple[str, dict[str, Any]]]
) -> None:
    # YAML `trust_remote_code: "false"` is a non-empty string: truthy, never trusted.
    with pytest.raises(CombinationError, match="option trust_remote_code must be true or false"):
        host.registries.backbones.get("hf:some-org/model").load(trust_remote_code=value)
    assert from_pretrained_calls == []


# --------------------------------------------------------------------------------------
# safetensors only
# --------------------------------------------------------------------------------------


def _pickled_checkpoint(folder: Path) -> Path:
    """A tiny BERT checkpoint whose weights exist only as a pickle (pytorch_model.bin).

    transformers 5 writes safetensors only, so the pickle is written the way older versions
    did it (``safe_serialization=False``): torch.save of the state dict.
    """
    import torch
    from transformers import AutoModel, BertConfig

    config = BertConfig(
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    folder.mkdir(parents=True)
    config.save_pretrained(folder)
    torch.save(AutoModel.from_config(config).state_dict(), folder / "pytorch_model.bin")
    return folder


def test_checkpoint_with_only_pickled_weights_is_refused(host: PluginHost, tmp_path: Path) -> None:
    folder = _pickled_checkpoint(tmp_path / "pickled")
    spec = host.registries.backbones.get(f"hf:{folder}")
    assert spec.available() is None  # it looks like a checkpoint...
    with pytest.raises(CombinationError) as refused:
        spec.load()  # ...but is refused before anything is unpickled
    message = str(refused.value)
    assert f"{folder}: no safetensors weights (it holds only pytorch_model.bin)" in message
    assert "mtrec loads safetensors only" in message


def test_pickled_checkpoint_fails_its_combination_in_a_sweep(
    host: PluginHost, tmp_path: Path
) -> None:
    from mtrec.run.runner import run_sweep

    folder = _pickled_checkpoint(tmp_path / "pickled")
    suite = parse_suite(
        f"name: pickled\nbackbones: ['hf:{folder}']\nhead_sets: [ecommerce-seed]\n"
        "domains: [{name: synthetic-ecommerce, options: {n_interactions: 120}}]\n",
        origin="pickled.yaml",
        source="file",
    )
    result = run_sweep(suite, host, tmp_path / "run", device="cpu")
    (record,) = result.document["records"]
    assert record["status"] == "failed"
    assert "no safetensors weights (it holds only pytorch_model.bin)" in record["error"]


# --------------------------------------------------------------------------------------
# checksums
# --------------------------------------------------------------------------------------


def _manifest(url: str, sha256: str) -> dict[str, Any]:
    return {
        "name": "checked",
        "domain": "video",
        "title": "Checked",
        "license": "CC0, invented test data",
        "homepage": "https://example.org/checked",
        "description": "One invented file.",
        "sources": [
            {
                "id": "web",
                "kind": "url",
                "format": "plain",
                "files": [{"url": url, "name": "ratings.tsv", "sha256": sha256}],
            }
        ],
        "schema": {
            "plain": {
                "interactions": {
                    "file": "ratings.tsv",
                    "parser": "delimited",
                    "separator": "\t",
                    "header": "none",
                    "columns": ["user", "item"],
                }
            }
        },
        "tasks": [{"name": "seen", "type": "binary", "rule": "always 1"}],
        "sensitive_attributes": [],
        "splits": {
            "default": "random",
            "random": {"train": 0.8, "validation": 0.1, "test": 0.1},
            "temporal": {"protocol": "per-user-leave-last-out"},
        },
    }


@pytest.mark.parametrize("pinned", ["right", "wrong"])
def test_downloads_are_checksum_verified(
    pinned: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MTREC_CACHE", str(tmp_path / "cache"))
    served = tmp_path / "ratings.tsv"
    served.write_bytes(b"1\t2\n")
    digest = hashlib.sha256(served.read_bytes()).hexdigest()
    sha256 = digest if pinned == "right" else hashlib.sha256(b"other").hexdigest()
    text = yaml.safe_dump(_manifest(served.as_uri(), sha256))
    manifest = ds.parse_manifest(text, origin="checked.yaml")
    if pinned == "right":
        report = ds.fetch_dataset(manifest)
        assert [(f.name, f.sha256) for f in report.files] == [("ratings.tsv", digest)]
        return
    with pytest.raises(ds.ChecksumError, match=f"sha256 mismatch: expected {sha256}, got {digest}"):
        ds.fetch_dataset(manifest)
    assert not (tmp_path / "cache").exists()  # nothing half-written, not even empty folders


# --------------------------------------------------------------------------------------
# archives
# --------------------------------------------------------------------------------------


def _zip_with(path: Path, name: str, data: bytes = b"x", mode: int | None = None) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ok/file.txt", b"fine")
        info = zipfile.ZipInfo(name)
        if mode is not None:
            info.external_attr = mode << 16
        archive.writestr(info, data)


def _tar_with(path: Path, name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> None:
    with tarfile.open(path, "w:gz") as archive:
        good = tarfile.TarInfo("ok/file.txt")
        good.size = 4
        archive.addfile(good, io.BytesIO(b"fine"))
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, link
        data = b"x" if kind == tarfile.REGTYPE else b""
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))


UNSAFE_ARCHIVES: dict[str, tuple[Callable[[Path], None], str]] = {
    "zip-dotdot": (lambda p: _zip_with(p, "../../escape"), "path with '..'"),
    "zip-absolute": (lambda p: _zip_with(p, "/tmp/escape"), "absolute path"),
    "zip-windows-drive": (lambda p: _zip_with(p, "C:/escape"), "absolute path"),
    "zip-backslashes": (lambda p: _zip_with(p, "ok\\..\\..\\escape"), "path with '..'"),
    "zip-symlink": (
        lambda p: _zip_with(p, "ok/link", b"/etc/passwd", 0o120777),
        "it is a symbolic link",
    ),
    "tar-dotdot": (lambda p: _tar_with(p, "ok/../../escape"), "path with '..'"),
    "tar-absolute": (lambda p: _tar_with(p, "/tmp/escape"), "absolute path"),
    "tar-symlink": (
        lambda p: _tar_with(p, "ok/link", tarfile.SYMTYPE, "/etc/passwd"),
        "it is a symbolic link",
    ),
    "tar-hardlink": (
        lambda p: _tar_with(p, "ok/hard", tarfile.LNKTYPE, "/etc/passwd"),
        "it is a hard link",
    ),
    "tar-device": (
        lambda p: _tar_with(p, "ok/null", tarfile.CHRTYPE),
        "it is a device or other special file",
    ),
    "tar-fifo": (
        lambda p: _tar_with(p, "ok/pipe", tarfile.FIFOTYPE),
        "it is a device or other special file",
    ),
}


@pytest.mark.parametrize(("build", "reason"), UNSAFE_ARCHIVES.values(), ids=list(UNSAFE_ARCHIVES))
def test_unsafe_archives_are_refused_before_anything_is_written(
    build: Callable[[Path], None], reason: str, tmp_path: Path
) -> None:
    archive = tmp_path / "archive.bin"
    build(archive)
    dest = tmp_path / "out" / "inner"
    dest.mkdir(parents=True)
    with pytest.raises(ds.UnsafeArchiveError, match=f"archive.bin: unsafe member '.*' \\({reason}"):
        ds.safe_extract(archive, dest)
    assert list((tmp_path / "out").rglob("*")) == [dest]  # not even the safe member
    assert not (tmp_path / "escape").exists()


def test_safe_tar_extracts_selected_members_with_digests(tmp_path: Path) -> None:
    archive = tmp_path / "data.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in {"d/a.txt": b"alpha", "d/b.txt": b"beta"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    every = ds.safe_extract(archive, tmp_path / "all")
    assert every == {
        "d/a.txt": hashlib.sha256(b"alpha").hexdigest(),
        "d/b.txt": hashlib.sha256(b"beta").hexdigest(),
    }
    assert (tmp_path / "all" / "d" / "b.txt").read_bytes() == b"beta"
    wrong = {"d/a.txt": ("a.txt", hashlib.sha256(b"other").hexdigest())}
    with pytest.raises(ds.ChecksumError, match=r"member 'd/a\.txt': sha256 mismatch"):
        ds.safe_extract(archive, tmp_path / "one", members=wrong)


# --------------------------------------------------------------------------------------
# no eval, exec or unpickling in the package
# --------------------------------------------------------------------------------------

SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "UniqueKeyLoader"}


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_constant(node: ast.expr | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def unsafe_calls(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, why) for every call that could run code hidden in data."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        last = name.rsplit(".", 1)[-1]
        why = ""
        if name in {"eval", "exec", "builtins.eval", "builtins.exec", "__import__"}:
            why = f"{name}()"
        elif name.startswith(("pickle.", "cPickle.", "dill.", "marshal.", "shelve.")):
            why = f"{name}() unpickles"
        elif last in {"load", "loads"} and name.split(".")[0] in {"torch", "joblib"}:
            if not _is_constant(_keyword(node, "weights_only"), True):
                why = f"{name}() without weights_only=True"
        elif name in {"np.load", "numpy.load"} and _is_constant(
            _keyword(node, "allow_pickle"), True
        ):
            why = f"{name}(allow_pickle=True)"
        elif name in {"yaml.unsafe_load", "yaml.full_load", "yaml.load_all"}:
            why = f"{name}()"
        elif name == "yaml.load":
            loader = _keyword(node, "Loader")
            if loader is None or _dotted(loader).rsplit(".", 1)[-1] not in SAFE_YAML_LOADERS:
                why = "yaml.load() without a safe Loader"
        elif last == "extractall":
            why = f"{name}() extracts without checking members"
        elif last == "from_pretrained" and (
            _is_constant(_keyword(node, "trust_remote_code"), True)
            or _is_constant(_keyword(node, "use_safetensors"), False)
        ):
            why = f"{name}() with remote code or pickled weights switched on"
        elif _is_constant(_keyword(node, "shell"), True):
            why = f"{name}(shell=True)"
        if why:
            found.append((node.lineno, why))
    return found


def test_the_checker_catches_what_it_looks_for() -> None:
    source = (
        "eval(s)\nexec(s)\npickle.loads(b)\ntorch.load(p)\ntorch.load(p, weights_only=False)\n"
        "np.load(p, allow_pickle=True)\nyaml.load(t)\nyaml.load(t, Loader=yaml.Loader)\n"
        "tar.extractall(d)\nAutoModel.from_pretrained(x, trust_remote_code=True)\n"
        "subprocess.run(c, shell=True)\n"
        # fine:
        "torch.load(p, weights_only=True)\nnp.load(p)\nyaml.load(t, Loader=UniqueKeyLoader)\n"
        "model.eval()\nAutoModel.from_pretrained(x, trust_remote_code=flag)\n"
    )
    assert [line for line, _ in unsafe_calls(ast.parse(source))] == list(range(1, 12))


def _package_sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py"))


def test_package_sources_are_found() -> None:
    names = {str(p.relative_to(REPO)) for p in _package_sources()}
    assert {"harness/config.py", "harness/model/hf.py", "plugins/hub_backbones.py"} <= names


def test_no_eval_exec_or_unpickling_in_the_package() -> None:
    problems = [
        f"{path.relative_to(REPO)}:{line}: {why}"
        for path in _package_sources()
        for line, why in unsafe_calls(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    ]
    assert problems == []


# --------------------------------------------------------------------------------------
# data strings shown to people: report.md, the terminal, mtrec plugins
# --------------------------------------------------------------------------------------

HOSTILE_HTML = '<img src=x onerror="alert(1)">'
HOSTILE_TERMINAL = "\x1b]0;owned\x07\x1b[2J\x9b31m\u202eevil"
HOSTILE_MARKUP = "[bold red]loud[/bold red] [blink]now[/blink]"


def _hostile_document() -> dict[str, Any]:
    """A results document whose data strings (group, item, error) are hostile."""
    group = f"{HOSTILE_HTML}{HOSTILE_TERMINAL}|x"
    ok = {
        "key": "k1",
        "backbone": "tiny-bert",
        "head_set": "ecommerce-seed",
        "domain": "synthetic-ecommerce",
        "seed": 0,
        "status": "ok",
        "error": None,
        "tasks": {"click": {"primary_metric": "auc", "directions": {"auc": "higher"}}},
        "metrics": {"click": {"auc": 0.7}},
        "efficiency": {"latency_ms": {}},
        "fairness": {
            "group-gap": {
                "click": {
                    "age": {
                        "metric": "auc",
                        "direction": "higher",
                        "by_group": {group: 0.6, "old": 0.8},
                        "group_sizes": {group: 30, "old": 30},
                        "group_min": 0.6,
                        "group_max": 0.8,
                        "difference": 0.2,
                        "ratio": 0.75,
                        "worst_group": group,
                    }
                }
            }
        },
        "training": {"strategy": "full", "epochs_run": 1, "best_epoch": 1},
        "config": {},
    }
    failed = {
        **ok,
        "key": "k2",
        "seed": 1,
        "status": "failed",
        "error": f"item {HOSTILE_HTML} ![t](https://example.org/t.png) {HOSTILE_TERMINAL}\nline",
        "metrics": {},
        "fairness": {},
    }
    return {
        "schema_version": 1,
        "suite": {"name": "hostile", "description": HOSTILE_HTML},
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:01:00+00:00",
        "environment": {"device": "cpu", "device_name": HOSTILE_TERMINAL},
        "records": [ok, failed],
    }


def _assert_no_control_sequences(text: str) -> None:
    for raw in ("\x1b", "\x07", "\x9b", "\u202e", "31m", "owned"):
        assert raw not in text, (raw, text)


def _assert_inert(text: str) -> None:
    """Markdown: no raw HTML, no link target, no control sequence."""
    _assert_no_control_sequences(text)
    assert "<img" not in text and "<script" not in text, text
    assert re.search(r"(?<!\\)\]\(", text) is None, text


def test_report_md_escapes_data_strings() -> None:
    from mtrec.reports import render_markdown

    markdown = render_markdown(_hostile_document())
    _assert_inert(markdown)
    assert '&lt;img src=x onerror="alert(1)"&gt;' in markdown  # shown, not run
    for line in markdown.splitlines():  # no cell broken by a pipe or a line break
        if line.startswith("| tiny-bert"):
            assert line.count(" | ") == line.replace("\\|", "").count(" | ")


def test_compare_markdown_escapes_data_strings() -> None:
    from mtrec.reports.compare import render_markdown as render_diff
    from mtrec.store.compare import Check, Comparison

    label = f"{HOSTILE_HTML} x hs x d (seed 0)"
    check = Check(
        combination=label,
        parts=(HOSTILE_HTML, "hs", "d", "seed 0"),
        metric="status",
        rule="ok in baseline",
        direction=1,
        baseline=None,
        candidate=None,
        allowed=0.0,
        interval=None,
        regressed=True,
        note=f"failed in the candidate: {HOSTILE_TERMINAL}",
    )
    comparison = Comparison(
        baseline=HOSTILE_HTML,
        candidate="c",
        rules=["*:+2%"],
        checks=[check],
        matched=1,
        only_baseline=[label],
        environment=[f"device_name {HOSTILE_TERMINAL} -> x"],
    )
    _assert_inert(render_diff(comparison))


def test_terminal_output_strips_control_sequences_and_markup() -> None:
    from rich.console import Console

    from mtrec.cli.run import failure_summary
    from mtrec.reports import print_summary

    document = _hostile_document()
    document["records"][0]["backbone"] = f"{HOSTILE_MARKUP}{HOSTILE_TERMINAL}"
    buffer = io.StringIO()
    print_summary(document, Console(file=buffer, width=400, color_system=None))
    shown = buffer.getvalue()
    _assert_no_control_sequences(shown)
    assert "[bold red]loud[/bold red]" in shown  # literally, not interpreted
    result = SimpleNamespace(document=document, failed=[document["records"][1]])
    lines = failure_summary(result)
    assert lines and all("\n" not in line for line in lines)
    _assert_no_control_sequences("\n".join(lines))


def test_mtrec_plugins_prints_plugin_strings_without_markup(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import mtrec as mtrec
    import mtrec.cli as cli

    class Loud:
        @mtrec.hookimpl
        def mtrec_register_fairness_metrics(self) -> list[mtrec.FairnessMetricSpec]:
            return [
                mtrec.FairnessMetricSpec(
                    name="loud",
                    scope="group",
                    compute=lambda context: {},
                    description=f"{HOSTILE_MARKUP} {HOSTILE_TERMINAL}",
                )
            ]

    plugin_host = PluginHost(extra_plugins=[("loud-plugin", Loud())])
    monkeypatch.setattr(cli, "_host", lambda args: plugin_host)
    monkeypatch.setenv("COLUMNS", "400")
    assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "[bold red]loud[/bold red]" in out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
