"""The GPU kit: what mtrec's models cost on one accelerator, in one command.

    python benchmarks/gpu/run_kit.py --out "$OUT"            # on a CUDA machine (< 10 min)
    python benchmarks/gpu/run_kit.py --device cpu --out DIR  # tiny sizes, the same code paths

Every figure is timed with CUDA synchronisation (on the CPU the work is synchronous):

1. ``bert_base_train``: a BERT-base-shaped encoder built from ``BertConfig`` (random init, no
   weights) trained in bf16 autocast at sequence length 128 with float32 master weights:
   samples/s, model-FLOPs utilisation (training FLOPs counted by torch's FLOP counter on one
   step, over the device's dense bf16 peak), CUDA peak memory, the losses (must be finite).
   Fused AdamW, SDPA attention, no host sync inside the step (losses stay on the device until
   the end), inputs in pinned memory copied without blocking; ``--compile`` adds
   ``torch.compile``.
2. ``bert_base_inference``: throughput at batch 64 and p50/p99 latency at batch 1 and 64.
3. ``data_path``: one training epoch of mtrec's multi-task model (BERT-base encoder, the
   ``ecommerce-seed`` heads) fed by mtrec's own data path (``encode_split``,
   ``iterate_batches``, ``Batch.to``) on ``synthetic-ecommerce``: the share of the epoch the
   GPU waited for the host (1 - the steps' GPU time / the epoch's wall time).
4. ``minilm_combination``: MiniLM-L6 (a float16 copy made by ``make_minilm_fp16.py``, trained
   with float32 master weights) on ``synthetic-ecommerce`` with the ``ecommerce-seed`` heads;
   test accuracy of the classification tasks against the trivial (majority) predictor. Skipped,
   with the reason in the JSON, when the copy is absent. With ``--device cpu`` a tiny BERT
   built from its config stands in (same code path, seconds).

The kit imports only torch, transformers, numpy and the parts of mtrec that need nothing else
(``mtrec.model.batching``, ``multitask``, ``hf``, ``inputs``, ``mtrec.specs`` and the
synthetic-domain and e-commerce head plugins), so it runs on a machine that has torch and
transformers but not pydantic, jsonschema or fairlearn. It asserts what must hold, prints one
JSON summary and writes it to ``OUT/gpu_kit.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is fetched: the device has no network
if str(ROOT) not in sys.path:  # the working tree's ``mtrec`` (a link to harness/), uninstalled
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from mtrec.model.batching import encode_split, iterate_batches  # noqa: E402
from mtrec.model.inputs import InputOptions, render_split  # noqa: E402
from mtrec.model.multitask import MultiTaskModel, TextPairEncoder, task_loss  # noqa: E402
from mtrec.specs import DomainData, Pooling, TaskType  # noqa: E402

# Dense (no sparsity) bf16 tensor-core peaks, FLOP/s, matched against the device name. The
# H200 (SXM) has the H100 SXM's compute: 989.4 TFLOP/s dense bf16.
PEAK_BF16_FLOPS = {"H200": 989.4e12, "H100": 989.4e12, "A100": 312e12, "L4": 121e12}
FORBIDDEN = ("pydantic", "jsonschema", "fairlearn")  # what the device machine lacks
DEFAULT_MINILM = Path(__file__).resolve().parent / "minilm-fp16"


@dataclass(frozen=True)
class Sizes:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    seq_len: int
    batch: int
    warmup_steps: int
    train_steps: int
    latency_warmup: int
    latency_repeats: int
    rows: int  # synthetic-ecommerce interactions for the data path and the combination
    combination_epochs: int
    combination_batch: int
    combination_max_length: int


GPU = Sizes(768, 12, 12, 3072, 128, 64, 20, 200, 10, 200, 20000, 3, 64, 128)
CPU = Sizes(64, 2, 2, 128, 32, 16, 2, 6, 2, 10, 1500, 4, 32, 48)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (tiny sizes)")
    parser.add_argument("--out", type=Path, default=None, help="folder for gpu_kit.json")
    parser.add_argument("--minilm", type=Path, default=DEFAULT_MINILM, help="float16 MiniLM")
    parser.add_argument("--compile", action="store_true", help="torch.compile the encoder")
    parser.add_argument(
        "--combination",
        choices=("auto", "minilm", "tiny"),
        default="auto",
        help="backbone of part 4: auto (MiniLM on CUDA, a tiny BERT on the CPU), minilm, tiny",
    )
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("run_kit: CUDA is not available here; use --device cpu", file=sys.stderr)
        return 2
    out = args.out or Path(os.environ.get("OUT") or tempfile.mkdtemp(prefix="gpu-kit-"))
    sizes = GPU if device.type == "cuda" else CPU
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    started = time.perf_counter()
    summary: dict[str, Any] = {"environment": environment(device), "sizes": sizes.__dict__}
    summary["bert_base_train"] = bert_train(device, sizes, compile_model=args.compile)
    summary["bert_base_inference"] = bert_inference(device, sizes)
    data = load_domain(sizes.rows)
    tokenizer = word_tokenizer(data)
    summary["data_path"] = data_path_epoch(device, sizes, data, tokenizer)
    use_minilm = args.combination == "minilm" or (
        args.combination == "auto" and device.type == "cuda"
    )
    summary["minilm_combination"] = combination(
        device, sizes, data, tokenizer, args.minilm if use_minilm else None
    )
    summary["forbidden_imports"] = sorted(name for name in FORBIDDEN if name in sys.modules)
    summary["wall_s"] = round(time.perf_counter() - started, 1)
    problems = check(summary, device)
    summary["ok"] = not problems
    summary["problems"] = problems
    text = json.dumps(summary, indent=2)
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_kit.json").write_text(text + "\n", encoding="utf-8")
    return 0 if not problems else 1


def check(summary: dict[str, Any], device: torch.device) -> list[str]:
    """What must hold; each failure is one line."""
    problems = []
    train = summary["bert_base_train"]
    if not all(math.isfinite(x) for x in train["losses"]):
        problems.append("bert_base_train: a non-finite loss")
    if device.type == "cuda" and train["mfu"] is None:
        problems.append("bert_base_train: no MFU (unknown device peak)")
    if not 0.0 <= summary["data_path"]["gpu_idle_share"] <= 1.0:
        problems.append("data_path: idle share outside [0, 1]")
    if not all(math.isfinite(x) for x in summary["data_path"]["losses"]):
        problems.append("data_path: a non-finite loss")
    combo = summary["minilm_combination"]
    if combo.get("skipped") is None:
        if not all(math.isfinite(x) for x in combo["epoch_losses"]):
            problems.append("minilm_combination: a non-finite loss")
        category = combo["test"]["category"]
        if not category["accuracy"] > category["trivial_accuracy"]:
            problems.append(f"minilm_combination: category accuracy not above trivial {category}")
    if summary["forbidden_imports"]:
        problems.append(f"imported what the device lacks: {summary['forbidden_imports']}")
    return problems


def environment(device: torch.device) -> dict[str, Any]:
    import transformers

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    return {
        "device": str(device),
        "device_name": name or platform.machine(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "cuda": torch.version.cuda,
    }


# --------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device) -> AbstractContextManager[object]:
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((value for key, value in PEAK_BF16_FLOPS.items() if key in name), None)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_mb(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)


# --------------------------------------------------------------------------------------
# 1, 2: BERT-base from its config
# --------------------------------------------------------------------------------------


def bert_encoder(sizes: Sizes, *, vocab_size: int = 30522, attention: str = "sdpa") -> Any:
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=sizes.hidden,
        num_hidden_layers=sizes.layers,
        num_attention_heads=sizes.heads,
        intermediate_size=sizes.intermediate,
        max_position_embeddings=512,
        attn_implementation=attention,
    )
    torch.manual_seed(0)
    return BertModel(config, add_pooling_layer=False)


class Classifier(torch.nn.Module):
    """Encoder, [CLS] vector, one linear layer: the plainest fine-tuning shape."""

    def __init__(self, encoder: torch.nn.Module, hidden: int, classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = torch.nn.Linear(hidden, classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        logits: torch.Tensor = self.head(hidden.last_hidden_state[:, 0])
        return logits


def optimizer_for(model: torch.nn.Module, device: torch.device) -> torch.optim.Optimizer:
    fused = device.type == "cuda"
    return torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused)


def random_inputs(
    sizes: Sizes, batches: int, *, vocab_size: int = 30522, classes: int = 8
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Host-side batches in pinned memory (when a GPU is present): what a loader hands over."""
    generator = torch.Generator().manual_seed(0)
    pin = torch.cuda.is_available()
    made = []
    for _ in range(batches):
        ids = torch.randint(1, vocab_size, (sizes.batch, sizes.seq_len), generator=generator)
        mask = torch.ones_like(ids)
        labels = torch.randint(0, classes, (sizes.batch,), generator=generator)
        made.append(tuple(t.pin_memory() if pin else t for t in (ids, mask, labels)))
    return made  # type: ignore[return-value]


