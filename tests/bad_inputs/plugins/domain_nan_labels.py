"""Bad plugin at run time: a domain whose loader returns
a NaN rating in the validation split.
"""

from dataclasses import replace

import numpy as np

from mtrec import DomainData, DomainSpec, hookimpl
from mtrec.plugins.synthetic_ecommerce import load_synthetic_ecommerce


def load(*, seed: int = 0) -> DomainData:
    data = load_synthetic_ecommerce(seed=seed, n_users=20, n_items=20, n_interactions=150)
    labels = dict(data.validation.labels)
    labels["rating"] = labels["rating"].copy()
    labels["rating"][4] = np.nan
    return replace(data, validation=replace(data.validation, labels=labels))


@hookimpl
def mtrec_register_domains() -> list[DomainSpec]:
    return [
        DomainSpec(
            name="unrated",
            load=load,
            label_fields=("category", "rating", "click"),
            sensitive_attributes=("age_group",),
        )
    ]
