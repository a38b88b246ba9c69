"""`facesr enhance` on a video: time per frame, what is kept (frame rate, frames, audio), how the frames
compare with `facesr enhance` on the same frames, and how much the landmark smoothing steadies the crops.

    python benchmarks/bench_video.py [--seconds 10] [--upscale 2] [--threads 2] [-o benchmarks/results/video.md]

The clip is made here (nothing from ../shared/data): scikit-image's public-domain astronaut photo (the
face about 150 px tall) on a 1280 x 720 canvas, panning along a known path (80 px sine sway, 6 s period,
plus a slow drift), each frame degraded (Gaussian blur sigma 1.2, noise sigma 4, JPEG quality 60), H.264
at 25 fps with a 440 Hz tone as its audio. Then:

* **Timing**: the whole `facesr enhance -i clip.mp4` path (:func:`facesr.enhance.enhance_files`), and a
  second pass over the decoded frames timing detection + landmarks, the model, and paste-back alone
  (the rest is decoding, encoding and the muxing of segments).
* **Kept**: output frame count, frame rate and audio duration against the input's.
* **Match**: PSNR (RGB, whole frame) of the encoded output against (a) the restored frames before
  encoding (H.264's loss) and (b) `FaceEnhancer.enhance` run on each decoded frame alone (the tracker's
  smoothing moves crops by fractions of a pixel); and with smoothing off, how many restored frames are
  bit-identical to `FaceEnhancer.enhance`'s.
* **Steadiness**: the RMS error of the landmark centroid against the known path, as detected and after
  the tracker's smoothing (px, input frame).

Needs PyAV, dlib and scikit-image. Run with the machine otherwise idle: timings are wall-clock.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np

from _report import command, write_report  # noqa: E402  (benchmarks/, next to this script)

ROOT = Path(__file__).resolve().parents[1]
FPS = 25
W, H = 1280, 720


def path_xy(k: int) -> tuple[float, float]:
    """Top-left of the photo in frame ``k`` (the known motion)."""
    t = k / FPS
    return 360 + 80 * np.sin(2 * np.pi * t / 6.0) + 6 * t, 150 + 10 * np.sin(2 * np.pi * t / 4.0)


def make_frames(n: int) -> list[np.ndarray]:
    from PIL import Image, ImageFilter
    from skimage import data

    photo = Image.fromarray(data.astronaut()).resize((420, 420), Image.LANCZOS)
    yy, xx = np.mgrid[0:H, 0:W]
    bg = np.stack([60 + 40 * xx / W, 70 + 30 * yy / H, 90 + 0 * xx], -1).astype(np.uint8)
    rng = np.random.default_rng(0)
    frames = []
    for k in range(n):
        x, y = path_xy(k)
        canvas = Image.fromarray(bg.copy())
        # sub-pixel placement: an affine shift of the photo (bilinear), then pasted at the integer part
        ix, iy = int(np.floor(x)), int(np.floor(y))
        shifted = photo.transform(photo.size, Image.AFFINE, (1, 0, ix - x, 0, 1, iy - y), Image.BILINEAR)
        canvas.paste(shifted, (ix, iy))
        img = canvas.filter(ImageFilter.GaussianBlur(1.2))
        a = np.asarray(img).astype(np.float32) + rng.normal(0, 4, (H, W, 3))
        buf = io.BytesIO()
        Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=60)
        frames.append(np.asarray(Image.open(buf).convert("RGB")))
    return frames


def psnr(a, b) -> float:
    d = a.astype(np.float64) - b
    return float(10 * np.log10(255.0 ** 2 / max(np.mean(d ** 2), 1e-12)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--upscale", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default="/tmp/facesr_bench_video", help="scratch folder (clip and outputs)")
    ap.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "video.md"))
    args = ap.parse_args(argv)
    import importlib.util

    for mod, extra in (("av", "video"), ("dlib", "faces"), ("skimage", "test")):
        if importlib.util.find_spec(mod) is None:
            print(f"skipped: {mod} is not installed (pip install 'facesr[{extra}]')")
            return 0
    import av
    import torch

    from facesr.checkpoint import hardware
    from facesr.enhance import FaceEnhancer, enhance_files
    from facesr.enhance.track import FaceTracker
    from facesr.enhance.video import restored_frames, video_frames, video_info, write_clip

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    n = int(round(args.seconds * FPS))
    clip = write_clip(work / "clip.mp4", make_frames(n), fps=FPS, audio_hz=440)
    out = work / "out"
    enh = FaceEnhancer(upscale=args.upscale)
    enh.preload()
    enh.enhance(make_frames(1)[0])  # warm-up: model and detector loaded, first-call costs paid
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    summary = enhance_files(enh, [clip], out, progress=False, quiet=True)
    total = time.perf_counter() - t0
    result = out / "final" / "clip.mp4"
    assert summary.ok and result.is_file(), summary.failed
    src, got = video_info(clip), video_info(result)

    def audio_seconds(p):
        with av.open(str(p)) as c:
            s = c.streams.audio[0]
            return float(s.duration * s.time_base)

    def largest(faces):
        """The landmark centroid of the largest face (the clip's face; not a stray small detection)."""
        if not faces:
            return None
        box, _, lm = max(faces, key=lambda f: (f[0][2] - f[0][0]) * (f[0][3] - f[0][1]))
        return lm.mean(0)

    # stage timings on the decoded frames, and the frames before encoding
    frames = list(video_frames(clip))
    t_find = t_model = t_paste = 0.0
    tracker = FaceTracker(FPS)
    restored, raw_c, smooth_c = [], [], []
    for img in frames:
        t = time.perf_counter()
        faces = enh.find_faces(img)
        t_find += time.perf_counter() - t
        tracked = tracker.update(faces)
        raw_c.append(largest(faces))
        smooth_c.append(largest(tracked))
        plan = enh.plan_faces(img, tracked)
        t = time.perf_counter()
        outs = enh.restore([plan])[0]
        t_model += time.perf_counter() - t
        t = time.perf_counter()
        restored.append(enh.paste(plan, outs).final)
        t_paste += time.perf_counter() - t
    decoded = list(video_frames(result))
    ref_alone = [enh.enhance(f).final for f in frames]
    h, w = restored[0].shape[:2]
    p_enc = np.mean([psnr(d[:h, :w], r) for d, r in zip(decoded, restored)])
    p_alone = np.mean([psnr(d[:h, :w], r) for d, r in zip(decoded, ref_alone)])
    p_track = np.mean([psnr(r, a) for r, a in zip(restored, ref_alone)])
    unsmoothed = [r.final for r in restored_frames(enh, frames, FPS, smooth=False)]
    found = [bool(enh.find_faces(f)) for f in frames]
    exact = sum(np.array_equal(u, a) for u, a, f in zip(unsmoothed, ref_alone, found) if f)

    def steadiness(cs):
        """(jitter, offset, frames): RMS of the second difference of the centroid's error against the path
        (frame-to-frame shake) and RMS of that error (its mean removed: lag and noise), in px."""
        ks = [k for k, c in enumerate(cs) if c is not None]
        err = np.array([cs[k] - np.array(path_xy(k)) for k in ks])
        err -= err.mean(0)
        run = [i for i in range(2, len(ks)) if ks[i] - ks[i - 2] == 2]  # consecutive triples only
        d2 = np.array([err[i] - 2 * err[i - 1] + err[i - 2] for i in run]) if run else np.zeros((1, 2))
        return float(np.sqrt((d2 ** 2).sum(1).mean())), float(np.sqrt((err ** 2).sum(1).mean())), len(ks)

    j_raw, o_raw, n_raw = steadiness(raw_c)
    j_s, o_s, n_s = steadiness(smooth_c)

    cmd = command("bench_video.py", argv)
    per = total / n
    lines = [
        f"# `facesr enhance` on a {args.seconds:g} s 720p clip with one face", "",
        f"{hardware()}, {args.threads} thread(s), PyAV {av.__version__}; the machine "
        "otherwise idle. Clip made by the script (public-domain astronaut photo panning on a 1280 x 720 "
        "canvas, blur + noise + JPEG per frame, H.264, 25 fps, 440 Hz tone); default model "
        f"(`{enh.net.facesr_meta.get('name', 'sparnethd-lite') if hasattr(enh.net, 'facesr_meta') else 'default'}`), "
        f"upscale {args.upscale:g}, default settings.", "",
        "```", cmd, "```", "",
        "| | value |", "|---|---|",
        f"| frames in / out | {src.frames} / {got.frames} |",
        f"| frame rate in / out | {float(src.fps):g} / {float(got.fps):g} |",
        f"| size in / out | {src.width} x {src.height} / {got.width} x {got.height} |",
        f"| audio in / out | {src.audio}, {audio_seconds(clip):.2f} s / {got.audio}, {audio_seconds(result):.2f} s |",
        f"| faces restored | {summary.faces} in {summary.frames} frames |",
        f"| **time per frame, whole `enhance` path** | **{per:.3f} s** ({total:.1f} s for {n} frames) |",
        f"| of which detection + landmarks | {t_find / n:.3f} s |",
        f"| of which the model | {t_model / n:.3f} s |",
        f"| of which paste-back (background upscale included) | {t_paste / n:.3f} s |",
        f"| rest: decoding, tracking, H.264 encoding, muxing | {per - (t_find + t_model + t_paste) / n:.3f} s |",
        f"| PSNR output vs restored frames before encoding | {p_enc:.2f} dB (H.264 crf 18) |",
        f"| PSNR restored frames (tracked) vs `FaceEnhancer.enhance` per frame | {p_track:.2f} dB |",
        f"| PSNR output vs `FaceEnhancer.enhance` per frame | {p_alone:.2f} dB |",
        f"| smoothing off: frames bit-identical to `FaceEnhancer.enhance` | {exact} of {sum(found)} with a detection |",
        f"| landmark centroid, as detected: jitter / offset | {j_raw:.2f} / {o_raw:.2f} px RMS ({n_raw} frames) |",
        f"| landmark centroid, tracked (One Euro): jitter / offset | {j_s:.2f} / {o_s:.2f} px RMS ({n_s} frames) |",
        "",
        "Centroid of the 68 landmarks against the known path, in input pixels: *offset* is the RMS of its "
        "error (constant part removed: noise and the tracker's lag), *jitter* the RMS of the error's second "
        "difference over consecutive frames (frame-to-frame shake, which lag does not add). Frames without a "
        "detection are held by the tracker (counted in the tracked row).",
    ]
    write_report(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