def training_flops(model: Classifier, ids: torch.Tensor, mask: torch.Tensor) -> float:
    """FLOPs of one forward and backward pass, counted by torch with eager attention (the
    counter's view of fused attention kernels varies by version)."""
    from torch.utils.flop_counter import FlopCounterMode

    model.encoder.set_attn_implementation("eager")
    counter = FlopCounterMode(display=False)
    try:
        with counter, autocast(ids.device):
            model(ids, mask).float().sum().backward()
    finally:
        model.encoder.set_attn_implementation("sdpa")
        model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def analytic_training_flops(sizes: Sizes) -> float:
    """Forward + backward FLOPs per sample of the encoder: 6 x (matmul weights) x tokens plus
    attention's scores and mixing, 12 x layers x seq^2 x hidden."""
    h, s, layers = sizes.hidden, sizes.seq_len, sizes.layers
    weights = layers * (4 * h * h + 2 * h * sizes.intermediate)
    return float(6 * weights * s + 12 * layers * s * s * h)


def bert_train(device: torch.device, sizes: Sizes, *, compile_model: bool) -> dict[str, Any]:
    model = Classifier(bert_encoder(sizes), sizes.hidden, 8).to(device)  # float32 master
    model.train()
    host_batches = random_inputs(sizes, 4)
    ids, mask, _ = (t.to(device) for t in host_batches[0])
    try:
        flops, flops_source = training_flops(model, ids, mask), "counted"
    except Exception as exc:  # a transformers without set_attn_implementation, say
        print(f"run_kit: FLOP counter failed ({exc}); using the analytic count", file=sys.stderr)
        flops, flops_source = sizes.batch * analytic_training_flops(sizes), "analytic"
    step_model: Callable[..., torch.Tensor] = torch.compile(model) if compile_model else model
    optimizer = optimizer_for(model, device)
    losses: list[torch.Tensor] = []

    def step(index: int) -> None:
        ids, mask, labels = (
            t.to(device, non_blocking=True) for t in host_batches[index % len(host_batches)]
        )
        with autocast(device):
            loss = F.cross_entropy(step_model(ids, mask).float(), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.detach())  # stays on the device: no sync in the step

    for index in range(sizes.warmup_steps):
        step(index)
    synchronize(device)
    reset_peak(device)
    started = time.perf_counter()
    for index in range(sizes.train_steps):
        step(index)
    synchronize(device)
    seconds = time.perf_counter() - started
    samples_per_s = sizes.train_steps * sizes.batch / seconds
    peak = peak_flops(device)
    achieved = flops / sizes.batch * samples_per_s
    return {
        "precision": "bf16 autocast, fp32 master weights",
        "seq_len": sizes.seq_len,
        "batch": sizes.batch,
        "steps": sizes.train_steps,
        "compiled": compile_model,
        "params": sum(p.numel() for p in model.parameters()),
        "samples_per_s": round(samples_per_s, 1),
        "train_flops_per_sample": flops / sizes.batch,
        "flops_source": flops_source,
        "analytic_flops_per_sample": analytic_training_flops(sizes),
        "achieved_tflops": round(achieved / 1e12, 3),
        "peak_bf16_tflops": None if peak is None else peak / 1e12,
        "mfu": None if peak is None else round(achieved / peak, 4),
        "cuda_peak_mb": peak_mb(device),
        "losses": [round(float(x), 4) for x in torch.stack(losses).cpu()],
    }


