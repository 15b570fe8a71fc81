"""Bad plugin at run time: registers fine, but its backbone's loader raises."""

from mtrec import BackboneSpec, Family, LoadedBackbone, Pooling, hookimpl


def load() -> LoadedBackbone:
    raise OSError("weights file vanished on purpose")


@hookimpl
def mtrec_register_backbones() -> list[BackboneSpec]:
    return [BackboneSpec(name="vanishing", family=Family.ENCODER, pooling=Pooling.CLS, load=load)]
