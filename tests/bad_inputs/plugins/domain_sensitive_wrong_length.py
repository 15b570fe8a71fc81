"""Bad plugin at run time: a domain whose loader returns
a sensitive attribute array shorter than ids.
"""

from dataclasses import replace

from mtrec import DomainData, DomainSpec, hookimpl
from mtrec.plugins.synthetic_ecommerce import load_synthetic_ecommerce


def load(*, seed: int = 0) -> DomainData:
    data = load_synthetic_ecommerce(seed=seed, n_users=20, n_items=20, n_interactions=150)
    sensitive = {name: groups[:-3] for name, groups in data.test.sensitive.items()}
    return replace(data, test=replace(data.test, sensitive=sensitive))


@hookimpl
def mtrec_register_domains() -> list[DomainSpec]:
    return [
        DomainSpec(
            name="ungrouped",
            load=load,
            label_fields=("category", "rating", "click"),
            sensitive_attributes=("age_group",),
        )
    ]
