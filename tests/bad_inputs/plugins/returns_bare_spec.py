"""Bad plugin: returns one spec, not a list of specs."""

from mtrec import BackboneSpec, Family, LoadedBackbone, Pooling, hookimpl


def load() -> LoadedBackbone:
    raise AssertionError("never loaded")


@hookimpl
def mtrec_register_backbones() -> BackboneSpec:
    return BackboneSpec(name="bare", family=Family.ENCODER, pooling=Pooling.CLS, load=load)
