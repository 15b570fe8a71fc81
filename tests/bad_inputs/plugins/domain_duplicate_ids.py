"""Bad plugin at run time: a domain whose loader returns
the same interaction id twice in the train split.
"""

from dataclasses import replace

from mtrec import DomainData, DomainSpec, hookimpl
from mtrec.plugins.synthetic_ecommerce import load_synthetic_ecommerce


def load(*, seed: int = 0) -> DomainData:
    data = load_synthetic_ecommerce(seed=seed, n_users=20, n_items=20, n_interactions=150)
    ids = data.train.ids.copy()
    ids[1] = ids[0]
    return replace(data, train=replace(data.train, ids=ids))


@hookimpl
def mtrec_register_domains() -> list[DomainSpec]:
    return [
        DomainSpec(
            name="repeated",
            load=load,
            label_fields=("category", "rating", "click"),
            sensitive_attributes=("age_group",),
        )
    ]
