"""Turn a training run's model file into the weights a preset ships (``facesr/assets/``).

    python tools/ship_weights.py runs/sparnethd_lite_lfw/checkpoints/last/ema.safetensors \\
        facesr/assets/sparnethd_lite.safetensors --fp16 --budget "3000 steps x batch 8 ..." \\
        [--metric helen50_psnr=...]

Copies the file's facesr metadata (architecture, settings, provenance), adds ``provenance.budget`` (free
text: steps, images, CPU time) and ``metrics`` given as ``KEY=VALUE``, and with ``--fp16`` stores the
floating-point tensors as float16 (half the size; the loader casts them back to the model's float32).
Prints the largest output difference fp16 vs the original on a seeded random batch at the model's input
size (a degradation network with one seed for its random draws), so the cast is checked, not assumed.
Writes atomically.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--fp16", action="store_true")
    ap.add_argument("--budget", default=None, help="training budget, free text (steps, images, CPU time)")
    ap.add_argument("--metric", action="append", default=[], help="KEY=VALUE (number or text), repeatable")
    args = ap.parse_args(argv)

    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save

    import facesr
    from facesr.checkpoint import META_KEY, atomic_write_bytes

    with safe_open(args.src, framework="pt") as f:
        meta = json.loads(f.metadata()[META_KEY])
    state = load_file(args.src)
    if args.fp16:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        meta.setdefault("provenance", {})["stored_dtype"] = "float16"
    if args.budget:
        meta.setdefault("provenance", {})["budget"] = args.budget
    for kv in args.metric:
        k, _, v = kv.partition("=")
        try:
            meta.setdefault("metrics", {})[k] = float(v)
        except ValueError:
            meta.setdefault("metrics", {})[k] = v
    blob = save({k: v.contiguous() for k, v in state.items()}, metadata={META_KEY: json.dumps(meta, sort_keys=True)})
    atomic_write_bytes(args.dst, blob)

    a, b = facesr.load(args.src).eval(), facesr.load(args.dst).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, int(a.lr_size), int(a.lr_size), generator=g)

    def run(m):  # a degradation network (styleVAE) draws style codes and noise: the same seed for both
        if callable(getattr(m, "degrade", None)):
            return m.degrade(x, torch.Generator().manual_seed(1))
        return m(x)

    with torch.no_grad():
        d = (run(a) - run(b)).abs().max().item()
    print(f"wrote {args.dst} ({Path(args.dst).stat().st_size / 1e6:.1f} MB); max |output difference| vs the "
          f"source on a random batch: {d:.2e} ({d * 255:.3f} of 255)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
