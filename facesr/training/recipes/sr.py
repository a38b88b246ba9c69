"""``recipe: sr``: supervised SR with weighted image losses (SPARNet's recipe is ``losses: {l1: 1}``).

Config: ``train.losses`` maps loss names of :mod:`facesr.losses` whose kind is ``image`` (pixel,
perceptual, gram) to a weight, or to ``{weight: W, option: value, ...}``.
"""
from __future__ import annotations

from ...errors import ConfigError
from ..trainer import MAIN, Trainer
from . import register_recipe


def build_image_losses(spec: dict, where: str = "train.losses", device=None) -> dict:
    """name -> (module, weight) for a ``{name: weight | {weight, options}}`` mapping of image losses."""
    from ...losses import build_loss

    if not isinstance(spec, dict) or not spec:
        raise ConfigError(f"{where} must map loss names to weights, e.g. {{l1: 1.0}}")
    out = {}
    for name, s in spec.items():
        mod, w = build_loss(name, s)
        if getattr(mod, "kind", "image") != "image":
            raise ConfigError(f"{where}.{name}: a {mod.kind} loss cannot be used here (it does not compare an "
                              f"SR image with its HR target)")
        out[name] = (mod.to(device) if device is not None else mod, float(w))
    return out


def describe_losses(losses: dict) -> dict:
    return {k: {"weight": w, **(m.describe() if hasattr(m, "describe") else {})} for k, (m, w) in losses.items()}


@register_recipe("sr")
class SRRecipe(Trainer):
    """One network, image losses against the HR face."""

    def build_losses(self) -> None:
        self.losses = build_image_losses(self.cfg["train"]["losses"], device=self.device)

    def image_losses(self, sr, hr) -> dict:
        """Weighted image loss terms of an SR batch against its target (float32)."""
        return {k: m(sr.float(), hr.float()) * w for k, (m, w) in self.losses.items() if w}

    def compute_losses(self, mb: dict) -> dict:
        return self.image_losses(self.net(*self.net_inputs(mb)), mb["hr"])

    def training_step(self, batch: dict) -> dict[str, float]:
        micro = self.micro_batches(batch)
        out = self.step_optimizer(MAIN, self.compute_losses, micro)
        self.update_ema()
        return out

    def recipe_provenance(self) -> dict:
        return {**super().recipe_provenance(), "losses": describe_losses(self.losses)}
