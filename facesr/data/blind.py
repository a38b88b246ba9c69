"""Random image operations for blind (real-world-like) LR synthesis, and SPARNetHD's two presets.

An *op* is one step of a :class:`facesr.data.degrade.Pipeline`, declared as a JSON-able dict::

    {"op": "blur", "p": 0.5, "type": "any", "sigma": [3, 15], "k": [3, 15], "length": [5, 25]}

Every op works on a uint8 ``H x W x 3`` array and returns one, and draws all its randomness from the
``numpy.random.Generator`` it is given, in a fixed order: first ``rng.random()`` for its probability
``p`` (always drawn, so an op that is skipped consumes the same draw as one that runs), then, only if it
runs, its own parameters in the order listed below. The same generator state therefore always gives
the same LR image.

=============  =======================================================================================
op             options (ranges are ``[lo, hi]`` inclusive unless noted)
=============  =======================================================================================
``blur``       ``type``: ``gaussian`` (``sigma``, float range, pixels), ``box`` (``k``, int range),
               ``median`` (``k``, int range; an even draw becomes the next odd size, or the previous
               one at the top of the range), ``motion`` (``length``, int range, and an angle uniform in
               [0, 360) degrees), ``disk`` (defocus pillbox, ``radius``, float range, pixels), or ``any``
               (one of ``choices``, uniformly; default the first four: ``disk`` only when listed).
               Draws: [type index], then the size, then [angle].
``resize``     ``size``: an int, or ``[lo, hi)`` drawn with ``rng.integers(lo, hi)`` (hi excluded), or
               ``scale``: ``[lo, hi]`` uniform, size ``round(scale * H)``; ``interp``: a name or a list
               of names drawn uniformly (bicubic, bilinear, area = box, nearest, lanczos).
               Draws: size, then [interp index].
``noise``      additive white Gaussian noise, ``sigma`` ``[lo, hi]`` uniform in 0-255 units;
               ``per_channel_p``: probability of independent noise per channel (else one noise image
               added to all three channels). Draws: sigma, per-channel flag, the noise.
``jpeg``       PIL JPEG encode/decode at ``quality`` drawn from ``[lo, hi]`` (integers).
``grey``       PIL luma (ITU-R 601-2), copied to three channels. No draws.
``resize_to``  resize to ``size``: an int, or ``"lr"`` = the pipeline's ``lr_size`` (the input's size
               when the pipeline has none); ``interp`` as for ``resize``. Draws: [interp index].
=============  =======================================================================================

Resizing is PIL's (antialiased when shrinking; ``area`` is PIL's box filter, OpenCV's INTER_AREA
equivalent for downscaling). Filters are scipy.ndimage's with mirrored borders (OpenCV's default
``BORDER_REFLECT_101``), except the median, which is PIL's (edges replicated, as OpenCV's medianBlur).

Presets (:data:`PRESETS`) are lists of steps that :func:`facesr.data.degrade.make_degradation` turns
into a named pipeline:

* ``sparnethd_blind``: the degradation of SPARNetHD's released training code. With p 0.5 one of Gaussian
  blur (sigma 3-15), box blur (k 3-15), median blur (k 3-15) or motion blur (length 5-25); resize to a
  random size in ``size_range`` = [32, 128) with a random interpolation (one stored version of that
  code used [64, 128): ``size_range: [64, 128]``); with p 0.2 Gaussian noise sigma 0-25.5 (independent
  per channel half the time); with p 0.7 JPEG at quality 35-90 (the code's imgaug "compression"
  10-65, which is 100 minus the quality); resize back (bicubic) to the LR size, which for SPARNetHD is
  the HR size; grey with p 0.3.
* ``sparnethd_paper``: the paper's eq. 14, ``((I * k) down_s + n)_JPEG``, every step always applied:
  one of the same four blurs with the paper's ranges (Gaussian 3-15, average 3-15, median 3-15, motion
  5-25); downscale by ``s`` uniform in [16/512, 128/512]; AWGN sigma 0-25.5, independent per channel;
  JPEG "compression level" 60-85, i.e. quality 15-40. Where the paper is silent we chose: PIL bicubic
  for the downscale and for the resize back to the LR size (SPARNetHD takes a 512 px input), and
  per-channel noise (white noise on each colour channel).
* ``sparnethd_lite``: ours, for the 128 px CPU preset ``sparnethd-lite``: the released code's chain with
  its blur sizes divided by 4 (512 -> 128 px: Gaussian sigma 0.75-3.75, box 2-4, median 3-5, motion
  3-7) and a milder downscale, to a size in [24, 128) (x1-5.3 instead of the code's x4-16: at 128 px the
  code's range would make every face a 8-32 px one, while ``facesr enhance`` hands the model face crops
  of any size and sends tiny ones through a x8 model first); noise p 0.3, sigma 0-20; JPEG p 0.7,
  quality 30-95; grey p 0.1 (the code's 0.3 spends a third of the batches on colourising).
  ``keep_p`` (default 0): the probability that a sample skips the resize and keeps the full
  resolution (blur, noise and JPEG still apply), as Real-ESRGAN keeps the size of some of its samples:
  a model that has seen sharp full-size inputs learns to leave their detail alone.
* ``holdout_moderate``: a *test* chain kept out of every training preset, for "degradations you did not
  train on": defocus (disk) blur of radius 0.8-1.6 px at the HR size, a downscale by ``scale`` (0.5)
  with Lanczos (no training preset uses either), Gaussian noise sigma 3-10 on all channels at once,
  JPEG quality 50-80, then (``back=True``) bicubic back to the LR size.
* ``holdout_mild``: the same test family, milder: noise sigma 1-4 and JPEG quality 75-90 (blur, Lanczos
  downscale and options as ``holdout_moderate``). Its parameters are calibrated to the reference point
  of "realistic tiny faces" in the project's issues: the x8 ``default``'s gain over bicubic upsampling
  on Helen-50 at 16 px (``holdout_moderate`` at 16 px is far harsher); the calibration, its target and
  its figures: ``docs/san.md``. Kept out of every training preset, like ``holdout_moderate``.
"""
from __future__ import annotations

