"""Time `facesr enhance` on a 1920x1080 photo with 5 faces: detection, alignment, SR, paste-back, total.

    python benchmarks/bench_enhance.py [--model default] [--upscale 2] [--repeats 3] [--threads 0]

The photo is composed here: five real faces (regions around the faces dlib finds in
``../shared/data/real_lq_faces/*whole_imgs/``, each scaled so the face box is 100-180 px) on a blurred,
enlarged copy of one of those photos; without that data, five crops of scikit-image's astronaut on a
smooth background are used instead. Stages are timed with enhance's own internals, one photo at a time
(``--repeats`` runs after one warm-up, median each); "total" is a plain ``facesr.enhance(...)`` call.
Runs twice: with the default face-size policy and with ``fusion=False`` (the model on every face).
Writes benchmarks/results/enhance.md. Needs dlib (pip install 'facesr[faces]'); skips cleanly without it.
The default model's weights are used if they ship, else the untrained ``sparnet-tiny`` network (the same
computation). Another job on the cores (e.g. training) slows every number: the output says so.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from _report import command, write_report  # noqa: E402  (benchmarks/, next to this script)

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "real_lq_faces"


def _face_tiles(n: int) -> tuple[list[np.ndarray], str]:
    """``n`` square RGB tiles, each a face (box ~ tile / 2) with its surroundings."""
    from facesr.data.io import list_images, read_image
    from facesr.faces.dlib_models import detect_faces

    tiles: list[np.ndarray] = []
    files = []
    for d in sorted(DATA.glob("*whole_imgs")) if DATA.is_dir() else []:
        files += list_images(d)
    for f in files:
        img = read_image(f)
        for box, score in detect_faces(img, upsample=1, threshold=0.5):
            x0, y0, x1, y1 = box
            side = 2.0 * max(x1 - x0, y1 - y0)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            l, t = int(cx - side / 2), int(cy - side / 2)
            if l < 0 or t < 0 or l + side > img.shape[1] or t + side > img.shape[0]:
                continue
            tiles.append(img[t:t + int(side), l:l + int(side)])
            break  # one face per photo: five different photos
        if len(tiles) == n:
            return tiles, "five real faces from real_lq_faces/*whole_imgs"
    from skimage import data

    a = data.astronaut()
    head = a[20:240, 110:330]
    return [np.ascontiguousarray(head)] * n, "five copies of scikit-image's astronaut (real_lq_faces missing)"


def compose_photo(n_faces: int = 5, size=(1920, 1080)) -> tuple[np.ndarray, str]:
    W, H = size
    tiles, source = _face_tiles(n_faces)
    from skimage import data

    bg_src = tiles[0] if "real" in source else data.astronaut()
    bg = Image.fromarray(bg_src).resize((W, H), Image.BICUBIC).filter(ImageFilter.GaussianBlur(12))
    rng = np.random.default_rng(0)
    face_px = np.linspace(100, 180, n_faces)  # face box sizes
    slot = W // n_faces
    for i, t in enumerate(tiles):
        side = int(2 * face_px[i])
        tile = Image.fromarray(t).resize((side, side), Image.BICUBIC)
        x = i * slot + (slot - side) // 2
        y = int(rng.integers(80, H - side - 80))
        bg.paste(tile, (x, y))
    return np.asarray(bg), source


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--upscale", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's setting)")
    ap.add_argument("--backend", default="auto", help="inference back-end (facesr.deploy.BACKENDS)")
    ap.add_argument("-o", "--output", default=str(HERE / "results" / "enhance.md"))
    a = ap.parse_args(argv)

    from facesr.errors import FacesrError, MissingDependencyError

    try:
        from facesr.faces.dlib_models import preload

        preload()
    except (MissingDependencyError, FacesrError) as e:
        print(f"skipped: {e}")
        return 0
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    import facesr
    from facesr.enhance import FaceEnhancer

    model_note = a.model
    try:
        net = facesr.load(a.model)
    except FacesrError:
        net = facesr.build("sparnet-tiny" if a.model == "default" else a.model).eval()
        model_note = f"{net.facesr_meta['preset']} (untrained: no weights ship yet; same computation)"

    photo, source = compose_photo()
    enhancers = {fusion: FaceEnhancer(net, a.backend, "hog", a.upscale, det_upsample=1, fusion=fusion)
                 for fusion in (True, False)}  # what `facesr enhance -m NAME` runs
    spec = enhancers[True].crop_spec
    results = {fusion: _time_stages(enh, photo, a) for fusion, enh in enhancers.items()}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    from facesr.checkpoint import hardware

    n_found, res, _, _ = results[True]
    lines = [
        f"`facesr.enhance` on a 1920x1080 photo with 5 faces ({source}; face boxes 100-180 px), "
        f"upscale {a.upscale:g} (output {res.final.shape[1]}x{res.final.shape[0]}), model {model_note} "
        f"(back-end {a.backend}), HOG detector with 1 upsampling, crop spec `{spec.get('kind')}`, "
        f"{torch.get_num_threads()} torch thread(s), {hardware()}. Median of {a.repeats} runs after one warm-up.", "",
        f"Faces found: {n_found} of 5. Load average while measuring: {load:.1f} on {os.cpu_count()} cores"
        + (" -- another job was using the cores, so these times are inflated."
           if load > 0.5 * (os.cpu_count() or 1) else "."), "",
        "```", command("bench_enhance.py", argv),
        "```", "",
        "Two runs: the default face-size policy (`fusion=True`; facesr/enhance/choose.py: with the x8 default "
        "these faces' crops are >= 64 px, half its output, so they are `kept` and the model is not run; a "
        "restoration model restores faces up to twice its size) and `fusion=False` / `--no-fusion` (the model "
        "restores every face: the cost of the model itself).", "",
        "| stage | default policy (s) | share | --no-fusion (s) | share |", "|---|---|---|---|---|"]
    meds = {f: r[2] for f, r in results.items()}
    sums = {f: sum(v for k, v in m.items() if not k.startswith("total")) for f, m in meds.items()}
    for k in meds[True]:
        cells = []
        for f in (True, False):
            v = meds[f][k]
            cells += [f"{v:.3f}", "" if k.startswith("total") else f"{100 * v / sums[f]:.0f}%"]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    lines += ["", f"Face modes (default policy): {', '.join(results[True][3])}. alignment = 68 landmarks + crop "
                  "warp for all faces; paste-back = colour matching / detail fusion, bicubic background upscale "
                  "and feathered blending of all faces."]
    write_report(a.output, lines)
    return 0


def _time_stages(enh, photo, a):
    """(faces found, last result, {stage: median seconds}, modes) of a FaceEnhancer's stages on ``photo``."""
    from facesr.enhance.detect import detect_faces

    stages = {k: [] for k in ("detection", "alignment", "super-resolution", "paste-back", "total (facesr.enhance)")}
    n_found, res, plan = 0, None, None
    for rep in range(a.repeats + 1):
        t0 = time.perf_counter()
        dets = detect_faces(photo, enh.detector, enh.det_upsample, enh.det_threshold, enh.det_max_side)
        t1 = time.perf_counter()
        plan = enh.plan(photo)  # detection again, then landmarks, crops and the per-face choice
        t2 = time.perf_counter()
        outputs = enh.restore([plan])[0]
        t3 = time.perf_counter()
        res = enh.paste(plan, outputs)
        t4 = time.perf_counter()
        full = enh.enhance(photo)
        t5 = time.perf_counter()
        n_found = len(dets)
        assert full.num_faces == n_found and full.modes == plan.modes
        if rep == 0:
            continue  # warm-up (model files load, caches fill)
        for k, v in zip(stages, (t1 - t0, (t2 - t1) - (t1 - t0), t3 - t2, t4 - t3, t5 - t4)):
            stages[k].append(v)
    return n_found, res, {k: statistics.median(v) for k, v in stages.items()}, plan.modes


if __name__ == "__main__":
    sys.exit(main())
