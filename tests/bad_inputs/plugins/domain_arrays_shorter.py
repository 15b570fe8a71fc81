"""Bad plugin at run time: a domain whose loader returns
item ids and texts of the test split one row shorter than ids.
"""

from dataclasses import replace

from mtrec import DomainData, DomainSpec, hookimpl
from mtrec.plugins.synthetic_ecommerce import load_synthetic_ecommerce


def load(*, seed: int = 0) -> DomainData:
    data = load_synthetic_ecommerce(seed=seed, n_users=20, n_items=20, n_interactions=150)
    test = data.test
    return replace(
        data,
        test=replace(test, item_ids=test.item_ids[:-1], item_text=list(test.item_text)[:-1]),
    )


@hookimpl
def mtrec_register_domains() -> list[DomainSpec]:
    return [
        DomainSpec(
            name="shortened",
            load=load,
            label_fields=("category", "rating", "click"),
            sensitive_attributes=("age_group",),
        )
    ]
