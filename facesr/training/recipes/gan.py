"""``recipe: gan``: the SR recipe plus a discriminator (SPARNetHD: hinge + feature matching, three scales;
PFSR: WGAN-GP with drift).

Each iteration takes one batch. With ``gan.order: g_first`` (both papers' code) the generator steps on
its image losses + ``gan.weight`` x adversarial loss + ``gan.feature_matching`` x feature matching, then
the discriminator steps on the same fakes (detached); ``d_first`` swaps them. With ``gan.n_critic: n``
the discriminator steps every iteration and the generator every n-th (WGAN's n critic steps).
While the adversarial weight is 0 and there is no feature matching (a progressive stage with ``adv: 0``,
or ``gan.weight: 0``), the discriminator is neither run nor trained: the generator trains on its image
losses alone at their cost, and D's weights and optimiser state wait unchanged for a stage that uses it.

The discriminator (``gan.discriminator``: a registry name + settings) returns logits, or for several
scales a list whose items are a logit tensor or a list of features ending with the logits (feature
matching needs the latter). It has its own optimiser ``train.optimizer_d`` / ``train.scheduler_d``.
"""
from __future__ import annotations


import torch

from ...errors import ConfigError
from ..config import check_optimizer, check_scheduler
from ..trainer import MAIN
from . import register_recipe
from .sr import SRRecipe

GAN_LOSSES = ("hinge", "wgan", "nonsaturating")

GAN_DEFAULTS = {
    "discriminator": {"name": None, "settings": {}},
    "loss": "hinge",           # hinge | wgan | nonsaturating
    "weight": 1.0,             # adversarial term in the generator's loss
    "feature_matching": 0.0,   # L1 between D's features of real and fake (needs D to return features)
    "n_critic": 1,             # D steps per G step
    "gp_weight": 0.0,          # WGAN-GP gradient penalty on real/fake interpolates
    "drift": 0.0,              # WGAN drift term: drift * mean(D(real)^2)
    "order": "g_first",        # g_first | d_first
}