@torch.inference_mode()
def bert_inference(device: torch.device, sizes: Sizes) -> dict[str, Any]:
    model = Classifier(bert_encoder(sizes), sizes.hidden, 8).to(device).eval()
    result: dict[str, Any] = {"seq_len": sizes.seq_len}
    reset_peak(device)
    for batch in (1, 64):
        ids = torch.randint(1, 30522, (batch, sizes.seq_len), device=device)
        mask = torch.ones_like(ids)

        def call(ids: torch.Tensor = ids, mask: torch.Tensor = mask) -> None:
            with autocast(device):
                model(ids, mask)

        for _ in range(sizes.latency_warmup):
            call()
        samples = []
        for _ in range(sizes.latency_repeats):
            synchronize(device)
            started = time.perf_counter()
            call()
            synchronize(device)
            samples.append((time.perf_counter() - started) * 1000.0)
        # throughput: back-to-back calls, one synchronisation at the end
        synchronize(device)
        started = time.perf_counter()
        for _ in range(sizes.latency_repeats):
            call()
        synchronize(device)
        seconds = time.perf_counter() - started
        result[f"batch_{batch}"] = {
            "p50_ms": round(float(np.percentile(samples, 50)), 3),
            "p99_ms": round(float(np.percentile(samples, 99)), 3),
            "samples_per_s": round(batch * sizes.latency_repeats / seconds, 1),
        }
    result["cuda_peak_mb"] = peak_mb(device)
    return result


