"""Bad plugin: a generator hook that fails half way through."""

from collections.abc import Iterator

from mtrec import BackboneSpec, Family, LoadedBackbone, Pooling, hookimpl


def load() -> LoadedBackbone:
    raise AssertionError("never loaded")


@hookimpl
def mtrec_register_backbones() -> Iterator[BackboneSpec]:
    yield BackboneSpec(name="first-half", family=Family.ENCODER, pooling=Pooling.CLS, load=load)
    raise ValueError("second half missing on purpose")
