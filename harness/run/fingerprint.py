"""What a combination's result depends on beyond its config: code and data fingerprints.

A combination's key hashes its suite config only. The same config gives a different result
when mtrec or a plugin providing one of its items changes (a new release, an edited module),
or when a domain's loader returns different data. ``--resume`` therefore reuses an earlier
record only when its fingerprint equals the current one:

- ``code``: a hash of mtrec's version and of the version of every plugin that provides an
  item of the combination (backbone, head set, domain and transfer sources, architecture,
  loss weighting, the fairness metrics that run); a plugin not installed as a distribution
  (a module added by hand) counts by the sha256 of its source file;
- ``data``: a hash of the loaded domain data (every array, text and label declaration of the
  three splits) of the domain and of each transfer source.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import weakref
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from mtrec import version
from mtrec.run.plugin_calls import load_domain
from mtrec.specs import DomainData

if TYPE_CHECKING:
    from mtrec.contracts import Combination
    from mtrec.plugin_host import PluginHost

DIGEST_LENGTH = 16


def domain_fingerprint(data: DomainData) -> str:
    """sha256 (first 16 hex digits) of everything a loaded domain holds.

    Remembered per loaded object (a sweep's cache hands every combination of a domain the
    same one), so a domain is hashed once however many combinations use it.
    """
    known = _known.get(id(data))
    if known is not None and known[0]() is data:
        return known[1]
    digest = hashlib.sha256()
    _feed(digest, data)
    fingerprint = digest.hexdigest()[:DIGEST_LENGTH]
    for key in [key for key, (ref, _) in _known.items() if ref() is None]:
        del _known[key]
    _known[id(data)] = (weakref.ref(data), fingerprint)
    return fingerprint


# id of a loaded DomainData -> (a weak reference to it, its fingerprint); DomainData holds
# arrays, so it cannot be a dictionary key itself. Loaded domains are never mutated in place.
_known: dict[int, tuple[weakref.ref[DomainData], str]] = {}


def _feed(digest: Any, value: Any) -> None:
    """Feed ``value`` to ``digest`` unambiguously (type tags and lengths before contents)."""
    if isinstance(value, np.ndarray):
        digest.update(f"array {value.dtype.str} {value.shape}\n".encode())
        if value.dtype == object:
            _feed(digest, [str(item) for item in value.ravel().tolist()])
        else:
            digest.update(np.ascontiguousarray(value).tobytes())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        digest.update(f"dataclass {type(value).__name__}\n".encode())
        for field in dataclasses.fields(value):
            digest.update(f"field {field.name}\n".encode())
            _feed(digest, getattr(value, field.name))
    elif isinstance(value, Mapping):
        digest.update(f"mapping {len(value)}\n".encode())
        for key in sorted(value, key=str):
            _feed(digest, str(key))
            _feed(digest, value[key])
    elif isinstance(value, list | tuple):
        if all(isinstance(item, str) for item in value):
            text = json.dumps(list(value), ensure_ascii=False)
            digest.update(f"texts {len(value)} {len(text)}\n".encode())
            digest.update(text.encode("utf-8", "surrogatepass"))
        else:
            digest.update(f"sequence {len(value)}\n".encode())
            for item in value:
                _feed(digest, item)
    elif isinstance(value, str):
        encoded = value.encode("utf-8", "surrogatepass")
        digest.update(f"str {len(encoded)}\n".encode())
        digest.update(encoded)
    elif hasattr(value, "__len__") and hasattr(value, "__getitem__"):  # other sequences
        _feed(digest, list(value))
    else:
        digest.update(f"{type(value).__name__} {value!r}\n".encode())


def code_versions(
    combination: Combination, host: PluginHost, fairness_metrics: list[str] | None
) -> dict[str, str]:
    """mtrec's version and the version of each plugin providing an item of ``combination``."""
    registries = host.registries
    head_set = registries.head_sets.get(combination.head_set.name)
    training = combination.training
    roles: list[tuple[str, str, str]] = [
        ("backbone", "backbones", combination.backbone.name),
        ("head_set", "head_sets", combination.head_set.name),
        ("domain", "domains", combination.domain.name),
        ("architecture", "architectures", training.architecture or head_set.architecture),
        ("loss_weighting", "loss_weightings", training.loss_weighting),
    ]
    transfer = combination.domain.transfer
    for index, source in enumerate(transfer.sources if transfer else []):
        roles.append((f"source[{index}].domain", "domains", source.name))
        roles.append((f"source[{index}].head_set", "head_sets", source.head_set))
    selected = (
        fairness_metrics if fairness_metrics is not None else registries.fairness_metrics.names()
    )
    roles.extend((f"fairness:{name}", "fairness_metrics", name) for name in selected)
    versions = {"mtrec": version.__version__}
    for role, kind, name in roles:
        versions[role] = _provider_version(host, kind, name)
    return versions


def _provider_version(host: PluginHost, kind: str, name: str) -> str:
    provider = host.provider_of(kind, name)
    if provider.distribution:
        return f"{provider.plugin}: {provider.distribution} {provider.version}"
    plugin = host.pm.get_plugin(provider.plugin)
    source = getattr(plugin, "__file__", None) if isinstance(plugin, ModuleType) else None
    if source is None:
        return f"{provider.plugin}: unpackaged"
    try:
        content = Path(source).read_bytes()
    except OSError:
        return f"{provider.plugin}: unpackaged ({Path(source).name} unreadable)"
    digest = hashlib.sha256(content).hexdigest()[:12]
    return f"{provider.plugin}: {Path(source).name} sha256:{digest}"


def combination_fingerprint(
    combination: Combination,
    host: PluginHost,
    cache: Any,
    fairness_metrics: list[str] | None,
) -> dict[str, Any]:
    """``{"code": ..., "data": ..., "versions": {...}}`` of one combination.

    Loads the domain (and transfer sources) through ``cache`` (a
    :class:`mtrec.run.sweep_cache.SweepCache`): after the combination ran, a cache hit.
    Raises whatever loading the domain raises.
    """
    versions = code_versions(combination, host, fairness_metrics)
    domains = [(combination.domain.name, combination.domain.options)]
    transfer = combination.domain.transfer
    domains += [(source.name, source.options) for source in (transfer.sources if transfer else [])]
    data = [
        domain_fingerprint(load_domain(name, options, combination, host, cache))
        for name, options in domains
    ]
    return {"code": _digest(versions), "data": _digest(data), "versions": versions}


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:DIGEST_LENGTH]


def fingerprint_difference(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> str:
    """Why ``previous`` does not match ``current`` ("" when it does)."""
    if not isinstance(previous, Mapping) or "code" not in previous or "data" not in previous:
        return "the earlier record has no fingerprint (made before mtrec recorded them)"
    reasons: list[str] = []
    if previous["code"] != current["code"]:
        given = previous.get("versions")
        old: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        changed = [
            f"{role} {old.get(role, 'absent')} -> {version}"
            for role, version in current["versions"].items()
            if old.get(role) != version
        ]
        changed += [
            f"{role} {old[role]} -> absent" for role in old if role not in current["versions"]
        ]
        reasons.append("code changed (" + "; ".join(changed or ["versions differ"]) + ")")
    if previous["data"] != current["data"]:
        reasons.append(
            f"domain data changed (data fingerprint {previous['data']} -> {current['data']})"
        )
    return ", ".join(reasons)
