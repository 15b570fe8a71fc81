"""Finding, loading and blocking plugins; the typed facade the core calls them through."""

from __future__ import annotations

import dataclasses
import difflib
import enum
import importlib.metadata
import logging
import os
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, get_origin, get_type_hints

import pluggy

from mtrec import hookspecs
from mtrec.contracts import ExecutorSpec, LoadedPlugin, TrackerSpec
from mtrec.errors import PluginError, UnknownNameError
from mtrec.registry import Provider, Registry
from mtrec.specs import (
    ArchitectureSpec,
    BackboneSpec,
    DomainSpec,
    ExplainerSpec,
    FairnessMetricSpec,
    HeadSetSpec,
    UpdateStrategySpec,
    WeightingSpec,
)

ENTRY_POINT_GROUP = "mtrec"
BLOCK_ENV = "MTREC_BLOCK_PLUGINS"

log = logging.getLogger(__name__)


@dataclass
class Registries:
    """One registry per plugin kind, built once per process (or per test)."""

    backbones: Registry[BackboneSpec] = field(default_factory=lambda: Registry("backbone"))
    head_sets: Registry[HeadSetSpec] = field(default_factory=lambda: Registry("head set"))
    domains: Registry[DomainSpec] = field(default_factory=lambda: Registry("domain"))
    fairness_metrics: Registry[FairnessMetricSpec] = field(
        default_factory=lambda: Registry("fairness metric")
    )
    architectures: Registry[ArchitectureSpec] = field(
        default_factory=lambda: Registry("architecture")
    )
    loss_weightings: Registry[WeightingSpec] = field(
        default_factory=lambda: Registry("loss weighting")
    )
    trackers: Registry[TrackerSpec] = field(default_factory=lambda: Registry("tracker"))
    executors: Registry[ExecutorSpec] = field(default_factory=lambda: Registry("executor"))
    explainers: Registry[ExplainerSpec] = field(default_factory=lambda: Registry("explainer"))
    update_strategies: Registry[UpdateStrategySpec] = field(
        default_factory=lambda: Registry("update strategy")
    )


def blocked_from_env() -> list[str]:
    """Plugin names blocked through ``MTREC_BLOCK_PLUGINS`` (comma separated)."""
    raw = os.environ.get(BLOCK_ENV, "")
    return [name.strip() for name in raw.split(",") if name.strip()]


