"""``recipe: distill``: a student trained with a frozen teacher (KDFSRNet, PKDN).

Config section::

    distill:
      teacher: null          # the trained teacher: a facesr model file (frozen, never saved with the run)
      teacher_inputs: []     # sample keys handed to the teacher after the LR face, e.g. [parsing]
      feature_weight: 1.0    # weight of the feature loss: a number or [[epoch, value], ...] (piecewise linear)
      output_weight: 0.0     # weight of L1(student SR, teacher SR), same forms
      feature_loss: l1       # l1 | mse, per feature pair, averaged over the pairs

Student loss = ``train.losses`` (L_SR against HR) + feature_weight x feature loss + output_weight x
output loss. Networks are called ``student(lr, return_features=True) -> (sr, [features])`` and
``teacher(lr, *inputs, return_features=True) -> (sr, [features])``; the two feature lists pair up in
order (same length and shapes). Epochs are fractional (step x batch / training faces), so a schedule
written in epochs works at any data size.
"""
from __future__ import annotations

import torch

from ...errors import ConfigError
from ..schedules import check_weight_schedule, weight_at
from . import register_recipe
from .sr import SRRecipe


@register_recipe("distill")
class DistillRecipe(SRRecipe):
    config_defaults = {"distill": {"teacher": None, "teacher_inputs": [], "feature_weight": 1.0,
                                   "output_weight": 0.0, "feature_loss": "l1"}}
    free_form = {("distill", "feature_weight"), ("distill", "output_weight")}  # numbers or [[epoch, value], ...]

    @classmethod
    def check_config(cls, cfg: dict) -> None:
        d = cfg["distill"]
        if not d["teacher"]:
            raise ConfigError("distill.teacher is required: the trained teacher's model file (.safetensors)")
        if d["feature_loss"] not in ("l1", "mse"):
            raise ConfigError(f"distill.feature_loss must be l1 or mse, got {d['feature_loss']!r}")
        if not all(isinstance(k, str) for k in d["teacher_inputs"]):
            raise ConfigError(f"distill.teacher_inputs must be a list of sample keys, got {d['teacher_inputs']!r}")
        for k in ("feature_weight", "output_weight"):
            check_weight_schedule(d[k], f"distill.{k}")

    def build_networks(self) -> None:
        super().build_networks()
        self.add_frozen("teacher", self.cfg["distill"]["teacher"])

    def build_losses(self) -> None:
        from ...losses import build_loss

        super().build_losses()
        self.feature_loss = build_loss(f"feature_{self.cfg['distill']['feature_loss']}", 1.0)[0]
        self.output_loss = build_loss("output_l1", 1.0)[0]

    def compute_losses(self, mb: dict) -> dict:
        d = self.cfg["distill"]
        sr, feats = self.net(*self.net_inputs(mb), return_features=True)
        terms = self.image_losses(sr, mb["hr"])
        wf, wo = weight_at(d["feature_weight"], self.epoch), weight_at(d["output_weight"], self.epoch)
        if wf or wo:
            inputs = self.net_inputs(mb, d["teacher_inputs"], "distill.teacher_inputs")
            with torch.no_grad():
                t_sr, t_feats = self.frozen["teacher"](*inputs, return_features=True)
            if wf:
                if len(feats) != len(t_feats):
                    raise ConfigError(f"student returns {len(feats)} features, teacher {len(t_feats)}: "
                                      f"they must pair up")
                for i, (s, t) in enumerate(zip(feats, t_feats)):
                    if s.shape != t.shape:
                        raise ConfigError(f"student feature {i} has shape {tuple(s.shape)}, the teacher's "
                                          f"{tuple(t.shape)}: distillation pairs features of equal shapes")
                terms["feature"] = self.feature_loss(feats, t_feats) * wf
            if wo:
                terms["output"] = self.output_loss(sr, t_sr) * wo
        return terms

    def recipe_provenance(self) -> dict:
        d = self.cfg["distill"]
        return {**super().recipe_provenance(),
                "distill": {k: d[k] for k in ("teacher_inputs", "feature_weight", "output_weight", "feature_loss")}}
