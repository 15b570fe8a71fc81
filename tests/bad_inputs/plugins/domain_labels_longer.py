"""Bad plugin at run time: a domain whose loader returns
label arrays one row longer than ids (misaligned).
"""

from dataclasses import replace

import numpy as np

from mtrec import DomainData, DomainSpec, hookimpl
from mtrec.plugins.synthetic_ecommerce import load_synthetic_ecommerce


def load(*, seed: int = 0) -> DomainData:
    data = load_synthetic_ecommerce(seed=seed, n_users=20, n_items=20, n_interactions=150)
    labels = dict(data.train.labels)
    labels["rating"] = np.append(labels["rating"], 3.0)
    return replace(data, train=replace(data.train, labels=labels))


@hookimpl
def mtrec_register_domains() -> list[DomainSpec]:
    return [
        DomainSpec(
            name="misaligned",
            load=load,
            label_fields=("category", "rating", "click"),
            sensitive_attributes=("age_group",),
        )
    ]