# --------------------------------------------------------------------------------------
# 3, 4: mtrec's data path and multi-task model
# --------------------------------------------------------------------------------------


def load_domain(rows: int) -> DomainData:
    from mtrec.plugins.synthetic_domains import load_synthetic_ecommerce

    data: DomainData = load_synthetic_ecommerce(seed=0, n_interactions=rows)
    return data


def head_set() -> Any:
    from dataclasses import replace

    from mtrec import TaskType
    from mtrec.plugins.ecommerce_heads import mtrec_register_head_sets

    seed = next(h for h in mtrec_register_head_sets() if h.name == "ecommerce-seed")
    # the kit times the per-row heads' data path; next-item's candidate lists are a sweep's
    return replace(seed, heads=tuple(h for h in seed.heads if h.task_type is not TaskType.RANKING))


def word_tokenizer(data: DomainData) -> Any:
    """A WordPiece tokenizer over the domain's own words: nothing to download for BERT-base
    shapes (its random-init weights do not care which ids words get)."""
    from transformers import BertTokenizerFast

    options = InputOptions()
    words: set[str] = set()
    for split in (data.train, data.validation, data.test):
        rendered = render_split(split, options)
        for text in (*rendered.user_text, *rendered.item_text):
            words.update(re.findall(r"\w+|[^\w\s]", text.lower()))  # as BERT splits
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words)]
    folder = Path(tempfile.mkdtemp(prefix="gpu-kit-vocab-"))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast.from_pretrained(str(folder), do_lower_case=True)
    if len(tokenizer) != len(vocab):
        raise RuntimeError(f"the word tokenizer has {len(tokenizer)} tokens, not {len(vocab)}")
    return tokenizer


