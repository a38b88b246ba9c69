"""Face-specific metrics the papers use beyond PSNR/SSIM.

* **Landmark accuracy** (SPARNet Table I, following Bulat & Tzimiropoulos): 68 landmarks detected on SR
  and on HR faces with the same detector; the HR landmarks are the reference. Per face,
  NME = mean point-to-point error / sqrt(w * h) of the reference landmarks' bounding box; the score is
  the area under the cumulative error curve up to 10 % (AUC@0.1, in %). SPARNet used FAN; we use dlib's
  68-point predictor, the one offline detector here, so absolute figures differ from the paper's.
* **Landmark NME** of a landmark network against a teacher (PFSR Table 1: the distilled FAN against FAN):
  :func:`landmark_nme`, normalised by the image side (PFSR's), the inter-ocular distance or the box.
* **Identity similarity** (SPARNet Table I used SphereFace): cosine similarity of face embeddings of SR
  and HR; we use dlib's ResNet face descriptor (128-d).
* **Fréchet identity distance** (FID-like, *not* FID): the Fréchet distance between Gaussians fitted to
  the identity embeddings of SR and of HR faces. Named ``fid_dlib`` so it is never mistaken for FID.
* **LPIPS / FID** are not offered: their standard implementations need ImageNet weights (and
  torchvision) that no registry package ships; ``fid_dlib`` is the offline stand-in.
"""
from __future__ import annotations

import numpy as np



def nme(pred: np.ndarray, ref: np.ndarray) -> float:
    """Normalised mean error of (68, 2) landmarks, by sqrt(w*h) of the reference's bounding box."""
    pred, ref = np.asarray(pred, np.float64), np.asarray(ref, np.float64)
    w, h = ref.max(0) - ref.min(0)
    d = np.sqrt(max(w * h, 1e-12))
    return float(np.linalg.norm(pred - ref, axis=1).mean() / d)


#: iBUG 68 indices of the outer eye corners (image left, image right): the inter-ocular distance
OUTER_EYE_CORNERS = (36, 45)


def landmark_nme(pred, ref, norm: str = "size", size: float | None = None) -> np.ndarray:
    """Per-face normalised mean error of landmarks ``N x K x 2`` (or ``K x 2``) against reference ones:
    ``mean_k ||p_k - g_k||_2 / d`` (float64 ``N``; a fraction: x 100 for %).

    ``norm``: ``size``: ``d`` = the image side ``size`` in px (PFSR's Table 1: "d is the facial image
    size"); ``interocular``: ``d`` = distance of the reference's outer eye corners (iBUG 36, 45: 68
    points); ``bbox``: ``sqrt(w h)`` of the reference's bounding box (as :func:`nme`).
    """
    p, g = np.asarray(pred, np.float64), np.asarray(ref, np.float64)
    if p.shape != g.shape or p.ndim not in (2, 3) or p.shape[-1] != 2:
        raise ValueError(f"landmarks must both be N x K x 2 (or K x 2), got {p.shape} and {g.shape}")
    if p.ndim == 2:
        p, g = p[None], g[None]
    err = np.linalg.norm(p - g, axis=2).mean(1)
    if norm == "size":
        if size is None or not float(size) > 0:
            raise ValueError(f"norm 'size' needs the image side in px, got {size!r}")
        d = np.full(len(g), float(size))
    elif norm == "interocular":
        if g.shape[1] != 68:
            raise ValueError(f"norm 'interocular' needs iBUG 68-point landmarks, got {g.shape[1]} points")
        a, b = OUTER_EYE_CORNERS
        d = np.linalg.norm(g[:, a] - g[:, b], axis=1)
    elif norm == "bbox":
        wh = g.max(1) - g.min(1)
        d = np.sqrt(wh[:, 0] * wh[:, 1])
    else:
        raise ValueError(f"norm must be size, interocular or bbox, got {norm!r}")
    return err / np.maximum(d, 1e-12)


def auc(nmes, threshold: float = 0.1, steps: int = 10001) -> float:
    """Area under the cumulative error distribution up to ``threshold``, normalised to [0, 1]."""
    e = np.sort(np.asarray(nmes, np.float64))
    if e.size == 0:
        return float("nan")
    t = np.linspace(0.0, threshold, steps)
    ced = np.searchsorted(e, t, side="right") / e.size
    return float(np.trapezoid(ced, t) / threshold)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets x, y (N x D)."""
    from scipy import linalg

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    covmean = covmean[0] if isinstance(covmean, tuple) else covmean
    if not np.isfinite(covmean).all():
        off = np.eye(s1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((s1 + off) @ (s2 + off))
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def _detect_reference_box(hr: np.ndarray):
    """The face box on the HR face (detected at x2, scaled back), or the whole image with a margin."""
    from ..faces import dlib_models as dm
    from ..data.resize import pil_resize

    h, w = hr.shape[:2]
    big = pil_resize(hr, (h * 2, w * 2), "bicubic")
    dets = dm.detect_faces(big, upsample=0)
    if dets:
        (x0, y0, x1, y1), _ = max(dets, key=lambda d: (d[0][2] - d[0][0]) * (d[0][3] - d[0][1]))
        return (x0 / 2, y0 / 2, x1 / 2, y1 / 2)
    m = 0.1
    return (w * m, h * m, w * (1 - m), h * (1 - m))


def face_metrics(srs, hrs, cache: dict | None = None) -> dict:
    """Landmark NME/AUC@10% and identity of SR faces against their HR faces (dlib models).

    The same face box (found on HR) is given to the landmark predictor for SR and HR, so the score
    measures the recovered face structure, not detection luck. ``cache`` (a dict kept across methods)
    holds each HR face's box, landmarks and embedding so they are computed once per test set.
    """
    from ..faces import dlib_models as dm

    cache = {} if cache is None else cache
    nmes, sims, dists, e_srs, e_hrs = [], [], [], [], []
    for i, (sr, hr) in enumerate(zip(srs, hrs)):
        if i not in cache:
            box = _detect_reference_box(hr)
            lm = dm.landmarks68(hr, box)
            cache[i] = (box, lm, dm.face_descriptor(hr, lm))
        box, lm_hr, e_hr = cache[i]
        lm_sr = dm.landmarks68(sr, box)
        e_sr = dm.face_descriptor(sr, lm_sr)
        nmes.append(nme(lm_sr, lm_hr))
        sims.append(cosine_similarity(e_sr, e_hr))
        dists.append(float(np.linalg.norm(e_sr - e_hr)))
        e_srs.append(e_sr)
        e_hrs.append(e_hr)
    out = {"nme": float(np.mean(nmes)), "auc10": 100.0 * auc(nmes, 0.1), "identity": float(np.mean(sims)),
           "id_dist": float(np.mean(dists)), "same_id": 100.0 * float(np.mean(np.asarray(dists) < 0.6)),
           "nme_per_image": nmes, "identity_per_image": sims}
    if len(e_srs) > 2:
        out["fid_dlib"] = frechet_distance(np.stack(e_srs), np.stack(e_hrs))
    return out
