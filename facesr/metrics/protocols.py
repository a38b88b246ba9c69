"""Named PSNR/SSIM protocols, each reproducing one paper's evaluation code.

Face SR papers report numbers that are not comparable across papers because
every code base turns network outputs into metric inputs differently.  A
:class:`Protocol` spells one such recipe out; :func:`evaluate` and
:class:`MetricAccumulator` apply it.  All our own tables use
:data:`DEFAULT_PROTOCOL` (``"facesr"``).

Pipeline per image (inputs HxWx3 floats in [0, 1], or uint8 = already
quantised 0..255, which skips the first three steps):

1. ``x * 255`` in float64;
2. ``clamp``: clip to [0, 255];
3. ``quantize``: RGB to integers by ``"round"`` (half to even, as
   ``torch.round``/``np.round``), ``"trunc"`` (``.astype(np.uint8)``) or not
   at all (``"none"``);
4. ``channel``: ``"y"`` -> BT.601 luma with ``y_quantize`` (see
   :func:`facesr.metrics.core.rgb_to_y`); ``"rgb"`` -> the three channels;
5. ``crop``: drop that many pixels on every side;
6. ``uint8_wrap`` (only ``"dic-released"``): planes become (256 - v) mod 256;
7. PSNR (data range 255) and SSIM (``ssim_variant``, data range 255) per
   image, and MS-SSIM (always computed, on the same planes, ``ms_ssim_variant``);
8. averaging: ``psnr_average="image"`` -> mean of per-image values;
   ``"batch16"`` (PFSR) -> the images are taken in order in batches of 16
   (the last one may be smaller); per batch PSNR = PSNR of the pooled MSE,
   SSIM = mean over the batch, MS-SSIM = combination of the batch-mean
   per-scale ssim/cs terms (PFSR computes MS-SSIM on the whole batch tensor);
   the reported value is the mean over batches.  Per-image lists are always
   per image.

Where our float64 arithmetic departs from a paper's code (PFSR and KDFSRNet
ran in float32/float64 torch or float32 OpenCV), differences are at the
1e-4 dB level or below.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Dict, Iterable, List, Sequence, Union

import numpy as np

from facesr.errors import ConfigError

from . import core

__all__ = [
    "Protocol",
    "PROTOCOLS",
    "DEFAULT_PROTOCOL",
    "UnknownProtocolError",
    "get_protocol",
    "preprocess",
    "evaluate",
    "MetricAccumulator",
]

_DATA_RANGE = 255.0
_PFSR_BATCH = 16


@dataclass(frozen=True)
class Protocol:
    """One evaluation recipe (see the module docstring for the pipeline).

    name: registry key.
    channel: ``"y"`` (BT.601 luma) or ``"rgb"`` (all three channels; SSIM and
        MS-SSIM averaged over channels, PSNR over all values).
    quantize: RGB quantisation of float inputs after ``x * 255``:
        ``"round"``, ``"trunc"`` or ``"none"``.
    clamp: clip RGB to [0, 255] before quantising.
    y_quantize: quantisation of Y (ignored for ``channel="rgb"``).
    crop: border pixels removed from each side before every metric.
    ssim_variant: ``"gaussian_valid"`` or ``"skimage"`` (:func:`core.ssim`).
    psnr_average: ``"image"`` or ``"batch16"`` (PFSR's per-batch averaging,
        applied to PSNR, SSIM and MS-SSIM alike, as PFSR's eval loop does).
    description: where the recipe comes from.
    ms_ssim_variant: ``"wang2003"`` or ``"pfsr"`` (:func:`core.combine_ms_ssim`).
    uint8_wrap: reproduce the released DIC code's uint8 overflow
        (``y_uint8 * 255`` wraps to (256 - Y) mod 256) on the planes.
    """

    name: str
    channel: str
    quantize: str
    clamp: bool
    y_quantize: str
    crop: int
    ssim_variant: str
    psnr_average: str
    description: str
    ms_ssim_variant: str = "wang2003"
    uint8_wrap: bool = False

    def __post_init__(self) -> None:
        checks = [
            ("channel", self.channel, ("y", "rgb")),
            ("quantize", self.quantize, core.Y_QUANTIZE),
            ("y_quantize", self.y_quantize, core.Y_QUANTIZE),
            ("ssim_variant", self.ssim_variant, core.SSIM_VARIANTS),
            ("psnr_average", self.psnr_average, ("image", "batch16")),
            ("ms_ssim_variant", self.ms_ssim_variant, core.MS_SSIM_VARIANTS),
        ]
        for field, value, allowed in checks:
            if value not in allowed:
                raise ValueError(f"Protocol.{field} must be one of {allowed}, got {value!r}")
        if not isinstance(self.crop, int) or self.crop < 0:
            raise ValueError(f"Protocol.crop must be a non-negative int, got {self.crop!r}")


PROTOCOLS: Dict[str, Protocol] = {
    p.name: p
    for p in [
        Protocol(
            name="facesr",
            channel="y",
            quantize="round",
            clamp=True,
            y_quantize="round",
            crop=0,
            ssim_variant="skimage",
            psnr_average="image",
            description=(
                "facesr project default: clamp, x255, round to uint8; Y = round(BT.601); "
                "no border crop; skimage Gaussian SSIM (sigma 1.5, population covariance). "
                "PIL-bicubic x8 baseline: Helen-50 23.65 dB / 0.662, CelebA-1000 23.48 dB / 0.635."
            ),
        ),
        Protocol(
            name="dic",
            channel="y",
            quantize="round",
            clamp=True,
            y_quantize="round",
            crop=8,
            ssim_variant="gaussian_valid",
            psnr_average="image",
            description=(
                "DIC benchmark (also DIC/KDFSRNet/PKDN tables on CelebA-1000/Helen-50), with the "
                "uint8 overflow fixed: clamp, x255, round; Y rounded; 8-px crop; 11x11 Gaussian "
                "'valid' SSIM, C1=(0.01*255)^2, C2=(0.03*255)^2."
            ),
        ),
        Protocol(
            name="dic-released",
            channel="y",
            quantize="round",
            clamp=True,
            y_quantize="round",
            crop=8,
            ssim_variant="gaussian_valid",
            psnr_average="image",
            description=(
                "DIC as released: like 'dic', but the code multiplies the uint8 Y plane by 255, "
                "which wraps to 256-Y, so SSIM is computed on 256-Y (PSNR is unaffected)."
            ),
            uint8_wrap=True,
        ),
        Protocol(
            name="sparnet",
            channel="y",
            quantize="trunc",
            clamp=True,
            y_quantize="trunc",
            crop=0,
            ssim_variant="skimage",
            psnr_average="image",
            description=(
                "SPARNet: clip, x255, uint8 by truncation; Y truncated to uint8; no crop; "
                "skimage SSIM (gaussian_weights, sigma 1.5, no sample covariance) on uint8 Y."
            ),
        ),
        Protocol(
            name="pfsr",
            channel="rgb",
            quantize="none",
            clamp=False,
            y_quantize="none",
            crop=0,
            ssim_variant="gaussian_valid",
            psnr_average="batch16",
            description=(
                "PFSR: RGB floats, no clamp or quantisation, no crop; PSNR of the MSE over each "
                "batch of 16, averaged over batches (SSIM and MS-SSIM likewise per batch); "
                "11x11 Gaussian 'valid' SSIM per channel; MS-SSIM with the released code's "
                "combination (coarsest ssim term to the power 4*0.1333) and min(11, size) windows."
            ),
            ms_ssim_variant="pfsr",
        ),
        Protocol(
            name="kdfsr",
            channel="y",
            quantize="none",
            clamp=False,
            y_quantize="none",
            crop=8,
            ssim_variant="gaussian_valid",
            psnr_average="image",
            description=(
                "KDFSRNet/FishFSRNet: float outputs, no clamp, no quantisation, float Y; "
                "8-px crop; 11x11 Gaussian 'valid' SSIM (float64 here, float32 OpenCV there)."
            ),
        ),
    ]
}

DEFAULT_PROTOCOL = "facesr"


class UnknownProtocolError(ConfigError, ValueError):
    """A protocol name that is not in :data:`PROTOCOLS` (a ``ValueError`` too)."""


def get_protocol(name: Union[str, Protocol]) -> Protocol:
    """Look a protocol up by name (a :class:`Protocol` is returned as is)."""
    if isinstance(name, Protocol):
        return name
    try:
        return PROTOCOLS[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(PROTOCOLS))
        raise UnknownProtocolError(f"unknown metric protocol {name!r}; valid names: {valid}") from None


# --------------------------------------------------------------------------
# preprocessing
# --------------------------------------------------------------------------
def preprocess(img, protocol: Union[str, Protocol]) -> np.ndarray:
    """Turn one HxWx3 image (float in [0, 1], or uint8) into the float64
    plane(s) the protocol measures: HxW for ``"y"``, HxWx3 for ``"rgb"``."""
    p = get_protocol(protocol)
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"expected an HxWx3 image, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        rgb = arr.astype(np.float64)
    else:
        if not np.issubdtype(arr.dtype, np.floating):
            raise TypeError(f"expected a float image in [0, 1] or a uint8 image, got dtype {arr.dtype}")
        rgb = arr.astype(np.float64) * 255.0
        if p.clamp:
            rgb = np.clip(rgb, 0.0, 255.0)
        if p.quantize == "round":
            rgb = np.round(rgb)
        elif p.quantize == "trunc":
            rgb = np.trunc(rgb)
    plane = core.rgb_to_y(rgb, quantize=p.y_quantize) if p.channel == "y" else rgb
    if p.crop:
        c = p.crop
        if plane.shape[0] <= 2 * c or plane.shape[1] <= 2 * c:
            raise ValueError(f"image {plane.shape[:2]} too small for a {c}-px border crop")
        plane = plane[c:-c, c:-c]
    if p.uint8_wrap:
        plane = np.mod(-plane, 256.0)
    return plane


# --------------------------------------------------------------------------
# batch conversion
# --------------------------------------------------------------------------
def _is_torch_tensor(x) -> bool:
    torch = sys.modules.get("torch")  # never import torch just to check
    return torch is not None and isinstance(x, torch.Tensor)


def _to_images(x) -> List[np.ndarray]:
    """Split a batch into a list of HxWx3 numpy arrays.

    torch tensors: NCHW or CHW (uint8 kept as uint8, anything else float64).
    numpy arrays: NHWC / HWC when the last axis is 3, else NCHW / CHW.
    lists / tuples: one image (any of the above single-image forms) each.
    """
    if isinstance(x, (list, tuple)):
        out: List[np.ndarray] = []
        for item in x:
            imgs = _to_images(item)
            if len(imgs) != 1:
                raise ValueError("list elements must be single images")
            out.extend(imgs)
        return out
    if _is_torch_tensor(x):
        t = x.detach().cpu()
        if t.ndim not in (3, 4):
            raise ValueError(f"expected an NCHW or CHW tensor, got shape {tuple(t.shape)}")
        if t.ndim == 3:
            t = t.unsqueeze(0)
        arr = t.numpy() if str(t.dtype) == "torch.uint8" else t.double().numpy()
        if arr.shape[1] != 3:
            raise ValueError(f"expected 3 channels in NCHW, got shape {arr.shape}")
        arr = np.transpose(arr, (0, 2, 3, 1))
        return list(arr)
    arr = np.asarray(x)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4:
        raise ValueError(f"expected an NHWC/NCHW batch or an HWC/CHW image, got shape {arr.shape}")
    if arr.shape[-1] != 3:
        if arr.shape[1] != 3:
            raise ValueError(f"no axis of size 3 (RGB) at position 1 or -1 in shape {arr.shape}")
        arr = np.transpose(arr, (0, 2, 3, 1))
    return list(arr)


# --------------------------------------------------------------------------
# accumulation
# --------------------------------------------------------------------------
def _mean(values: Iterable[float]) -> float:
    v = list(values)
    return float(np.mean(v)) if v else float("nan")


class MetricAccumulator:
    """Collects per-image statistics batch by batch; :meth:`compute` gives the
    same dict as :func:`evaluate` over all images seen, in order.

    >>> acc = MetricAccumulator("facesr")          # doctest: +SKIP
    >>> for lr, hr in loader:                      # doctest: +SKIP
    ...     acc.update(model(lr).clamp(0, 1), hr)
    >>> acc.compute()["psnr"]                      # doctest: +SKIP
    """

    def __init__(self, protocol: Union[str, Protocol] = DEFAULT_PROTOCOL):
        self.protocol = get_protocol(protocol)
        self.reset()

    def reset(self) -> None:
        self._sse: List[float] = []
        self._n: List[int] = []
        self._psnr: List[float] = []
        self._ssim: List[float] = []
        self._ms_s: List[np.ndarray] = []
        self._ms_cs: List[np.ndarray] = []

    def __len__(self) -> int:
        return len(self._psnr)

    def update_one(self, sr, hr) -> None:
        """Add one HxWx3 pair (float in [0, 1] or uint8)."""
        p = self.protocol
        a = preprocess(sr, p)
        b = preprocess(hr, p)
        if a.shape != b.shape:
            raise ValueError(f"SR and HR shapes differ: {a.shape} vs {b.shape}")
        d = a - b
        sse = float(np.sum(d * d))
        self._sse.append(sse)
        self._n.append(d.size)
        self._psnr.append(core.psnr(a, b, _DATA_RANGE))
        self._ssim.append(core.ssim(a, b, data_range=_DATA_RANGE, variant=p.ssim_variant))
        s, cs = core.ms_ssim_components(a, b, _DATA_RANGE)
        self._ms_s.append(s)
        self._ms_cs.append(cs)

    def update(self, sr, hr) -> None:
        """Add a batch: torch NCHW (or CHW) tensors, numpy NHWC/NCHW arrays,
        or lists of HxWx3 images; floats in [0, 1] or uint8."""
        srs, hrs = _to_images(sr), _to_images(hr)
        if len(srs) != len(hrs):
            raise ValueError(f"{len(srs)} SR images but {len(hrs)} HR images")
        for a, b in zip(srs, hrs):
            self.update_one(a, b)

    def _ms(self, idx: Sequence[int]) -> float:
        s = np.mean([self._ms_s[i] for i in idx], axis=0)
        cs = np.mean([self._ms_cs[i] for i in idx], axis=0)
        return core.combine_ms_ssim(s, cs, variant=self.protocol.ms_ssim_variant)

    def compute(self) -> Dict[str, object]:
        n = len(self)
        if n == 0:
            raise ValueError("no images were added")
        p = self.protocol
        ms_per_image = [self._ms([i]) for i in range(n)]
        out: Dict[str, object] = {"protocol": p.name, "n_images": n}
        if p.psnr_average == "image":
            out["psnr"] = _mean(self._psnr)
            out["ssim"] = _mean(self._ssim)
            out["ms_ssim"] = _mean(ms_per_image)
        else:  # batch16
            batches = [list(range(i, min(i + _PFSR_BATCH, n))) for i in range(0, n, _PFSR_BATCH)]
            psnr_b, ssim_b, ms_b = [], [], []
            for idx in batches:
                m = sum(self._sse[i] for i in idx) / sum(self._n[i] for i in idx)
                psnr_b.append(math.inf if m == 0 else 10.0 * math.log10(_DATA_RANGE**2 / m))
                ssim_b.append(_mean(self._ssim[i] for i in idx))
                ms_b.append(self._ms(idx))
            out["psnr"] = _mean(psnr_b)
            out["ssim"] = _mean(ssim_b)
            out["ms_ssim"] = _mean(ms_b)
            out["psnr_per_batch"] = psnr_b
        out["psnr_per_image"] = list(self._psnr)
        out["ssim_per_image"] = list(self._ssim)
        out["ms_ssim_per_image"] = ms_per_image
        return out


def evaluate(sr_list, hr_list, protocol: Union[str, Protocol] = DEFAULT_PROTOCOL) -> Dict[str, object]:
    """Mean PSNR / SSIM / MS-SSIM of SR against HR under ``protocol``.

    ``sr_list``, ``hr_list``: equal-length sequences of HxWx3 arrays, floats
    in [0, 1] or uint8 (already quantised); an NHWC array also works.
    Returns ``{"psnr", "ssim", "ms_ssim", "psnr_per_image", "ssim_per_image",
    "ms_ssim_per_image", "n_images", "protocol"}`` (plus ``"psnr_per_batch"``
    for batch-averaged protocols).  PSNR is in dB with peak 255 on the
    0..255 planes (``inf`` for an identical pair).
    """
    acc = MetricAccumulator(protocol)
    srs = _to_images(sr_list if hasattr(sr_list, "shape") else list(sr_list))
    hrs = _to_images(hr_list if hasattr(hr_list, "shape") else list(hr_list))
    if len(srs) != len(hrs):
        raise ValueError(f"{len(srs)} SR images but {len(hrs)} HR images")
    for a, b in zip(srs, hrs):
        acc.update_one(a, b)
    return acc.compute()