def multitask_model(encoder: torch.nn.Module, hidden: int, data: DomainData) -> MultiTaskModel:
    model = MultiTaskModel(
        TextPairEncoder(encoder, Pooling.MEAN),
        out_features=hidden,
        head_set=head_set(),
        label_fields=data.label_fields,
        dropout=0.1,
    )
    model.set_target_scaling(data.train.labels)
    return model


class StepTimer:
    """The GPU time of each step (CUDA events, read once at the end) or, on the CPU, its
    wall time (synchronous there)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.events: list[tuple[Any, Any]] = []
        self.cpu_seconds = 0.0
        self._started = 0.0

    def __enter__(self) -> StepTimer:
        if self.device.type == "cuda":
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
            self.events.append((start, end))
        else:
            self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            self.events[-1][1].record()
        else:
            self.cpu_seconds += time.perf_counter() - self._started

    def busy_seconds(self) -> float:
        if self.device.type != "cuda":
            return self.cpu_seconds
        synchronize(self.device)
        return sum(start.elapsed_time(end) for start, end in self.events) / 1000.0


def train_epoch(
    model: MultiTaskModel,
    encoded: Any,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    batch_size: int,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, StepTimer, int]:
    """One epoch through mtrec's data path; (per-batch losses on the device, timer, rows)."""
    heads = {head.spec.task: head for head in model.task_heads()}
    fields = tuple(sorted({head.spec.label_field for head in heads.values()}))
    timer = StepTimer(device)
    losses: list[torch.Tensor] = []
    rows = 0
    model.train()
    batches: Iterator[Any] = iterate_batches(
        encoded, batch_size, label_fields=fields, shuffle=True, rng=rng
    )
    for host_batch in batches:
        batch = host_batch.to(device)  # pinned, non-blocking on CUDA
        with timer:
            with autocast(device):
                outputs = model(**batch.model_inputs())
            loss = torch.stack(
                [
                    task_loss(head, outputs[task].float(), batch.labels[head.spec.label_field])
                    for task, head in heads.items()
                ]
            ).sum()
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        losses.append(loss.detach())
        rows += len(host_batch)
    return torch.stack(losses), timer, rows


