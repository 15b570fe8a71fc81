"""Bad plugin: a domain whose loader is a string."""

from typing import Any

from mtrec import DomainSpec, hookimpl


@hookimpl
def mtrec_register_domains() -> list[DomainSpec]:
    load: Any = "load_my_domain"
    return [
        DomainSpec(name="uncallable", load=load, label_fields=("click",), sensitive_attributes=())
    ]