@register_recipe("gan")
class GANRecipe(SRRecipe):
    config_defaults = {
        "gan": GAN_DEFAULTS,
        "train": {"optimizer_d": {"name": "adam", "lr": 4e-4, "betas": [0.5, 0.99], "weight_decay": 0.0},
                  "scheduler_d": {"name": "constant", "warmup": 0, "min_lr": 0.0, "milestones": [], "gamma": 0.5}},
    }
    free_form = {("gan", "discriminator", "settings")}

    @classmethod
    def check_config(cls, cfg: dict) -> None:
        g = cfg["gan"]
        if not g["discriminator"]["name"]:
            raise ConfigError("gan.discriminator.name is required (a registry discriminator, see `facesr models`)")
        if g["loss"] not in GAN_LOSSES:
            raise ConfigError(f"gan.loss must be one of {', '.join(GAN_LOSSES)}, got {g['loss']!r}")
        if g["order"] not in ("g_first", "d_first"):
            raise ConfigError(f"gan.order must be g_first or d_first, got {g['order']!r}")
        if int(g["n_critic"]) < 1:
            raise ConfigError(f"gan.n_critic must be at least 1, got {g['n_critic']}")
        for k in ("weight", "feature_matching", "gp_weight", "drift"):
            if float(g[k]) < 0:
                raise ConfigError(f"gan.{k} must not be negative, got {g[k]}")
        check_optimizer(cfg["train"]["optimizer_d"], "train.optimizer_d")
        check_scheduler(cfg["train"]["scheduler_d"], "train.scheduler_d")

    # ------------------------------------------------------------------ set-up
    def build_networks(self) -> None:
        super().build_networks()
        self.add_network("d", self.cfg["gan"]["discriminator"], "gan.discriminator")

    def optimizer_specs(self):
        t = self.cfg["train"]
        return {**super().optimizer_specs(), "d": (list(self.nets["d"].parameters()), t["optimizer_d"], t["scheduler_d"])}

    def build_losses(self) -> None:
        from ...losses.gan import GANLoss

        super().build_losses()
        g = self.cfg["gan"]
        self.gan_loss = GANLoss(g["loss"], drift=float(g["drift"])) if g["loss"] == "wgan" else GANLoss(g["loss"])

    # ------------------------------------------------------------------ the step
    def generate(self, mb: dict):
        """The generator's output for a micro-batch, and its target."""
        return self.net(*self.net_inputs(mb)), mb["hr"]

    def discriminate(self, img, mb: dict):
        """The discriminator's output for an image batch (recipes with stages pass them here)."""
        return self.nets["d"](img)

    def adv_weight(self) -> float:
        """Weight of the adversarial term in the generator's loss now (``gan.weight``)."""
        return float(self.cfg["gan"]["weight"])

    def uses_d(self) -> bool:
        """Whether the generator's loss reads the discriminator now (adversarial weight or feature matching)."""
        return bool(self.adv_weight()) or bool(float(self.cfg["gan"]["feature_matching"]))

    def g_terms(self, mb: dict, fake, target) -> dict:
        """The generator's weighted loss terms; ``fake`` is its output for the micro-batch."""
        from ...losses.gan import feature_matching

        g = self.cfg["gan"]
        terms = self.image_losses(fake, target)
        if not self.uses_d():
            return terms
        fake_out = self.discriminate(fake, mb)
        adv = self.adv_weight()
        if adv:
            terms["adv"] = self.gan_loss.g_loss(fake_out) * adv
        if float(g["feature_matching"]):
            with torch.no_grad():
                real_out = self.discriminate(target, mb)
            terms["fm"] = feature_matching(real_out, fake_out) * float(g["feature_matching"])
        return terms

    def d_terms(self, mb: dict) -> dict:
        from ...losses.gan import gradient_penalty

        g = self.cfg["gan"]
        real, fake = mb["_target"], mb["_fake"]
        terms = {"adv": self.gan_loss.d_loss(self.discriminate(real, mb), self.discriminate(fake, mb))}
        if float(g["gp_weight"]):
            terms["gp"] = gradient_penalty(lambda x: self.discriminate(x, mb), real, fake, weight=float(g["gp_weight"]))
        return terms

    def g_loss_fn(self, mb: dict) -> dict:
        fake, target = self.generate(mb)
        mb["_fake"], mb["_target"] = fake.detach().float(), target.float()
        with self.params_frozen("d"):
            return self.g_terms(mb, fake, target)

    def d_step(self, micro: list[dict]) -> dict:
        for mb in micro:
            if "_fake" not in mb:  # G did not step first: fakes of the current generator
                with torch.no_grad():
                    fake, target = self.generate(mb)
                mb["_fake"], mb["_target"] = fake.float(), target.float()
        return self.step_optimizer("d", self.d_terms, micro, prefix="d_")

    def training_step(self, batch: dict) -> dict[str, float]:
        micro = self.micro_batches(batch)
        update_g = self.step % int(self.cfg["gan"]["n_critic"]) == 0
        logs: dict[str, float] = {}
        train_d = self.uses_d()
        if train_d and self.cfg["gan"]["order"] == "d_first":
            logs.update(self.d_step(micro))
            for mb in micro:
                mb.pop("_fake", None)
        if update_g:
            logs.update(self.step_optimizer(MAIN, self.g_loss_fn, micro))
            self.update_ema()
        if train_d and self.cfg["gan"]["order"] == "g_first":
            logs.update(self.d_step(micro))
        return logs

    def recipe_provenance(self) -> dict:
        g = self.cfg["gan"]
        return {**super().recipe_provenance(),
                "gan": {k: g[k] for k in ("loss", "weight", "feature_matching", "n_critic", "gp_weight", "drift",
                                          "order")} | {"discriminator": g["discriminator"]["name"]}}