def data_path_epoch(
    device: torch.device, sizes: Sizes, data: DomainData, tokenizer: Any
) -> dict[str, Any]:
    encoded = encode_split(
        render_split(data.train, InputOptions()), tokenizer, sizes.seq_len, segments=True
    )
    encoder = bert_encoder(sizes, vocab_size=max(len(tokenizer), 8))
    model = multitask_model(encoder, sizes.hidden, data).to(device)
    optimizer = optimizer_for(model, device)
    rng = np.random.default_rng(0)
    train_epoch(model, encoded, optimizer, device, sizes.batch, rng)  # warm-up epoch
    synchronize(device)
    started = time.perf_counter()
    losses, timer, rows = train_epoch(model, encoded, optimizer, device, sizes.batch, rng)
    synchronize(device)
    wall = time.perf_counter() - started
    busy = timer.busy_seconds()
    return {
        "rows": rows,
        "vocab_size": len(tokenizer),
        "mean_tokens": round(float(np.mean(encoded.sort_keys())), 1),
        "unknown_share": round(unknown_share(encoded, tokenizer), 4),
        "max_length": sizes.seq_len,
        "batch": sizes.batch,
        "epoch_s": round(wall, 3),
        "gpu_busy_s": round(busy, 3),
        "gpu_idle_share": round(max(0.0, 1.0 - busy / wall), 4),
        "samples_per_s": round(rows / wall, 1),
        "losses": [round(float(x), 4) for x in losses.cpu()[:: max(1, len(losses) // 20)]],
    }


def unknown_share(encoded: Any, tokenizer: Any) -> float:
    """Share of the first 256 rows' tokens that are [UNK] (0 when the vocabulary fits)."""
    batch = encoded.collate(np.arange(min(256, len(encoded))))
    ids, mask = batch.inputs["input_ids"], batch.inputs["attention_mask"].bool()
    return float((ids[mask] == tokenizer.unk_token_id).float().mean())


def combination(
    device: torch.device, sizes: Sizes, data: DomainData, tokenizer: Any, minilm: Path | None
) -> dict[str, Any]:
    if minilm is not None:
        if not (minilm / "config.json").is_file():
            return {
                "skipped": f"no float16 MiniLM copy at {minilm.name}/ (make it with "
                "make_minilm_fp16.py and carry it with the working tree)"
            }
        from mtrec.model.hf import load_pretrained

        loaded = load_pretrained(minilm, pooling=Pooling.MEAN)
        stored = str(next(loaded.model.parameters()).dtype).replace("torch.", "")
        encoder, hidden, tokenizer = loaded.model.float(), loaded.hidden_size, loaded.tokenizer
        backbone = "minilm-l6 (float16 copy, float32 master weights)"
    else:
        encoder = bert_encoder(CPU, vocab_size=max(len(tokenizer), 8))
        stored, hidden, backbone = "float32", CPU.hidden, "tiny BERT from its config (cpu)"
    model = multitask_model(encoder, hidden, data).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=1e-4 if minilm is not None else 3e-3, fused=device.type == "cuda"
    )
    rng = np.random.default_rng(0)
    length = sizes.combination_max_length
    render = InputOptions()
    train = encode_split(render_split(data.train, render), tokenizer, length, segments=True)
    test = encode_split(render_split(data.test, render), tokenizer, length, segments=True)
    started = time.perf_counter()
    epoch_losses = []
    for _ in range(sizes.combination_epochs):
        losses, _, _ = train_epoch(model, train, optimizer, device, sizes.combination_batch, rng)
        epoch_losses.append(float(losses.mean()))
    synchronize(device)
    train_s = time.perf_counter() - started
    return {
        "backbone": backbone,
        "stored_dtype": stored,
        "trained_dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "rows": {"train": len(data.train), "test": len(data.test)},
        "epochs": sizes.combination_epochs,
        "train_s": round(train_s, 2),
        "epoch_losses": [round(x, 4) for x in epoch_losses],
        "test": evaluate(model, test, data, device),
    }


@torch.inference_mode()
def evaluate(
    model: MultiTaskModel, encoded: Any, data: DomainData, device: torch.device
) -> dict[str, dict[str, float]]:
    """Accuracy of each binary and multiclass task on the test split against the majority
    class of the training labels."""
    model.eval()
    heads = {
        head.spec.task: head
        for head in model.task_heads()
        if head.spec.task_type in (TaskType.BINARY, TaskType.MULTICLASS)
    }
    predicted: dict[str, list[np.ndarray]] = {task: [] for task in heads}
    order: list[np.ndarray] = []
    for host_batch in iterate_batches(encoded, 256):
        batch = host_batch.to(device)
        with autocast(device):
            outputs = model(**batch.model_inputs())
        for task, head in heads.items():
            logits = outputs[task].float()
            if head.spec.task_type is TaskType.BINARY:
                guess = (logits.reshape(-1) > 0).long()
            else:
                guess = logits.argmax(dim=-1)
            predicted[task].append(guess.cpu().numpy())
        order.append(host_batch.rows)
    rows = np.concatenate(order)
    result = {}
    for task, head in heads.items():
        field = head.spec.label_field
        truth = np.asarray(data.test.labels[field])[rows]
        guesses = np.concatenate(predicted[task])
        train_labels = np.asarray(data.train.labels[field])
        majority = np.bincount(train_labels.astype(np.int64)).argmax()
        result[task] = {
            "accuracy": round(float((guesses == truth).mean()), 4),
            "trivial_accuracy": round(float((truth == majority).mean()), 4),
        }
    return result


if __name__ == "__main__":
    sys.exit(main())
