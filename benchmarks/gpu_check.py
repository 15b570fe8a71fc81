"""GPU check: train one MiniLM-L6 combination with bf16 autocast and print what it cost.

Run on a CUDA machine (``python benchmarks/gpu_check.py``): it prints training and inference
throughput, peak CUDA memory per phase, model-FLOPs utilisation, and p50 latency at batch 1
and 32 (CUDA-synchronised), and writes the run folder. ``--device cpu --backbone tiny-bert``
runs the same script here as a smoke test of the script itself.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

from mtrec.config import parse_suite
from mtrec.plugin_host import PluginHost
from mtrec.run.runner import run_sweep

SUITE = """
name: gpu-check
backbones: [{{name: {backbone}, training: {{lr: 0.00005, head_lr: 0.002, precision: bf16}}}}]
head_sets: [ecommerce-seed]
domains: [{{name: synthetic-ecommerce, options: {{n_interactions: {rows}}}}}]
training: {{epochs: 2, batch_size: 64, eval_batch_size: 256, patience: 0}}
fairness: {{baseline_seeds: 0}}
measure: {{latency_batch_sizes: [1, 32], latency_warmup: 10, latency_min_repeats: 50,
  latency_min_seconds: 1.0}}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--backbone", default="minilm-l6")
    parser.add_argument("--rows", type=int, default=6000, help="synthetic interactions")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: CUDA is not available here", file=sys.stderr)
        return 2
    suite = parse_suite(
        SUITE.format(backbone=args.backbone, rows=args.rows), origin="gpu_check", source="file"
    )
    out = args.out or Path(tempfile.mkdtemp(prefix="mtrec-gpu-check-")) / "run"
    result = run_sweep(suite, PluginHost(), out, device=args.device)
    [record] = result.document["records"]
    if record["status"] != "ok":
        print(f"gpu_check: failed: {record['error']}", file=sys.stderr)
        return 1
    efficiency = record["efficiency"]
    summary = {
        "device": result.document["environment"]["device_name"],
        "precision": record["training"]["precision"],
        "train_samples_per_s": round(efficiency["train_samples_per_s"], 1),
        "inference_samples_per_s": round(efficiency["inference_samples_per_s"], 1),
        "latency_p50_ms": {k: round(v["p50"], 3) for k, v in efficiency["latency_ms"].items()},
        "cuda_peak_mb": {
            phase: figures["cuda_peak_allocated_mb"]
            for phase, figures in efficiency["memory"].items()
        },
        "flops_per_sample": efficiency["flops_per_sample"],
        "mfu": efficiency["mfu"],
        "metrics": record["metrics"],
        "run_dir": str(out),
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
