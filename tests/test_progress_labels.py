"""Progress lines name a backbone's variant, so the rows of one backbone are told apart."""

from __future__ import annotations

import io

from rich.console import Console

from mtrec.config import BackboneEntry, DomainEntry, HeadSetEntry, MeasureConfig, TrainingConfig
from mtrec.contracts import Combination, variant_label
from mtrec.run.progress import RichReporter


def combination(**training: object) -> Combination:
    return Combination(
        backbone=BackboneEntry(name="minilm-l6"),
        head_set=HeadSetEntry(name="ecommerce-seed"),
        domain=DomainEntry(name="synthetic-ecommerce"),
        seed=1,
        training=TrainingConfig.model_validate(training),
        measure=MeasureConfig(),
    )


def test_the_plain_recipe_keeps_the_plain_name() -> None:
    assert combination().label == "minilm-l6 x ecommerce-seed x synthetic-ecommerce (seed 1)"


def test_strategy_architecture_and_weighting_name_the_variant() -> None:
    lora = combination(strategy="lora")
    assert lora.label.startswith("minilm-l6 (lora) x ")
    mixed = combination(architecture="mmoe", loss_weighting="uncertainty")
    assert mixed.label.startswith("minilm-l6 (mmoe, uncertainty) x ")
    assert variant_label("m", {"strategy": "frozen", "loss_weighting": "equal"}) == "m (frozen)"


def test_a_finished_record_is_printed_with_its_variant() -> None:
    out = io.StringIO()
    reporter = RichReporter(Console(file=out, width=200, force_terminal=False))
    with reporter:
        reporter.sweep_started(1)
        reporter.combination_finished(
            {
                "status": "ok",
                "backbone": "minilm-l6",
                "head_set": "ecommerce-seed",
                "domain": "synthetic-ecommerce",
                "seed": 0,
                "duration_s": 1.25,
                "config": combination(strategy="lora").config(),
            }
        )
    assert "ok minilm-l6 (lora) x ecommerce-seed x synthetic-ecommerce (seed 0) in 1.2s" in (
        out.getvalue()
    )