import io
import math

import numpy as np

from ..errors import ConfigError

__all__ = ["OPS", "make_op", "PRESETS", "preset_steps", "motion_kernel"]

_INTERP = {"bicubic": 3, "bilinear": 2, "area": 4, "box": 4, "nearest": 0, "lanczos": 1}  # PIL constants
_BLURS = ("gaussian", "box", "median", "motion")  # the four blurs of SPARNetHD ("any" draws from these)
_ALL_BLURS = _BLURS + ("disk",)  # disk (defocus) is never in a default "any": our held-out test chains use it


def _to_uint8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _num_range(op: str, key: str, v, integer: bool, lo_min: float = 0.0) -> list:
    """``v`` (a number or [lo, hi]) as a JSON-able [lo, hi] list, checked."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = [v, v]
    if not (isinstance(v, (list, tuple)) and len(v) == 2
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)):
        raise ConfigError(f"degradation op {op!r}: {key} must be a number or [lo, hi], got {v!r}")
    lo, hi = v
    if integer and (lo != int(lo) or hi != int(hi)):
        raise ConfigError(f"degradation op {op!r}: {key} must be whole numbers, got {v!r}")
    if lo > hi or lo < lo_min:
        raise ConfigError(f"degradation op {op!r}: {key} must be [lo, hi] with {lo_min:g} <= lo <= hi, got {v!r}")
    return [int(lo), int(hi)] if integer else [float(lo), float(hi)]


def _interp_list(op: str, v) -> list[str]:
    names = [v] if isinstance(v, str) else list(v) if isinstance(v, (list, tuple)) else None
    if not names or any(not isinstance(n, str) or n not in _INTERP for n in names):
        raise ConfigError(f"degradation op {op!r}: interp must be one of {', '.join(_INTERP)} "
                          f"or a list of them, got {v!r}")
    return names


def _pick_interp(names: list[str], rng: np.random.Generator) -> str:
    return names[0] if len(names) == 1 else names[int(rng.integers(len(names)))]


def _pil_resize(img: np.ndarray, h: int, w: int, interp: str) -> np.ndarray:
    from PIL import Image

    if img.shape[0] == h and img.shape[1] == w:
        return img
    return np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize((w, h), resample=_INTERP[interp]))


class Op:
    """One pipeline step. Subclasses set ``name``, ``DEFAULTS`` and implement :meth:`run`."""

    name = "op"
    DEFAULTS: dict = {}

    def __init__(self, **opts):
        bad = sorted(set(opts) - set(self.DEFAULTS) - {"p"})
        if bad:
            raise ConfigError(f"degradation op {self.name!r} has no option {', '.join(map(repr, bad))}; "
                              f"valid: p, {', '.join(self.DEFAULTS)}")
        p = opts.pop("p", 1.0)
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ConfigError(f"degradation op {self.name!r}: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self.opts = self.check({**self.DEFAULTS, **opts})

    def check(self, o: dict) -> dict:
        return o

    def __call__(self, img: np.ndarray, rng: np.random.Generator, ctx: dict) -> np.ndarray:
        if rng.random() >= self.p:
            return img
        return self.run(img, rng, ctx)

    def run(self, img, rng, ctx):  # pragma: no cover - abstract
        raise NotImplementedError

    def spec(self) -> dict:
        return {"op": self.name, "p": self.p, **{k: v for k, v in self.opts.items() if v is not None}}

    def describe(self) -> str:
        return self.name + ("" if self.p >= 1.0 else f" p{self.p:g}")


# ------------------------------------------------------------------ blur
def motion_kernel(length: int, angle_deg: float) -> np.ndarray:
    """A normalised ``K x K`` (K = length rounded up to odd) line kernel of ``length`` pixels through
    the centre at ``angle_deg`` (counter-clockwise from the x axis), drawn with bilinear weights."""
    k = length | 1
    c = k // 2
    t = np.linspace(-(length - 1) / 2.0, (length - 1) / 2.0, 8 * length + 1)
    a = math.radians(angle_deg)
    xs, ys = c + t * math.cos(a), c - t * math.sin(a)
    ker = np.zeros((k, k), np.float64)
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            yy, xx = np.clip(y0 + dy, 0, k - 1), np.clip(x0 + dx, 0, k - 1)
            np.add.at(ker, (yy, xx), wy * wx)
    return ker / ker.sum()


def disk_kernel(radius: float, supersample: int = 8) -> np.ndarray:
    """A normalised defocus (pillbox) kernel of ``radius`` pixels, edge pixels weighted by the share of
    their area inside the circle (``supersample``^2 sub-samples per pixel)."""
    r = int(math.ceil(radius - 1e-9))
    n = 2 * r + 1
    sub = (np.arange(n * supersample) + 0.5) / supersample - (r + 0.5)
    inside = (sub[:, None] ** 2 + sub[None, :] ** 2) <= radius ** 2
    ker = inside.reshape(n, supersample, n, supersample).mean(axis=(1, 3))
    return ker / ker.sum()


def _correlate_sparse(img: np.ndarray, ker: np.ndarray) -> np.ndarray:
    """``img`` (H x W x C float) correlated with a mostly-zero odd kernel, mirrored borders."""
    r = ker.shape[0] // 2
    h, w = img.shape[:2]
    pad = np.pad(img, ((r, r), (r, r), (0, 0)), mode="reflect")
    out = np.zeros_like(img)
    for dy, dx in zip(*np.nonzero(ker > 1e-6)):
        out += ker[dy, dx] * pad[dy:dy + h, dx:dx + w]
    return out


class Blur(Op):
    name = "blur"
    DEFAULTS = {"type": "any", "sigma": [3.0, 15.0], "k": [3, 15], "length": [5, 25], "radius": [1.0, 4.0],
                "choices": list(_BLURS)}

    def check(self, o):
        if o["type"] not in _ALL_BLURS + ("any",):
            raise ConfigError(f"degradation op 'blur': type must be one of {', '.join(_ALL_BLURS)}, any; "
                              f"got {o['type']!r}")
        o["sigma"] = _num_range("blur", "sigma", o["sigma"], False, 1e-6)
        o["k"] = _num_range("blur", "k", o["k"], True, 1)
        o["length"] = _num_range("blur", "length", o["length"], True, 1)
        o["radius"] = _num_range("blur", "radius", o["radius"], False, 0.5)
        ch = o["choices"]
        if not isinstance(ch, (list, tuple)) or not ch or any(c not in _ALL_BLURS for c in ch):
            raise ConfigError(f"degradation op 'blur': choices must be a list of {', '.join(_ALL_BLURS)}, "
                              f"got {ch!r}")
        o["choices"] = list(ch)
        return o

    def run(self, img, rng, ctx):
        import scipy.ndimage as ndi

        o = self.opts
        t = o["type"] if o["type"] != "any" else o["choices"][int(rng.integers(len(o["choices"])))]
        if t == "gaussian":
            s = float(rng.uniform(*o["sigma"]))
            return _to_uint8(ndi.gaussian_filter(img.astype(np.float32), sigma=(s, s, 0), mode="mirror"))
        if t == "box":
            k = int(rng.integers(o["k"][0], o["k"][1] + 1))
            return _to_uint8(ndi.uniform_filter(img.astype(np.float32), size=(k, k, 1), mode="mirror"))
        if t == "median":
            from PIL import Image, ImageFilter

            k = int(rng.integers(o["k"][0], o["k"][1] + 1))
            if k % 2 == 0:
                k = k + 1 if k + 1 <= o["k"][1] or k == 0 else k - 1
            if k <= 1:
                return img
            return np.asarray(Image.fromarray(np.ascontiguousarray(img)).filter(ImageFilter.MedianFilter(k)))
        if t == "disk":
            r = float(rng.uniform(*o["radius"]))
            return _to_uint8(_correlate_sparse(img.astype(np.float32), disk_kernel(r).astype(np.float32)))
        n = int(rng.integers(o["length"][0], o["length"][1] + 1))
        angle = float(rng.uniform(0.0, 360.0))
        return _to_uint8(_correlate_sparse(img.astype(np.float32), motion_kernel(n, angle).astype(np.float32)))

    def describe(self):
        o = self.opts
        t = "/".join(o["choices"]) if o["type"] == "any" else o["type"]
        return f"blur {t}" + ("" if self.p >= 1.0 else f" p{self.p:g}")


# ------------------------------------------------------------------ resize
class Resize(Op):
    name = "resize"
    DEFAULTS = {"size": None, "scale": None, "interp": "bicubic"}

    def check(self, o):
        if (o["size"] is None) == (o["scale"] is None):
            raise ConfigError("degradation op 'resize' needs exactly one of size (int or [lo, hi)) "
                              "and scale ([lo, hi])")
        if o["size"] is not None:
            s = o["size"]
            if isinstance(s, int) and not isinstance(s, bool):
                if s < 1:
                    raise ConfigError(f"degradation op 'resize': size must be positive, got {s}")
            else:
                lo, hi = _num_range("resize", "size", s, True, 1)
                if hi <= lo:
                    raise ConfigError(f"degradation op 'resize': size [lo, hi) needs hi > lo, got {s!r}")
                o["size"] = [lo, hi]
        else:
            o["scale"] = _num_range("resize", "scale", o["scale"], False, 1e-6)
        o["interp"] = _interp_list("resize", o["interp"])
        return o

    def run(self, img, rng, ctx):
        o = self.opts
        h, w = img.shape[:2]
        if o["size"] is not None:
            n = o["size"] if isinstance(o["size"], int) else int(rng.integers(o["size"][0], o["size"][1]))
            oh = ow = n
        else:
            s = float(rng.uniform(*o["scale"]))
            oh, ow = max(1, round(s * h)), max(1, round(s * w))
        return _pil_resize(img, oh, ow, _pick_interp(o["interp"], rng))

    def describe(self):
        o = self.opts
        if o["size"] is None:
            to = f"x{o['scale'][0]:.3g}-{o['scale'][1]:.3g}"
        else:
            to = str(o["size"]) if isinstance(o["size"], int) else f"[{o['size'][0]},{o['size'][1]})"
        how = o["interp"][0] if len(o["interp"]) == 1 else "random interp"
        return f"resize {to} {how}" + ("" if self.p >= 1.0 else f" p{self.p:g}")


class ResizeTo(Op):
    name = "resize_to"
    DEFAULTS = {"size": "lr", "interp": "bicubic"}

    def check(self, o):
        s = o["size"]
        if not (s == "lr" or (isinstance(s, int) and not isinstance(s, bool) and s > 0)):
            raise ConfigError(f"degradation op 'resize_to': size must be a positive int or 'lr', got {s!r}")
        o["interp"] = _interp_list("resize_to", o["interp"])
        return o

    def run(self, img, rng, ctx):
        s = self.opts["size"]
        h, w = ctx["target"] if s == "lr" else (s, s)
        return _pil_resize(img, h, w, _pick_interp(self.opts["interp"], rng))

    def describe(self):
        return f"resize to {self.opts['size']}"


# ------------------------------------------------------------------ noise, jpeg, grey
class Noise(Op):
    name = "noise"
    DEFAULTS = {"sigma": [0.0, 25.5], "per_channel_p": 1.0}

    def check(self, o):
        o["sigma"] = _num_range("noise", "sigma", o["sigma"], False)
        pc = o["per_channel_p"]
        if isinstance(pc, bool) or not isinstance(pc, (int, float)) or not 0.0 <= pc <= 1.0:
            raise ConfigError(f"degradation op 'noise': per_channel_p must be in [0, 1], got {pc!r}")
        o["per_channel_p"] = float(pc)
        return o

    def run(self, img, rng, ctx):
        s = float(rng.uniform(*self.opts["sigma"]))
        per_channel = rng.random() < self.opts["per_channel_p"]
        h, w, c = img.shape
        n = rng.standard_normal((h, w, c if per_channel else 1), dtype=np.float32) * s
        return _to_uint8(img.astype(np.float32) + n)

    def describe(self):
        return f"noise {self.opts['sigma'][0]:g}-{self.opts['sigma'][1]:g}" + \
            ("" if self.p >= 1.0 else f" p{self.p:g}")


class Jpeg(Op):
    name = "jpeg"
    DEFAULTS = {"quality": [35, 90]}

    def check(self, o):
        o["quality"] = _num_range("jpeg", "quality", o["quality"], True, 1)
        if o["quality"][1] > 100:
            raise ConfigError(f"degradation op 'jpeg': quality must be within [1, 100], got {o['quality']}")
        return o

    def run(self, img, rng, ctx):
        from PIL import Image

        q = int(rng.integers(self.opts["quality"][0], self.opts["quality"][1] + 1))
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(img)).save(buf, format="JPEG", quality=q)
        buf.seek(0)
        with Image.open(buf) as im:
            return np.asarray(im.convert("RGB"))

    def describe(self):
        return f"jpeg q{self.opts['quality'][0]}-{self.opts['quality'][1]}" + \
            ("" if self.p >= 1.0 else f" p{self.p:g}")


class Grey(Op):
    name = "grey"
    DEFAULTS: dict = {}

    def run(self, img, rng, ctx):
        from PIL import Image

        g = np.asarray(Image.fromarray(np.ascontiguousarray(img)).convert("L"))
        return np.repeat(g[:, :, None], 3, axis=2)


OPS: dict[str, type] = {c.name: c for c in (Blur, Resize, Noise, Jpeg, Grey, ResizeTo)}


def make_op(spec: dict) -> Op:
    """An op from its dict (``{"op": NAME, "p": ..., options...}``); errors are ConfigError."""
    if not isinstance(spec, dict) or "op" not in spec:
        raise ConfigError(f"a pipeline step must be a mapping with an 'op' key ({', '.join(OPS)}), got {spec!r}")
    spec = dict(spec)
    name = spec.pop("op")
    if name not in OPS:
        raise ConfigError(f"unknown degradation op {name!r}; known: {', '.join(OPS)}")
    return OPS[name](**spec)


# ------------------------------------------------------------------ SPARNetHD presets
_FOUR_BLURS = {"op": "blur", "type": "any", "sigma": [3.0, 15.0], "k": [3, 15], "length": [5, 25],
               "choices": list(_BLURS)}


def _sparnethd_blind(size_range=(32, 128)) -> list[dict]:
    lo, hi = _num_range("sparnethd_blind", "size_range", list(size_range), True, 1)
    if hi <= lo:
        raise ConfigError(f"degradation 'sparnethd_blind': size_range [lo, hi) needs hi > lo, got {size_range!r}")
    return [
        {**_FOUR_BLURS, "p": 0.5},
        {"op": "resize", "p": 1.0, "size": [lo, hi], "interp": ["bicubic", "bilinear", "area", "nearest"]},
        {"op": "noise", "p": 0.2, "sigma": [0.0, 25.5], "per_channel_p": 0.5},
        {"op": "jpeg", "p": 0.7, "quality": [35, 90]},
        {"op": "resize_to", "p": 1.0, "size": "lr", "interp": "bicubic"},
        {"op": "grey", "p": 0.3},
    ]


def _sparnethd_paper() -> list[dict]:
    return [
        {**_FOUR_BLURS, "p": 1.0},
        {"op": "resize", "p": 1.0, "scale": [16 / 512, 128 / 512], "interp": "bicubic"},
        {"op": "noise", "p": 1.0, "sigma": [0.0, 25.5], "per_channel_p": 1.0},
        {"op": "jpeg", "p": 1.0, "quality": [15, 40]},
        {"op": "resize_to", "p": 1.0, "size": "lr", "interp": "bicubic"},
    ]


def _sparnethd_lite(size_range=(24, 128), keep_p=0.0) -> list[dict]:
    lo, hi = _num_range("sparnethd_lite", "size_range", list(size_range), True, 1)
    if hi <= lo:
        raise ConfigError(f"degradation 'sparnethd_lite': size_range [lo, hi) needs hi > lo, got {size_range!r}")
    if isinstance(keep_p, bool) or not isinstance(keep_p, (int, float)) or not 0.0 <= keep_p <= 1.0:
        raise ConfigError(f"degradation 'sparnethd_lite': keep_p must be a probability in [0, 1], got {keep_p!r}")
    return [
        {"op": "blur", "p": 0.5, "type": "any", "sigma": [0.75, 3.75], "k": [2, 4], "length": [3, 7],
         "choices": list(_BLURS)},
        {"op": "resize", "p": 1.0 - float(keep_p), "size": [lo, hi],
         "interp": ["bicubic", "bilinear", "area", "nearest"]},
        {"op": "noise", "p": 0.3, "sigma": [0.0, 20.0], "per_channel_p": 0.5},
        {"op": "jpeg", "p": 0.7, "quality": [30, 95]},
        {"op": "resize_to", "p": 1.0, "size": "lr", "interp": "bicubic"},
        {"op": "grey", "p": 0.1},
    ]


def _holdout(name, scale, back, sigma, quality) -> list[dict]:
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not 0.0 < scale <= 1.0:
        raise ConfigError(f"degradation '{name}': scale must be in (0, 1], got {scale!r}")
    steps = [
        {"op": "blur", "p": 1.0, "type": "disk", "radius": [0.8, 1.6]},
        {"op": "resize", "p": 1.0, "scale": [float(scale), float(scale)], "interp": "lanczos"},
        {"op": "noise", "p": 1.0, "sigma": list(sigma), "per_channel_p": 0.0},
        {"op": "jpeg", "p": 1.0, "quality": list(quality)},
    ]
    if back:
        steps.append({"op": "resize_to", "p": 1.0, "size": "lr", "interp": "bicubic"})
    return steps


def _holdout_moderate(scale=0.5, back=True) -> list[dict]:
    return _holdout("holdout_moderate", scale, back, (3.0, 10.0), (50, 80))


def _holdout_mild(scale=0.5, back=True) -> list[dict]:
    return _holdout("holdout_mild", scale, back, (1.0, 4.0), (75, 90))


#: preset name -> (steps factory taking the preset's options, one-line description)
PRESETS: dict[str, tuple] = {
    "sparnethd_blind": (_sparnethd_blind, "SPARNetHD blind (released code)"),
    "sparnethd_paper": (_sparnethd_paper, "SPARNetHD blind (paper eq. 14)"),
    "sparnethd_lite": (_sparnethd_lite, "SPARNetHD-lite blind (ours, 128 px)"),
    "holdout_moderate": (_holdout_moderate, "held-out test chain (disk blur, Lanczos, noise, JPEG)"),
    "holdout_mild": (_holdout_mild, "held-out test chain, milder noise and JPEG (disk blur, Lanczos)"),
}


def preset_steps(name: str, **opts) -> list[dict]:
    """The step list of a named preset; unknown options are a ConfigError naming the valid ones."""
    import inspect

    fn = PRESETS[name][0]
    valid = list(inspect.signature(fn).parameters)
    bad = sorted(set(opts) - set(valid))
    if bad:
        raise ConfigError(f"degradation {name!r} has no option {', '.join(map(repr, bad))}; "
                          f"valid: {', '.join(['lr_size'] + valid)}")
    return fn(**opts)
