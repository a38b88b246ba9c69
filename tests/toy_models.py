"""Tiny networks for the recipe tests (and the worked example of docs/extending.md): registered as
registry presets so that recipes, checkpoints and frozen teachers handle them like any model."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facesr.models.common import SRModel
from facesr.registry import Preset, get_preset, register_arch, register_preset

LR, HR = 8, 32


class ToySR(SRModel):
    """LR 8 -> bicubic x4 -> two convs as a residual -> 32. ``return_features`` gives both conv outputs."""

    def __init__(self, width: int = 8, prior_channels: int = 0):
        super().__init__()
        self.lr_size, self.hr_size = LR, HR
        self.c1 = nn.Conv2d(3 + prior_channels, width, 3, padding=1)
        self.c2 = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, lr, prior=None, return_features=False):
        x = F.interpolate(lr, size=(HR, HR), mode="bicubic", align_corners=False)
        if prior is not None:  # a label map (N x H x W) or maps (N x C x H x W)
            prior = prior.float()[:, None] if prior.ndim == 3 else prior.float()
            h = torch.cat([x, F.interpolate(prior, size=(HR, HR))], 1)
        else:
            h = x
        f1 = F.leaky_relu(self.c1(h), 0.2)
        y = self.finish(x + self.c2(f1))
        return (y, [f1, y]) if return_features else y


class ToyD(nn.Module):
    """Two strided convs -> a logit map; ``scales=2`` runs it on the image and its half, returning a list
    of [features..., logits] per scale (the multi-scale form that feature matching needs)."""

    def __init__(self, width: int = 8, scales: int = 1):
        super().__init__()
        self.scales = scales
        self.nets = nn.ModuleList(nn.ModuleList([nn.Conv2d(3, width, 4, 2, 1), nn.Conv2d(width, 1, 3, 1, 1)])
                                  for _ in range(scales))

    def one(self, net, x):
        h = F.leaky_relu(net[0](x * 2 - 1), 0.2)
        return [h, net[1](h)]

    def forward(self, x):
        if self.scales == 1:
            return self.one(self.nets[0], x)[-1]
        outs = []
        for net in self.nets:
            outs.append(self.one(net, x))
            x = F.avg_pool2d(x, 2)
        return outs


class ToyProgG(SRModel):
    """Two stages: 8 -> 16 -> 32, a to-RGB per stage, fade-in of the second stage's output."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.lr_size, self.hr_size = LR, HR
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.blocks = nn.ModuleList([nn.Conv2d(width, width, 3, padding=1) for _ in range(2)])
        self.to_rgb = nn.ModuleList([nn.Conv2d(width, 3, 1) for _ in range(2)])

    def forward(self, lr, stage=1, alpha=1.0):
        h = F.relu(self.stem(lr * 2 - 1))
        prev = None
        for i in range(stage + 1):
            prev = h
            h = F.relu(self.blocks[i](F.interpolate(h, scale_factor=2, mode="nearest")))
        out = self.to_rgb[stage](h)
        if stage > 0 and alpha < 1.0:
            out = (1 - alpha) * F.interpolate(self.to_rgb[stage - 1](prev), scale_factor=2, mode="nearest") + alpha * out
        return self.finish((out + 1) * 0.5)


class ToyProgD(nn.Module):
    def __init__(self, width: int = 8):
        super().__init__()
        self.from_rgb = nn.ModuleList([nn.Conv2d(3, width, 1) for _ in range(2)])
        self.blocks = nn.ModuleList([nn.Conv2d(width, width, 3, padding=1) for _ in range(2)])
        self.head = nn.Linear(width, 1)

    def forward(self, img, stage=1, alpha=1.0):
        h = F.leaky_relu(self.from_rgb[stage](img * 2 - 1), 0.2)
        h = F.avg_pool2d(F.leaky_relu(self.blocks[stage](h), 0.2), 2)
        if stage > 0 and alpha < 1.0:
            h = alpha * h + (1 - alpha) * F.leaky_relu(self.from_rgb[stage - 1](F.avg_pool2d(img, 2) * 2 - 1), 0.2)
        for i in range(stage - 1, -1, -1):
            h = F.avg_pool2d(F.leaky_relu(self.blocks[i](h), 0.2), 2)
        return self.head(h.mean((2, 3)))


class ToyDegrader(nn.Module):
    """A 'learned degradation': HR 32 -> blur conv -> area down x4 -> LR 8 (``lr_size`` is its input)."""

    def __init__(self):
        super().__init__()
        self.lr_size, self.hr_size = HR, LR
        self.blur = nn.Conv2d(3, 3, 3, padding=1, groups=3, bias=False)

    def forward(self, x):
        return F.avg_pool2d(self.blur(x), HR // LR).clamp(0, 1)


def register() -> None:
    try:
        get_preset("toy-sr")
        return
    except Exception:
        pass
    for name, fn in {"toy-sr": ToySR, "toy-d": ToyD, "toy-prog-g": ToyProgG, "toy-prog-d": ToyProgD,
                     "toy-degrader": ToyDegrader}.items():
        register_arch(name)(fn)
    kw = dict(lr_size=LR, hr_size=HR, degradation={"kind": "bicubic"}, crop="fsrnet")
    register_preset(Preset("toy-sr", "toy-sr", {}, "test: tiny x4 SR", **kw))
    register_preset(Preset("toy-teacher", "toy-sr", {"prior_channels": 1}, "test: tiny teacher", **kw))
    register_preset(Preset("toy-d", "toy-d", {}, "test: tiny discriminator", **kw))
    register_preset(Preset("toy-d2", "toy-d", {"scales": 2}, "test: tiny 2-scale discriminator", **kw))
    register_preset(Preset("toy-prog-g", "toy-prog-g", {}, "test: tiny progressive G", **kw))
    register_preset(Preset("toy-prog-d", "toy-prog-d", {}, "test: tiny progressive D", **kw))
    register_preset(Preset("toy-degrader", "toy-degrader", {}, "test: tiny learned degradation",
                           **{**kw, "lr_size": HR, "hr_size": LR}))


register()
