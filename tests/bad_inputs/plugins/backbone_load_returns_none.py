"""Bad plugin at run time: its backbone's loader returns nothing."""

from typing import Any

from mtrec import BackboneSpec, Family, Pooling, hookimpl


def load() -> Any:
    return None


@hookimpl
def mtrec_register_backbones() -> list[BackboneSpec]:
    return [BackboneSpec(name="hollow", family=Family.ENCODER, pooling=Pooling.CLS, load=load)]
