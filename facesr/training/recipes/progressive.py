"""``recipe: progressive``: progressive growing (PFSR): stages with their own length, output size, loss
weights and adversarial weight, and a fade-in alpha that ramps inside a stage. Built on the GAN recipe.

Config section::

    progressive:
      stages:                         # in order; the generator's stage i outputs size_i x size_i
        - {size: 32, steps: 50000, fade: 0, adv: 1.0, losses: {l1: 10, perceptual: 0.01}}
        - {size: 64, steps: 50000, fade: 25000, adv: 1.0, losses: {l1: 10, attention: 500, heatmap: 50}}
      step_scale: 1.0                 # multiplies every stage's steps and fade (short CPU runs)
      heatmap_net: null               # a facesr model file: frozen landmark-heatmap network, needed by
                                      # the attention and heatmap losses

Networks: the generator is called ``G(lr, stage=i, alpha=a)`` and the discriminator
``D(img, stage=i, alpha=a)`` (0-based stage; ``alpha`` in [0, 1] blends the new stage's output with
the previous one's, upsampled). The stage and alpha are functions of the step alone, so resuming in the
middle of a stage is exact. ``train.steps`` is set to the sum of the scaled stage lengths.

Targets of a stage: the sample key ``hr{size}`` when the LR synthesis makes it (PFSR's bilinear
cascade does: ``hr64``, ``hr32``), ``hr`` at its own size, else ``hr`` resized (antialiased bilinear).
"""
from __future__ import annotations

import json

import torch
import torch.nn.functional as F

from ...errors import ConfigError
from . import register_recipe
from .gan import GANRecipe
from .sr import build_image_losses, describe_losses

STAGE_KEYS = ("size", "steps", "fade", "adv", "losses")
FACE_LOSSES = ("attention", "heatmap")


def scaled_stages(cfg: dict) -> list[dict]:
    """The stages with ``step_scale`` applied (steps at least 1)."""
    sc = float(cfg["progressive"]["step_scale"])
    out = []
    for s in cfg["progressive"]["stages"]:
        out.append({**s, "steps": max(1, int(round(int(s["steps"]) * sc))),
                    "fade": int(round(int(s.get("fade", 0)) * sc))})
    return out


def network_stages(net, stages: list[dict]) -> list[int]:
    """The network's own (0-based) stage for each config stage: the one whose output side
    (``net.stage_size(k)``, ``k < net.num_stages``) is the stage's ``size``, so a config may skip the
    network's early stages (PFSR's "no progressive" row: one stage at 128 px trains the whole generator
    at once); a network without ``stage_size`` runs stage i at config stage i. A stage that fades in (``fade`` > 0) must
    follow the network stage just below it, which it blends with. Errors are ConfigErrors."""
    if not (hasattr(net, "stage_size") and hasattr(net, "num_stages")):
        return list(range(len(stages)))
    sizes, out = {int(net.stage_size(k)): k for k in range(int(net.num_stages))}, []
    for i, s in enumerate(stages):
        k = sizes.get(int(s["size"]))
        if k is None:
            raise ConfigError(f"progressive.stages[{i}].size {s['size']}: the network's stages output "
                              f"{', '.join(map(str, sorted(sizes)))} px")
        if i > 0 and s.get("fade", 0) > 0 and k != out[-1] + 1:
            raise ConfigError(f"progressive.stages[{i}] fades in from the network stage below it "
                              f"({k - 1}), but the previous config stage trains stage {out[-1]}: "
                              f"set its fade to 0")
        out.append(k)
    return out


def stage_at(stages: list[dict], step: int) -> tuple[int, float]:
    """(stage index, alpha) at a 0-based step: alpha ramps linearly from 0 to 1 over the stage's first
    ``fade`` steps (1 for the first stage and when fade is 0), and holds 1 after."""
    start = 0
    for i, s in enumerate(stages):
        if step < start + s["steps"] or i == len(stages) - 1:
            k = step - start
            if i == 0 or s["fade"] <= 0:
                return i, 1.0
            return i, min(1.0, k / s["fade"])
        start += s["steps"]
    raise ValueError("no stages")


