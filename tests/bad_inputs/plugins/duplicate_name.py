"""Bad plugin: registers a backbone under a built-in's name."""

from mtrec import BackboneSpec, Family, LoadedBackbone, Pooling, hookimpl


def load() -> LoadedBackbone:
    raise AssertionError("never loaded")


@hookimpl
def mtrec_register_backbones() -> list[BackboneSpec]:
    return [BackboneSpec(name="tiny-bert", family=Family.ENCODER, pooling=Pooling.CLS, load=load)]