class PluginHost:
    """Loads plugins from entry points and exposes typed registries and lifecycle calls.

    The core never calls ``pm.hook.*`` directly; it goes through this object.
    """

    def __init__(
        self,
        *,
        blocked: Iterable[str] = (),
        extra_plugins: Sequence[tuple[str, object]] = (),
        load_entry_points: bool = True,
    ) -> None:
        blocked = list(blocked)
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.blocked = sorted(set(blocked) | set(blocked_from_env()))
        for name in self.blocked:
            self.pm.set_blocked(name)
        self.loaded: list[LoadedPlugin] = []
        self._providers: dict[str, Provider] = {}
        declared = self._declared_entry_points() if load_entry_points else {}
        _check_blocked(blocked, [*declared, *(name for name, _ in extra_plugins)])
        self._load_entry_points(declared)
        for name, plugin in extra_plugins:
            self._register(plugin, Provider(plugin=name, distribution="", version=""), name)
        self.registries = self._build_registries()

    # -- loading -------------------------------------------------------------------------

    def _declared_entry_points(self) -> dict[str, tuple[importlib.metadata.EntryPoint, Provider]]:
        """Every plugin declared under the entry-point group, by name; nothing imported yet."""
        # Collect first, so a name clash is reported before any plugin is imported. The same
        # distribution can be visible twice (an editable install beside its source checkout);
        # one plugin name from two distributions is a real clash.
        found: dict[str, tuple[importlib.metadata.EntryPoint, Provider]] = {}
        for dist in importlib.metadata.distributions():
            dist_name = dist.metadata["Name"] or ""
            for ep in dist.entry_points:
                if ep.group != ENTRY_POINT_GROUP:
                    continue
                provider = Provider(plugin=ep.name, distribution=dist_name, version=dist.version)
                if ep.name in found:
                    first = found[ep.name][1].distribution
                    if first == dist_name:
                        continue
                    raise PluginError(
                        f"plugin name '{ep.name}' is declared by two distributions: "
                        f"{first} and {dist_name}; uninstall one of them"
                    )
                found[ep.name] = (ep, provider)
        return found

    def _load_entry_points(
        self, found: Mapping[str, tuple[importlib.metadata.EntryPoint, Provider]]
    ) -> None:
        for name, (ep, provider) in found.items():
            if self.pm.is_blocked(name):
                log.info("plugin %s blocked", name)
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
                raise PluginError(
                    f"{provider.describe()} failed to import {ep.value!r}: {detail}"
                ) from exc
            self._register(plugin, provider, ep.value)

    def _register(self, plugin: object, provider: Provider, module: str) -> None:
        try:
            registered = self.pm.register(plugin, name=provider.plugin)
        except ValueError as exc:
            raise PluginError(f"{provider.describe()} could not be registered: {exc}") from exc
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"{provider.describe()} has an invalid hook: {exc}") from exc
        if registered is None:  # blocked by name
            return
        try:
            # A misspelt hook name (mtrec_register_domain) must not pass silently.
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(name=provider.plugin)
            raise PluginError(
                f"{provider.describe()} implements an unknown hook: {exc}; see "
                "harness/hookspecs.py for the hook names"
            ) from exc
        self._providers[provider.plugin] = provider
        self.loaded.append(
            LoadedPlugin(
                name=provider.plugin,
                distribution=provider.distribution,
                version=provider.version,
                module=module,
            )
        )
        log.info("registered plugin %s", provider.describe())

    def _build_registries(self) -> Registries:
        registries = Registries()
        kinds: list[tuple[str, Registry[Any], type]] = [
            ("mtrec_register_backbones", registries.backbones, BackboneSpec),
            ("mtrec_register_head_sets", registries.head_sets, HeadSetSpec),
            ("mtrec_register_domains", registries.domains, DomainSpec),
            ("mtrec_register_fairness_metrics", registries.fairness_metrics, FairnessMetricSpec),
            ("mtrec_register_architectures", registries.architectures, ArchitectureSpec),
            ("mtrec_register_loss_weightings", registries.loss_weightings, WeightingSpec),
            ("mtrec_register_trackers", registries.trackers, TrackerSpec),
            ("mtrec_register_executors", registries.executors, ExecutorSpec),
            ("mtrec_register_explainers", registries.explainers, ExplainerSpec),
            (
                "mtrec_register_update_strategies",
                registries.update_strategies,
                UpdateStrategySpec,
            ),
        ]
        for hook_name, registry, spec_type in kinds:
            caller = getattr(self.pm.hook, hook_name)
            # One implementation at a time, so each item is attributed to its plugin.
            for impl in _in_call_order(caller.get_hookimpls()):
                provider = self._providers[impl.plugin_name]
                try:
                    returned = impl.function()
                    if isinstance(returned, spec_type) or not isinstance(returned, Iterable):
                        raise PluginError(
                            f"{provider.describe()} returned {type(returned).__name__} from "
                            f"{hook_name}; expected a list of {spec_type.__name__}"
                        )
                    items = list(returned)  # a generator may raise too
                except PluginError:
                    raise
                except (Exception, SystemExit) as exc:
                    detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
                    raise PluginError(
                        f"{provider.describe()} raised in {hook_name}: {detail}"
                    ) from exc
                for item in items:
                    problem = (
                        (type(item).__name__, spec_type.__name__)
                        if not isinstance(item, spec_type)
                        else _field_problem(item)
                    )
                    if problem:
                        raise PluginError(
                            f"{provider.describe()} returned {problem[0]} from {hook_name}; "
                            f"expected {problem[1]}"
                        )
                    registry.add(item, provider)
        return registries

    # -- lookups -------------------------------------------------------------------------

    def provider_of(self, kind: str, name: str) -> Provider:
        registry: Registry[Any] = getattr(self.registries, kind)
        return registry.entry(name).provider

    # -- lifecycle -----------------------------------------------------------------------

    def before_combination(self, key: str, config: Mapping[str, Any]) -> None:
        for impl in _in_call_order(self.pm.hook.mtrec_before_combination.get_hookimpls()):
            try:
                impl.function(**_arguments(impl, key=key, config=config))
            except Exception as exc:
                provider = self._providers[impl.plugin_name]
                raise PluginError(
                    f"{provider.describe()} raised in mtrec_before_combination: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc

    def after_combination(self, key: str, record: Mapping[str, Any]) -> None:
        self._notify("mtrec_after_combination", key=key, record=record)

    def on_combination_error(
        self, key: str, config: Mapping[str, Any], error: BaseException
    ) -> None:
        self._notify("mtrec_on_combination_error", key=key, config=config, error=error)

    def _notify(self, hook_name: str, **kwargs: Any) -> None:
        for impl in _in_call_order(getattr(self.pm.hook, hook_name).get_hookimpls()):
            try:
                impl.function(**_arguments(impl, **kwargs))
            except Exception as exc:
                provider = self._providers[impl.plugin_name]
                warnings.warn(
                    f"{provider.describe()} raised in {hook_name}: {type(exc).__name__}: {exc}",
                    stacklevel=2,
                )


def _check_blocked(flagged: Iterable[str], declared: Sequence[str]) -> None:
    """A blocked name no plugin declares blocks nothing: a typo, most likely, that leaves the
    plugin meant to be blocked loaded. An input error for ``--block-plugin``; a warning for
    ``MTREC_BLOCK_PLUGINS``, which may be set for machines where the plugin is absent."""
    known = sorted(set(declared))
    listing = ", ".join(known) or "none"
    for name in sorted(set(flagged)):
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise UnknownNameError(
                f"--block-plugin {name}: no installed plugin has that name{hint} plugins: {listing}"
            )
    for name in blocked_from_env():
        if name not in known and name not in flagged:
            log.warning("%s names '%s', which no installed plugin declares", BLOCK_ENV, name)


def _field_problem(item: object) -> tuple[str, str] | None:
    """A spec field whose value cannot work (an enum field given a string, a loader that is
    not callable) as (what was returned, what was expected); None when the spec looks sound.
    Caught at registration, not mid-sweep."""
    hints = get_type_hints(type(item))
    for spec_field in dataclasses.fields(item):  # type: ignore[arg-type]
        hint, value = hints.get(spec_field.name), getattr(item, spec_field.name)
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            wrong = not isinstance(value, hint)
        elif get_origin(hint) is Callable:
            wrong = not callable(value)
        else:
            continue
        if wrong:
            expected = hint.__name__ if isinstance(hint, type) else "a callable"
            name = getattr(item, "name", "?")
            returned = f"{type(item).__name__} '{name}' whose {spec_field.name} is {value!r}"
            return returned, f"{expected} for {spec_field.name}"
    return None


def _arguments(impl: pluggy.HookImpl, **kwargs: Any) -> dict[str, Any]:
    """The subset of a hook's arguments an implementation asked for (pluggy semantics)."""
    return {name: kwargs[name] for name in impl.argnames}


def _in_call_order(impls: list[pluggy.HookImpl]) -> list[pluggy.HookImpl]:
    """tryfirst implementations, then the rest, then trylast; registration order within each.

    Hook implementations are called one by one (so errors and items can be attributed to
    their plugin), so the order is decided here rather than by pluggy's LIFO caller.
    """
    if any(impl.hookwrapper or impl.wrapper for impl in impls):
        wrapping = next(impl for impl in impls if impl.hookwrapper or impl.wrapper)
        raise PluginError(
            f"plugin '{wrapping.plugin_name}': hook wrappers are not supported by mtrec hooks"
        )
    # pluggy keeps trylast first and tryfirst last, each group in registration order.
    return sorted(impls, key=lambda impl: 0 if impl.tryfirst else 2 if impl.trylast else 1)
