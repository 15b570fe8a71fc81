"""mtrec: a plugin-based benchmarking harness for transformer-backbone multi-task recommenders.

The public surface for plugin authors is re-exported here::

    import mtrec as mtrec

    @mtrec.hookimpl
    def mtrec_register_domains():
        return [mtrec.DomainSpec(name="my-domain", ...)]
"""

from __future__ import annotations

from mtrec.hookspecs import hookimpl, hookspec
from mtrec.specs import (
    BackboneSpec,
    DomainData,
    DomainSpec,
    DomainSplit,
    FairnessContext,
    FairnessMetricSpec,
    Family,
    HeadSetSpec,
    HeadSpec,
    LabelField,
    LoadedBackbone,
    Pooling,
    TaskPredictions,
    TaskType,
)

__version__ = "0.1.0"

__all__ = [
    "BackboneSpec",
    "DomainData",
    "DomainSpec",
    "DomainSplit",
    "FairnessContext",
    "FairnessMetricSpec",
    "Family",
    "HeadSetSpec",
    "HeadSpec",
    "LabelField",
    "LoadedBackbone",
    "Pooling",
    "TaskPredictions",
    "TaskType",
    "__version__",
    "hookimpl",
    "hookspec",
]
