"""Faces over the frames of a video: steady crops, and no flicker when the detector misses a frame.

Per frame, :class:`FaceTracker.update` takes the faces :meth:`FaceEnhancer.find_faces` found
(``(box, score, 68 landmarks)``) and returns the faces to align:

* **Association**: each detection goes to the track whose last box overlaps it most (IoU above
  ``match_iou``, greedy, best pairs first); the rest start new tracks.
* **Smoothing**: a track's landmarks pass through a One Euro filter (Casiez et al., CHI 2012: a low-pass
  whose cut-off rises with speed: still faces lose their jitter, moving faces keep up). Speeds are in face
  sizes per second (the landmarks' bounding-box diagonal), so one setting suits small and large faces.
  The whole face shares one cut-off (from its mean landmark speed), so the shape does not wobble.
  ``beta`` 5 trades jitter for lag, chosen by ``benchmarks/sim_one_euro.py`` (figures: docs/serve.md).
  Lag does not misplace the face: it is pasted back where its crop was taken.
* **Missed frames**: a track not detected in a frame keeps its last smoothed landmarks for up to
  ``hold_seconds``; then it is dropped. A face the detector loses for a frame or two is still restored.
  Only tracks detected in at least ``min_hits`` frames are held (as SORT confirms tracks): a one-frame
  false detection is restored in that frame only, as ``facesr enhance`` would, not for half a second.

With ``smooth=False`` the filter is off (landmarks as detected; held faces still held). A face whose
landmarks never change is returned unchanged, bit for bit, whatever the settings.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["FaceTracker", "OneEuro", "iou"]


def iou(a, b) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _alpha(cutoff: float, dt: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuro:
    """One Euro filter of a point set (N x 2), one cut-off for all points. ``min_cutoff`` (Hz): the
    smoothing of a still face; ``beta``: how fast the cut-off rises with speed (per face size per
    second); ``d_cutoff`` (Hz): the smoothing of the speed estimate."""

    def __init__(self, fps: float, min_cutoff: float = 1.0, beta: float = 5.0, d_cutoff: float = 1.0):
        if not (fps > 0 and min_cutoff > 0 and beta >= 0 and d_cutoff > 0):
            raise ValueError("OneEuro needs fps > 0, min_cutoff > 0, beta >= 0 and d_cutoff > 0")
        self.dt, self.min_cutoff, self.beta, self.d_cutoff = 1.0 / fps, min_cutoff, beta, d_cutoff
        self.x: np.ndarray | None = None
        self.speed = 0.0

    def __call__(self, pts: np.ndarray) -> np.ndarray:
        pts = np.asarray(pts, np.float64)
        if self.x is None:
            self.x = pts.copy()
            return self.x.copy()
        scale = float(np.hypot(*(pts.max(0) - pts.min(0)))) or 1.0
        raw_speed = float(np.linalg.norm(pts - self.x, axis=1).mean()) / self.dt / scale
        self.speed += _alpha(self.d_cutoff, self.dt) * (raw_speed - self.speed)
        a = _alpha(self.min_cutoff + self.beta * self.speed, self.dt)
        self.x = self.x + a * (pts - self.x)  # prev + a * (new - prev): a still face stays exactly put
        return self.x.copy()


@dataclass
class _Track:
    box: np.ndarray
    score: float
    landmarks: np.ndarray
    filt: OneEuro | None
    missing: int = 0
    hits: int = 1


class FaceTracker:
    """See the module docstring. ``fps``: the clip's frame rate (the filter's time step and the hold)."""

    def __init__(self, fps: float, smooth: bool = True, hold_seconds: float = 0.5, match_iou: float = 0.3,
                 min_cutoff: float = 1.0, beta: float = 5.0, min_hits: int = 3):
        if not (fps > 0 and math.isfinite(fps)):
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        self.fps, self.smooth, self.match_iou = float(fps), bool(smooth), float(match_iou)
        self.hold = max(0, int(round(hold_seconds * fps)))
        self.min_cutoff, self.beta, self.min_hits = min_cutoff, beta, int(min_hits)
        self.tracks: list[_Track] = []

    def update(self, faces) -> list[tuple[np.ndarray, float, np.ndarray]]:
        """This frame's faces to align, left to right: ``faces`` (as from ``find_faces``) smoothed, plus
        held faces of tracks missed in this frame."""
        faces = list(faces)
        pairs = sorted(((iou(t.box, f[0]), ti, fi) for ti, t in enumerate(self.tracks) for fi, f in enumerate(faces)),
                       reverse=True)
        used_t, used_f = set(), set()
        for v, ti, fi in pairs:
            if v < self.match_iou:
                break
            if ti in used_t or fi in used_f:
                continue
            used_t.add(ti)
            used_f.add(fi)
            t, (box, score, lm) = self.tracks[ti], faces[fi]
            t.box, t.score, t.missing, t.hits = np.asarray(box, np.float64), float(score), 0, t.hits + 1
            t.landmarks = t.filt(lm) if t.filt is not None else np.asarray(lm, np.float64)
        kept = []
        for ti, t in enumerate(self.tracks):
            if ti not in used_t:
                t.missing += 1
            if t.missing == 0 or (t.missing <= self.hold and t.hits >= self.min_hits):
                kept.append(t)
        for fi, (box, score, lm) in enumerate(faces):
            if fi not in used_f:
                filt = OneEuro(self.fps, self.min_cutoff, self.beta) if self.smooth else None
                lm = np.asarray(lm, np.float64)
                kept.append(_Track(np.asarray(box, np.float64), float(score), filt(lm) if filt else lm, filt))
        self.tracks = kept
        out = [(t.box.copy(), t.score, t.landmarks.copy()) for t in self.tracks]
        return sorted(out, key=lambda f: (float(f[0][0]), float(f[0][1])))