@register_recipe("progressive")
class ProgressiveRecipe(GANRecipe):
    config_defaults = {
        **GANRecipe.config_defaults,
        "progressive": {"stages": [], "step_scale": 1.0, "heatmap_net": None},
    }
    free_form = GANRecipe.free_form  # stages is a list, checked by check_config

    @classmethod
    def check_config(cls, cfg: dict) -> None:
        import difflib

        super().check_config(cfg)
        p = cfg["progressive"]
        st = p["stages"]
        if not isinstance(st, list) or not st:
            raise ConfigError("progressive.stages must be a non-empty list of {size, steps, fade, adv, losses}")
        for i, s in enumerate(st):
            where = f"progressive.stages[{i}]"
            if not isinstance(s, dict):
                raise ConfigError(f"{where} must be a mapping with keys {', '.join(STAGE_KEYS)}")
            for k in s:
                if k not in STAGE_KEYS:
                    close = difflib.get_close_matches(str(k), STAGE_KEYS, n=1)
                    raise ConfigError(f"unknown key '{where}.{k}'" + (f"; did you mean {close[0]}?" if close else
                                                                      f"; valid: {', '.join(STAGE_KEYS)}"))
            for k in ("size", "steps"):
                if not isinstance(s.get(k), int) or isinstance(s.get(k), bool) or s[k] < 1:
                    raise ConfigError(f"{where}.{k} must be a positive integer, got {s.get(k)!r}")
            if not isinstance(s.get("fade", 0), int) or s.get("fade", 0) < 0:
                raise ConfigError(f"{where}.fade must be a non-negative integer, got {s.get('fade')!r}")
            if not isinstance(s.get("losses"), dict) or not s["losses"]:
                raise ConfigError(f"{where}.losses must map loss names to weights")
            if any(k in s["losses"] for k in FACE_LOSSES) and not p["heatmap_net"]:
                raise ConfigError(f"{where}: the attention and heatmap losses need progressive.heatmap_net "
                                  f"(a landmark-heatmap model file)")
        if float(p["step_scale"]) <= 0:
            raise ConfigError(f"progressive.step_scale must be positive, got {p['step_scale']}")
        cfg["train"]["steps"] = sum(s["steps"] for s in scaled_stages(cfg))

    # ------------------------------------------------------------------ set-up
    def build_networks(self) -> None:
        super().build_networks()
        self.stages = scaled_stages(self.cfg)
        self.net_stages = network_stages(self.model, self.stages)
        if self.cfg["progressive"]["heatmap_net"]:
            self.add_frozen("heatmap_net", self.cfg["progressive"]["heatmap_net"])

    def build_losses(self) -> None:
        from ...losses import build_loss

        super().build_losses()  # the GAN loss (and train.losses, unused here)
        cache: dict = {}
        self.stage_losses, self.stage_face_losses = [], []
        for i, s in enumerate(self.stages):
            img, face = {}, {}
            for name, spec in s["losses"].items():
                key = json.dumps([name, {k: v for k, v in spec.items() if k != "weight"} if isinstance(spec, dict)
                                  else {}], sort_keys=True)
                if name in FACE_LOSSES:
                    mod, w = build_loss(name, spec)
                    face[name] = (cache.setdefault(key, mod.to(self.device)), float(w))
                else:
                    one = build_image_losses({name: spec}, f"progressive.stages[{i}].losses", self.device)[name]
                    img[name] = (cache.setdefault(key, one[0]), one[1])
            self.stage_losses.append(img)
            self.stage_face_losses.append(face)

    # ------------------------------------------------------------------ stage and targets
    @property
    def stage(self) -> tuple[int, float]:
        return stage_at(self.stages, self.step)

    def target(self, mb: dict, size: int):
        if f"hr{size}" in mb:
            return mb[f"hr{size}"]
        hr = mb["hr"]
        if hr.shape[-1] == size:
            return hr
        return F.interpolate(hr, size=(size, size), mode="bilinear", antialias=True, align_corners=False)

    def generate(self, mb: dict):
        i, a = self.stage
        return (self.net(*self.net_inputs(mb), stage=self.net_stages[i], alpha=a),
                self.target(mb, self.stages[i]["size"]))

    def discriminate(self, img, mb: dict):
        i, a = self.stage
        return self.nets["d"](img, stage=self.net_stages[i], alpha=a)

    def image_losses(self, sr, hr) -> dict:
        return {k: m(sr.float(), hr.float()) * w for k, (m, w) in self.stage_losses[self.stage[0]].items() if w}

    def adv_weight(self) -> float:
        """The current stage's ``adv``, else ``gan.weight``."""
        return float(self.stages[self.stage[0]].get("adv", self.cfg["gan"]["weight"]))

    def g_terms(self, mb: dict, fake, target) -> dict:
        i, _ = self.stage
        terms = super().g_terms(mb, fake, target)
        face = self.stage_face_losses[i]
        if face:
            net = self.frozen["heatmap_net"]
            with torch.no_grad():
                hm_hr = net(target.float())
            if "heatmap" in face:
                m, w = face["heatmap"]
                terms["heatmap"] = m(net(fake.float()), hm_hr) * w
            if "attention" in face:
                m, w = face["attention"]
                terms["attention"] = m(fake.float(), target.float(), hm_hr) * w
        return terms

    def is_better(self, val: dict) -> bool:
        """``best.safetensors`` must be the whole generator: only validations of the last stage at full
        fade-in compete (an earlier stage scores a smaller image, a higher PSNR that says nothing of the
        x8 output)."""
        i, a = stage_at(self.stages, max(0, self.step - 1))
        return i == len(self.stages) - 1 and a >= 1.0 and super().is_better(val)

    def val_forward(self, model, batch: dict):
        i, a = stage_at(self.stages, max(0, self.step - 1))  # the stage of the last step trained
        return (model(*self.net_inputs(batch), stage=self.net_stages[i], alpha=a),
                self.target(batch, self.stages[i]["size"]))

    def training_step(self, batch: dict) -> dict[str, float]:
        logs = super().training_step(batch)
        i, a = self.stage
        logs.update({"stage": float(i + 1), "alpha": float(a)})
        return logs

    def recipe_provenance(self) -> dict:
        out = super().recipe_provenance()
        out["progressive"] = {"stages": [{k: v for k, v in s.items() if k != "losses"} |
                                         {"losses": describe_losses(self.stage_losses[i]) |
                                          {k: {"weight": w} for k, (_, w) in self.stage_face_losses[i].items()}}
                                         for i, s in enumerate(self.stages)]}
        out.pop("losses", None)
        return out
