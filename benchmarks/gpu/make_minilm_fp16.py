"""A float16 copy of the offline MiniLM-L6 for the GPU kit (about 44 MiB instead of 87 MiB).

    python benchmarks/gpu/make_minilm_fp16.py   # writes benchmarks/gpu/minilm-fp16/

The folder is git-ignored: it travels to the device machine as a carried path. The kit trains
it with float32 master weights (the parameters are upcast after loading).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

DEFAULT = Path(__file__).resolve().parent / "minilm-fp16"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT)
    args = parser.parse_args(argv)
    from transformers import AutoModel, AutoTokenizer

    from mtrec.plugins.minilm import minilm_folder

    source = minilm_folder()
    model = AutoModel.from_pretrained(str(source), use_safetensors=True, dtype=torch.float16)
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    args.out.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(args.out, safe_serialization=True)
    tokenizer.save_pretrained(args.out)
    size = sum(path.stat().st_size for path in args.out.iterdir()) / 2**20
    print(f"{args.out}: {size:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
