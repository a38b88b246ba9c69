"""``recipe: heatmap``: a landmark-heatmap network trained by hint loss against a landmark teacher's
Gaussian heatmaps (PFSR's distilled FAN, ``model.name: fan-distilled``; IMPLEMENTATION_NOTES.md §1).

Config section (defaults are PFSR's where it has one; see ``facesr/configs/fan_distilled_lfw.yaml``)::

    heatmap:
      size: 64            # the student's training input, px: the HR face brought to this size by the
                          # split's LR synthesis (the preset's PIL bilinear cascade: PFSR's 64 px target)
      hr_size: 128        # the cached HR faces, px (PFSR's 128 px targets)
      sigma: 1.0          # Gaussian sigma of the target heatmaps, in heatmap (= input) pixels
      teacher: dlib       # dlib | a registered name | "package.module:function" (facesr.priors.landmarks)
      teacher_size: 256   # the teacher sees the student's `size` px face resized to this (PFSR's FAN:
                          # 64 px x4 = 256 px); 0: the cached HR face as it is
      val_sizes: [64, 128]  # validation NME at these input sizes (PFSR's Table 1)

Data: each sample holds the HR face (``hr``, ``hr_size`` px), the student's input (``lr``, ``size`` px,
made by ``data.train.degradation``, else the preset's bilinear cascade) and the teacher's landmarks
(``landmarks``, K x 2 in HR pixels). They come from ``data.<split>.landmarks``: a ``.npy`` file (N x K x 2
in HR pixels, row i = HR face i: a user's own landmark annotations) or ``auto`` (the default here): built
once per HR cache by ``heatmap.teacher`` seeing ``heatmap.teacher_size`` views
(:func:`facesr.priors.landmarks.landmarks_for_cache`). Flips and zooms apply to faces and landmarks alike.

Step: target = the landmarks rendered as Gaussians (peak 1, ``sigma``) at the input resolution
(K x size x size, :func:`facesr.priors.landmarks.render_heatmaps`); loss ``hint`` = mean squared error of
the student's heatmaps against it (PFSR's hint loss MSE(student(x), teacher(x))); one optimiser
``train.optimizer`` (PFSR: Adam 1e-4, batch 16).

Validation (``log.val_every``): NME in % of the image side (PFSR Table 1's normalisation) of the
student's landmarks (:func:`facesr.priors.landmarks.heatmap_landmarks`: argmax refined by a local
centroid) against the teacher's on the val split, at each of ``val_sizes``: the val faces brought to
that size by the split's LR synthesis (the HR face itself at ``hr_size``), the teacher's landmarks seen in
a view of that size (``size`` -> ``teacher_size``). Logged as ``val_nme<size>``; ``best.safetensors`` is
the lowest NME at ``size``; model files record the last validation.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import ConfigError
from ..trainer import MAIN, Trainer
from . import register_recipe

HEATMAP_DEFAULTS = {
    "size": 64,
    "hr_size": 128,
    "sigma": 1.0,
    "teacher": "dlib",
    "teacher_size": 256,
    "val_sizes": [64, 128],
}


def _pos_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


@contextlib.contextmanager
def data_sizes(net, hr_size: int, lr_size: int):
    """Within the block the network reads as an SR network from ``lr_size`` to ``hr_size`` (what the
    loop's data set-up asks of ``model``): the HR faces and the student's input made from them."""
    saved = {k: net.__dict__[k] for k in ("lr_size", "hr_size") if k in net.__dict__}
    net.hr_size, net.lr_size = hr_size, lr_size
    try:
        yield net
    finally:
        for k in ("lr_size", "hr_size"):
            if k in saved:
                setattr(net, k, saved[k])
            else:
                delattr(net, k)


def teacher_landmarks_file(cfg: dict, dcfg: dict, size: int, progress: bool = True) -> str:
    """A split's landmark file for the heatmap recipe: its ``landmarks`` file, or the teacher's (built
    once from the split's HR cache) for a view of ``size`` px (``heatmap.teacher_size`` 0: the HR face as
    cached). Failures are one-line ConfigErrors."""
    spec = dcfg.get("landmarks")
    if spec not in (None, "auto"):
        return spec
    if not dcfg.get("cache"):
        raise ConfigError("recipe heatmap: the teacher's landmarks are built from the split's HR cache: set "
                          "data.<split>.cache (or give data.<split>.landmarks: a .npy file)")
    from ...data.sources import limited_cache_path
    from ...priors.landmarks import landmarks_for_cache

    h = cfg["heatmap"]
    t = int(h["teacher_size"])
    cache = limited_cache_path(dcfg["cache"], int(dcfg.get("max_images") or 0))
    try:
        return str(landmarks_for_cache(cache, progress=progress, teacher=h["teacher"], size=size if t else 0,
                                       teacher_size=t))
    except (ImportError, RuntimeError, ValueError, TypeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"landmark teacher {h['teacher']!r} failed on {cache}: {msg}") from None


@register_recipe("heatmap")
class HeatmapRecipe(Trainer):
    """A heatmap network against a landmark teacher's Gaussian heatmaps; see the module docstring."""

    config_defaults = {
        "heatmap": HEATMAP_DEFAULTS,
        "train": {"batch_size": 16,
                  "optimizer": {"name": "adam", "lr": 1e-4, "betas": [0.9, 0.999], "weight_decay": 0.0}},
    }

    @classmethod
    def data_hr_size(cls, cfg: dict) -> int:
        return int(cfg["heatmap"]["hr_size"])  # the cached HR faces (the student's input is made from them)

    @classmethod
    def check_config(cls, cfg: dict) -> None:
        from ...priors.landmarks import get_teacher

        h = cfg["heatmap"]
        for k in ("size", "hr_size"):
            if not _pos_int(h[k]):
                raise ConfigError(f"heatmap.{k} must be a positive whole number of pixels, got {h[k]!r}")
        if h["size"] > h["hr_size"]:
            raise ConfigError(f"heatmap.size ({h['size']}) must not exceed heatmap.hr_size ({h['hr_size']})")
        if not (math.isfinite(float(h["sigma"])) and float(h["sigma"]) > 0):
            raise ConfigError(f"heatmap.sigma must be positive (heatmap pixels), got {h['sigma']!r}")
        if not (isinstance(h["teacher_size"], int) and not isinstance(h["teacher_size"], bool)
                and h["teacher_size"] >= 0):
            raise ConfigError(f"heatmap.teacher_size must be a whole number >= 0 (0: the HR face as cached), "
                              f"got {h['teacher_size']!r}")
        vs = h["val_sizes"]
        if not isinstance(vs, list) or not all(_pos_int(v) and v <= h["hr_size"] for v in vs):
            raise ConfigError(f"heatmap.val_sizes must be a list of sizes in px up to heatmap.hr_size "
                              f"({h['hr_size']}), got {vs!r}")
        get_teacher(h["teacher"])  # a mistyped teacher fails here, in one line
        for split in ("train", "val"):
            d = cfg["data"][split]
            if d["landmarks"] is None and (split == "train" or d["root"] or d["cache"]):
                d["landmarks"] = "auto"  # the teacher's, built from the split's cache

    # ------------------------------------------------------------------ set-up
    @property
    def hcfg(self) -> dict:
        return self.cfg["heatmap"]

    def build_data(self) -> None:
        with data_sizes(self.model, int(self.hcfg["hr_size"]), int(self.hcfg["size"])):
            super().build_data()
        self.val_refs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if self.val_set is not None and self.dist.is_main:
            self.prepare_validation()

    def teacher_file(self, dcfg: dict, size: int) -> str:
        """The landmark file of a split: its ``landmarks`` file, or the teacher's (built once) for a view
        of ``size`` px (``heatmap.teacher_size`` 0: the HR face as cached)."""
        return teacher_landmarks_file(self.cfg, dcfg, size, progress=self.progress and self.dist.is_main)

    @classmethod
    def data_prior_files(cls, cfg: dict, part: str, progress: bool = True) -> list[tuple[str, str]]:
        """The teacher's landmarks of the split at each size training reads them (train: ``heatmap.size``;
        val: every ``heatmap.val_sizes``), then the split's other ``auto`` priors."""
        d = cfg["data"][part]
        h = cfg["heatmap"]
        sizes = [int(h["size"])] if part == "train" else [int(s) for s in h["val_sizes"]]
        out = [("landmarks", teacher_landmarks_file(cfg, d, s, progress)) for s in sizes]
        return out + cls.auto_prior_files(d, progress, skip=("landmarks",))  # not dlib's on the HR faces

    def prior_file(self, dcfg: dict, name: str, spec) -> str:
        if name == "landmarks":
            return self.teacher_file(dcfg, int(self.hcfg["size"]))
        return super().prior_file(dcfg, name, spec)

    def sample_extras(self, dcfg: dict, n: int) -> dict:
        if dcfg is self.cfg["data"]["val"]:  # validation reads its landmarks per size (prepare_validation)
            dcfg = {**dcfg, "landmarks": None}
        return super().sample_extras(dcfg, n)

    def prepare_validation(self) -> None:
        """The val faces at every ``val_sizes`` size (uint8) and the teacher's landmarks of each (in that
        size's pixels)."""
        from ...data.degrade import make_degradation
        from ..trainer import _aligned_array

        v = self.cfg["data"]["val"]
        hr = self.val_set.hr
        n, src = len(hr), int(self.hcfg["hr_size"])
        seed = int(self.cfg["seed"])
        for s in self.hcfg["val_sizes"]:
            s = int(s)
            ref = np.asarray(_aligned_array(self.teacher_file(v, s), n, "val landmarks"), np.float64)
            ref = (ref + 0.5) * (s / src) - 0.5
            if s == src:
                imgs = np.asarray(hr)
            else:
                deg = make_degradation(v.get("degradation") or self.preset.degradation, lr_size=s)
                imgs = np.stack([deg.outputs(np.ascontiguousarray(hr[i]), np.random.default_rng([seed, 7919, i]))["lr"]
                                 for i in range(n)])
            self.val_refs[s] = (imgs, ref)

    def build_networks(self) -> None:
        k = self.train_set.landmarks.shape[1]
        s = int(self.hcfg["size"])
        net = self.model
        was = net.training
        net.eval()
        try:
            with torch.no_grad():
                out = net(torch.zeros(1, 3, s, s, device=self.device))
        except (ValueError, RuntimeError, TypeError) as e:
            out = f"an error ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
        finally:
            net.train(was)
        if not (torch.is_tensor(out) and tuple(out.shape) == (1, k, s, s)):
            shape = tuple(out.shape) if torch.is_tensor(out) else out if isinstance(out, str) else type(out).__name__
            raise ConfigError(f"recipe heatmap trains a network mapping N x 3 x H x W faces to N x {k} x H x W "
                              f"heatmaps ({k}: the teacher's landmarks); {self.cfg['model']['name']!r} gives "
                              f"{shape} for a {s} px face")

    # ------------------------------------------------------------------ the step
    def targets(self, landmarks: torch.Tensor, size: int) -> torch.Tensor:
        from ...priors.landmarks import render_heatmaps

        return render_heatmaps(landmarks, size, int(self.hcfg["hr_size"]), float(self.hcfg["sigma"]))

    def hint_terms(self, mb: dict) -> dict:
        x = mb["lr"]
        pred = self.net(x)
        return {"hint": F.mse_loss(pred.float(), self.targets(mb["landmarks"], x.shape[-1]))}

    def training_step(self, batch: dict) -> dict[str, float]:
        out = self.step_optimizer(MAIN, self.hint_terms, self.micro_batches(batch))
        self.update_ema()
        return out

    # ------------------------------------------------------------------ validation
    def nme(self, model, size: int, max_images: int | None = None) -> float:
        """Mean NME (% of the image side) of ``model``'s landmarks on the val faces at ``size`` px."""
        from ...metrics.face import landmark_nme
        from ...priors.landmarks import decode_radius, network_landmarks

        imgs, ref = self.val_refs[size]
        n = len(imgs) if max_images is None else min(max_images, len(imgs))
        pred = network_landmarks(model, imgs[:n], decode_radius(float(self.hcfg["sigma"])), device=self.device)
        return float(100.0 * landmark_nme(pred, ref[:n], "size", size).mean())

    @property
    def best_metric(self) -> tuple[str, bool]:
        """``best.safetensors`` is the lowest NME at ``heatmap.size``."""
        return f"nme{int(self.hcfg['size'])}", False

    def validate(self, max_images: int | None = None) -> dict:
        """``{"nme<size>": NME in % of the image side}`` for each of ``heatmap.val_sizes`` (the loop logs
        them as ``val_nme<size>`` and keeps ``best.safetensors`` by :attr:`best_metric`)."""
        if self.val_set is None or not self.dist.is_main or not self.val_refs:
            return {}
        model = self.eval_model()
        was = model.training
        model.eval()
        res = {f"nme{s}": self.nme(model, int(s), max_images) for s in self.hcfg["val_sizes"]}
        model.train(was)
        self.last_val = res
        return res

    # ------------------------------------------------------------------ state and records
    last_val: dict = {}

    def extra_state(self) -> dict:
        return {"last_val": {k: float(v) for k, v in self.last_val.items()}}

    def load_extra_state(self, st: dict) -> None:
        self.last_val = dict(st.get("last_val") or {})

    def model_meta(self, metrics: dict | None = None, net: str = MAIN) -> dict:
        if not metrics or metrics == {"val": {}}:  # the loop passes its own (empty) validation
            metrics = {"val": dict(self.last_val)}
        return super().model_meta(metrics, net)

    def recipe_provenance(self) -> dict:
        h = self.hcfg
        out = super().recipe_provenance()
        out["heatmap"] = {"size": int(h["size"]), "hr_size": int(h["hr_size"]), "sigma": float(h["sigma"]),
                          "teacher": str(h["teacher"]), "teacher_size": int(h["teacher_size"]),
                          "landmarks": self.cfg["data"]["train"].get("landmarks"), "loss": "mse (hint)",
                          "nme": "% of the image side; argmax + local centroid"}
        return out
