"""The deterministic synthetic e-commerce domain, ``synthetic-ecommerce``.

Users x products with three labels: ``category`` (multiclass: the category the row files the
product under), ``rating`` (regression, 1-5 stars) and ``click`` (binary); the sensitive
attribute ``age_group`` with its planted disadvantaged group "55+"; the scene ``time_of_day``
and ``device`` (late-night mobile sessions favour cheap products, desktop mornings premium
ones); each user's history of earlier purchases and their star ratings. It is one theme of
the engine in :mod:`mtrec.plugins.synthetic_domains` (see there for what is planted and for
the options: seed, sizes, difficulty, context_effect, label_noise, group_disparity,
task_conflict, drift, split fractions); this module registers it and names it for importers.
"""

from __future__ import annotations

from mtrec import DomainSpec, hookimpl
from mtrec.plugins.synthetic_domains import (
    ECOMMERCE,
    ECOMMERCE_DISADVANTAGED,
    SyntheticOptions,
    domain_spec,
    evidence_words,
    load_synthetic_ecommerce,
)

DOMAIN_NAME = ECOMMERCE.name
CATEGORIES: tuple[str, ...] = ECOMMERCE.categories
AGE_GROUPS: tuple[str, ...] = ECOMMERCE.groups
DISADVANTAGED_GROUP = ECOMMERCE_DISADVANTAGED

__all__ = [
    "AGE_GROUPS",
    "CATEGORIES",
    "DISADVANTAGED_GROUP",
    "DOMAIN_NAME",
    "SyntheticOptions",
    "evidence_words",
    "load_synthetic_ecommerce",
]


@hookimpl
def mtrec_register_domains() -> list[DomainSpec]:
    """Register the ``synthetic-ecommerce`` domain; no data is generated until it is loaded."""
    return [domain_spec(ECOMMERCE, load_synthetic_ecommerce)]
