"""Bad plugin: a spec whose family is a string, not a Family."""

from typing import Any

from mtrec import BackboneSpec, LoadedBackbone, Pooling, hookimpl


def load() -> LoadedBackbone:
    raise AssertionError("never loaded")


@hookimpl
def mtrec_register_backbones() -> list[BackboneSpec]:
    family: Any = "encoder"
    return [BackboneSpec(name="stringly", family=family, pooling=Pooling.CLS, load=load)]
