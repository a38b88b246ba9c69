"""NME of a landmark-heatmap network (PFSR's distilled FAN) against its landmark teacher, PFSR Table 1's way.

    python benchmarks/bench_fan_nme.py [-m fan-distilled | MODEL.safetensors] [--sizes 64 128]
                                       [--sets lfw-val helen50 celeba1000] [--max-images 0] [--threads 2]
                                       [-o benchmarks/results/fan_nme.md]

Faces nobody trained on, as 128 px HR: the LFW identity split's *validation* people (PFSR's crop of
``fan_distilled_lfw.yaml``: centre 136 px, PIL bilinear to 128), Helen-50 and CelebA-1000 (the FSRNet
128 px HR crops). At each size s the network sees the face brought to s px by PFSR's PIL bilinear cascade
(the HR face itself at 128), and the teacher (the model file's, dlib by default) sees that face resized to
256 px (as in training: PFSR's FAN saw its inputs at 256 px); the teacher's landmarks are cached beside
each HR cache. The network's landmarks are each heatmap's argmax refined by a local centroid
(``facesr.priors.landmarks.heatmap_landmarks``, sub-pixel).

NME = mean over the 68 points of the point-to-point error / d, averaged over faces, in %: d = the image
side s (PFSR's "d is the facial image size"; its Table 1: 0.239 % at 64 px, 0.987 % at 128 px against its
own FAN teacher), and, for reference, d = the teacher's outer-eye-corner distance (inter-ocular).
"mean shape" is what predicting the set's mean teacher landmarks for every face scores: a network below
it has learnt something about each face. "found" is the share of faces where dlib's detector found the
face in the teacher's view (elsewhere a fixed box stood in).

Writes the table (with this command) to ``-o``. Needs ../shared/data (sets that are missing are skipped)
and dlib for the default teacher.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SETS = {
    "lfw-val": ({"root": DATA / "lfw_deepfunneled" / "images", "split": "val",
                 "crop": {"kind": "center", "crop": 136, "interp": "bilinear"},
                 "cache": ROOT / "cache" / "lfw_val_c136_128_bilinear.npy"}, "LFW val people (centre 136, bilinear)"),
    "helen50": ({"root": DATA / "helen_test50_fsrnet" / "HR", "cache": ROOT / "cache" / "helen50_hr128.npy"},
                "Helen-50 HR"),
    "celeba1000": ({"root": DATA / "celeba_test1000_fsrnet" / "HR", "cache": ROOT / "cache" / "celeba1000_hr128.npy"},
                   "CelebA-1000 HR"),
}
HR_SIZE = 128


def set_faces(name: str, max_images: int):
    """(uint8 N x 128 x 128 x 3 faces, cache path) of a test set, or None when its folder is missing."""
    from facesr.data.sources import hr_array, limited_cache_path

    spec, _ = SETS[name]
    if not Path(spec["root"]).is_dir():
        return None
    d = {k: str(v) if isinstance(v, Path) else v for k, v in spec.items()}
    d["max_images"] = max_images
    faces = hr_array(d, HR_SIZE, progress=False)
    return faces, limited_cache_path(d["cache"], max_images)


def score_set(net, faces, cache, sizes, teacher: str, teacher_size: int, radius: int) -> list[dict]:
    from facesr.metrics.face import landmark_nme
    from facesr.priors.landmarks import landmarks_for_cache, network_landmarks, teacher_view

    rows = []
    for s in sizes:
        f = landmarks_for_cache(cache, progress=False, teacher=teacher, size=s, teacher_size=teacher_size)
        info = json.loads(f.with_suffix(".json").read_text())
        ref = (np.load(f).astype(np.float64) + 0.5) * (s / HR_SIZE) - 0.5
        view = teacher_view(faces, s) if s != HR_SIZE else np.asarray(faces)
        pred = network_landmarks(net, view, radius)
        mean = np.broadcast_to(ref.mean(0), ref.shape)
        rows.append({"size": s, "n": len(ref), "found": info.get("detected", len(ref)) / max(1, len(ref)),
                     "nme": 100 * landmark_nme(pred, ref, "size", s).mean(),
                     "nme_io": 100 * landmark_nme(pred, ref, "interocular").mean(),
                     "mean_shape": 100 * landmark_nme(mean, ref, "size", s).mean()})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--model", default="fan-distilled",
                    help="a heatmap network's model file (default: the fan_distilled_lfw run's)")
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--sizes", nargs="+", type=int, default=[64, 128])
    ap.add_argument("--max-images", type=int, default=0, help="faces per set (0: all)")
    ap.add_argument("--teacher", default=None, help="landmark teacher (default: the model file's, else dlib)")
    ap.add_argument("--teacher-size", type=int, default=None, help="the teacher's view, px (default: the model file's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--out", default=str(ROOT / "benchmarks" / "results" / "fan_nme.md"))
    args = ap.parse_args(argv)

    if any(s < 1 or s > HR_SIZE for s in args.sizes):
        print(f"bench_fan_nme: --sizes must lie in 1..{HR_SIZE}", file=sys.stderr)
        return 2
    import torch

    import facesr
    from facesr.checkpoint import read_meta
    from facesr.errors import FacesrError
    from facesr.registry import model_file

    try:
        args.model = str(model_file(args.model))
    except FacesrError as e:
        print(f"bench_fan_nme: {e}", file=sys.stderr)
        return 2
    from facesr.priors.landmarks import decode_radius

    torch.set_num_threads(args.threads)
    meta = read_meta(args.model)
    prov = meta.get("provenance") or {}
    hcfg = prov.get("heatmap") or {}
    teacher = args.teacher or hcfg.get("teacher", "dlib")
    teacher_size = args.teacher_size if args.teacher_size is not None else int(hcfg.get("teacher_size", 256))
    radius = decode_radius(float(hcfg.get("sigma", 1.0)))
    net = facesr.load(args.model, device="cpu").eval()

    lines, t0 = [], time.time()
    for name in args.sets:
        got = set_faces(name, args.max_images)
        if got is None:
            print(f"skipped {name}: {SETS[name][0]['root']} not found")
            continue
        faces, cache = got
        for r in score_set(net, faces, cache, args.sizes, teacher, teacher_size, radius):
            lines.append(f"| {SETS[name][1]} | {r['n']} | {100 * r['found']:.0f} % | {r['size']} px | "
                         f"**{r['nme']:.3f}** | {r['nme_io']:.2f} | {r['mean_shape']:.3f} |")
            print(lines[-1], flush=True)
    if not lines:
        print("bench_fan_nme: no test set found under ../shared/data; nothing written")
        return 0
    cmd = "python benchmarks/bench_fan_nme.py " + " ".join(argv if argv is not None else sys.argv[1:])
    mp = Path(args.model).resolve()
    model_name = str(mp.relative_to(ROOT)) if mp.is_relative_to(ROOT) else mp.name
    head = [
        "# Distilled FAN: NME against its landmark teacher (PFSR Table 1's protocol)",
        "",
        f"Model `{model_name}` ({meta.get('preset')}; {prov.get('recipe', '?')} recipe, step {prov.get('step', '?')}, "
        f"{prov.get('images_seen', '?')} images, trained at {hcfg.get('size', '?')} px, sigma "
        f"{hcfg.get('sigma', '?')}); teacher `{teacher}` seeing each face at {teacher_size or 'its own size'} px. "
        f"torch {torch.__version__}, {args.threads} thread(s), {time.time() - t0:.0f} s.",
        "",
        "```",
        cmd.strip(),
        "```",
        "",
        "NME in % (mean point-to-point error over 68 points / d, averaged over faces): **d = the image side** "
        "(PFSR's; its distilled FAN against its FAN teacher: 0.239 % at 64 px, 0.987 % at 128 px); "
        "inter-ocular: d = the teacher's outer-eye-corner distance; mean shape: every face given the set's "
        "mean teacher landmarks (image side). Found: faces dlib's detector found in the teacher's view.",
        "",
        "| test set | faces | found | input | NME % (image side) | NME % (inter-ocular) | mean shape % |",
        "|---|---|---|---|---|---|---|",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(head + lines) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
