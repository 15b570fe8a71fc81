"""The harness against the patterns it replaces, measured in the same run.

* naive: the reference recipe's data path, tokenizing each example in ``__getitem__`` with
  padding to max_length 512, through a DataLoader. Target: harness >= 5x faster per epoch.
* frozen backbone + feature cache vs full fine-tune, per epoch. Target: >= 20x.
* the latency measurement vs an independent timing of the same forward. Target: within 5%.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from mtrec.config import MeasureConfig, TrainingConfig
from mtrec.measure.efficiency import measure_latency
from mtrec.model.batching import encode_split
from mtrec.model.multitask import MultiTaskModel, TextPairEncoder, task_loss
from mtrec.model.strategies import FeatureCache, prepare
from mtrec.model.training import build_optimizer, train
from mtrec.plugin_host import PluginHost
from mtrec.specs import DomainSplit, Pooling

HOST = PluginHost()
DOMAIN = HOST.registries.domains.get("synthetic-ecommerce")
HEAD_SET = HOST.registries.head_sets.get("ecommerce-seed")
FIELDS = ("category", "click", "rating")


def _model(backbone_name: str) -> tuple[MultiTaskModel, object, object]:
    data = DOMAIN.load(seed=0, n_interactions=400)
    loaded = HOST.registries.backbones.get(backbone_name).load()
    model = MultiTaskModel(
        TextPairEncoder(loaded.model, loaded.pooling),
        out_features=loaded.hidden_size,
        head_set=HEAD_SET,
        label_fields=data.label_fields,
        dropout=0.1,
    )
    model.set_target_scaling(data.train.labels)
    return model, loaded, data


class NaiveDataset(Dataset):  # type: ignore[type-arg]
    """The reference recipe: tokenize per item, pad every example to 512."""

    def __init__(self, split: DomainSplit, tokenizer: object) -> None:
        self.split = split
        self.tokenizer = tokenizer

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        encoded = self.tokenizer(  # type: ignore[operator]
            self.split.user_text[index],
            self.split.item_text[index],
            padding="max_length",
            truncation=True,
            max_length=512,
            return_tensors="pt",
        )
        item = {key: value.squeeze(0) for key, value in encoded.items()}
        for name in FIELDS:
            item[name] = torch.as_tensor(self.split.labels[name][index])
        return item


def test_harness_vs_naive_tokenize_in_getitem(benchmark, record_ratio) -> None:
    model, loaded, data = _model("tiny-bert")
    config = TrainingConfig(epochs=1, batch_size=16, lr=1e-3, patience=0, max_length=512)
    heads = {head.spec.task: head for head in model.task_heads()}

    def naive_epoch() -> None:
        model.train()
        optimizer = build_optimizer(model, config)
        loader = DataLoader(NaiveDataset(data.train, loaded.tokenizer), batch_size=16, shuffle=True)
        for batch in loader:
            inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
            outputs = model(**inputs)
            loss = sum(
                task_loss(h, outputs[t], batch[h.spec.label_field]) for t, h in heads.items()
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[union-attr]
            optimizer.step()

    def harness_epoch() -> None:
        # Tokenizing is part of the harness's cost here: once per split.
        encoded = encode_split(data.train, loaded.tokenizer, 512, segments=True)
        train(model, encoded, lambda: 0.0, config, device=torch.device("cpu"), seed=0)

    naive = _median_seconds(naive_epoch, rounds=2)
    harness = _median_seconds(harness_epoch, rounds=2)
    benchmark.pedantic(harness_epoch, rounds=1, iterations=1)
    ratio = naive / harness
    benchmark.extra_info["speedup_vs_naive"] = ratio
    record_ratio(
        "harness_speedup_vs_naive_getitem_512",
        ratio,
        {"naive_s": naive, "harness_s": harness, "target": ">= 5"},
    )


def test_frozen_cache_vs_full_fine_tune(benchmark, record_ratio) -> None:
    data = DOMAIN.load(seed=0, n_interactions=400)
    loaded = HOST.registries.backbones.get("minilm-l6").load()
    splits = {"train": data.train, "validation": data.validation, "test": data.test}
    cpu = torch.device("cpu")

    def build(encoder: torch.nn.Module, width: int) -> MultiTaskModel:
        return MultiTaskModel(
            encoder,
            out_features=width,
            head_set=HEAD_SET,
            label_fields=data.label_fields,
            dropout=0.1,
        )

    def prepared(strategy: str):
        return prepare(
            family=HOST.registries.backbones.get("minilm-l6").family,
            backbone_name="minilm-l6",
            loaded=loaded,
            pooling=Pooling.MEAN,
            splits=splits,
            build_model=build,
            strategy=strategy,
            top_k=1,
            lora_r=4,
            max_length=64,
            encoded_splits=lambda name, split: encode_split(
                split, loaded.tokenizer, 64, segments=True
            ),
            features=features,
            device=cpu,
            precision="fp32",
        )

    features = FeatureCache()
    frozen = prepared("frozen")  # encodes each unique text once, outside the epochs
    full = prepared("full")
    config = TrainingConfig(epochs=1, batch_size=16, lr=2e-5, head_lr=1e-3, patience=0)

    def epoch(setup) -> None:
        setup.model.set_target_scaling(data.train.labels)
        train(setup.model, setup.splits["train"], lambda: 0.0, config, device=cpu, seed=0)

    full_s = _median_seconds(lambda: epoch(full), rounds=1)
    frozen_s = _median_seconds(lambda: epoch(frozen), rounds=5)
    benchmark.pedantic(lambda: epoch(frozen), rounds=3, iterations=1)
    ratio = full_s / frozen_s
    benchmark.extra_info["frozen_speedup_per_epoch"] = ratio
    record_ratio(
        "frozen_cache_speedup_per_epoch_minilm",
        ratio,
        {
            "full_epoch_s": full_s,
            "frozen_epoch_s": frozen_s,
            "one_time_encoding_s": features.seconds,
            "unique_texts_encoded": features.encodings,
            "target": ">= 20",
        },
    )


def test_latency_measurement_vs_independent_timing(benchmark, record_ratio) -> None:
    model, loaded, data = _model("tiny-bert")
    encoded = encode_split(data.test, loaded.tokenizer, 64, segments=True)
    measure = MeasureConfig(latency_warmup=5, latency_min_repeats=200, latency_min_seconds=1.0)
    cpu = torch.device("cpu")
    batch = encoded.collate(np.arange(32) % len(encoded)).to(cpu)
    inputs = batch.model_inputs()
    model.eval()

    def independent() -> float:
        samples = []
        with torch.inference_mode():
            for _ in range(5):
                model(**inputs)
            for _ in range(200):
                started = time.perf_counter()
                model(**inputs)
                samples.append((time.perf_counter() - started) * 1000)
        return statistics.median(samples)

    ratios = []
    for _ in range(3):  # interleaved: drift hits both alike
        reference = independent()
        measured = measure_latency(model, encoded, 32, measure, cpu, "fp32")["p50"]
        ratios.append(measured / reference)
    benchmark.pedantic(
        lambda: measure_latency(model, encoded, 32, measure, cpu, "fp32"), rounds=1, iterations=1
    )
    ratio = float(np.median(ratios))
    benchmark.extra_info["latency_p50_vs_independent"] = ratio
    record_ratio(
        "latency_p50_vs_independent_timing",
        ratio,
        {"rounds": [float(r) for r in ratios], "target": "within 0.95..1.05"},
    )


def _median_seconds(function, rounds: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return float(statistics.median(times))
