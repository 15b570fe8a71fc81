"""Bad plugin at run time: a domain whose loader returns
a category index past the declared classes.
"""

from dataclasses import replace

from mtrec import DomainData, DomainSpec, hookimpl
from mtrec.plugins.synthetic_ecommerce import load_synthetic_ecommerce


def load(*, seed: int = 0) -> DomainData:
    data = load_synthetic_ecommerce(seed=seed, n_users=20, n_items=20, n_interactions=150)
    labels = dict(data.train.labels)
    labels["category"] = labels["category"].copy()
    labels["category"][2] = 9
    return replace(data, train=replace(data.train, labels=labels))


@hookimpl
def mtrec_register_domains() -> list[DomainSpec]:
    return [
        DomainSpec(
            name="overflowing",
            load=load,
            label_fields=("category", "rating", "click"),
            sensitive_attributes=("age_group",),
        )
    ]
