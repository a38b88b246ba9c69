"""PFSR (Kim et al., Progressive Face Super-Resolution via Attention to Facial Landmark, BMVC 2019):
architectures and presets registered with :mod:`facesr.registry`.

Presets:

* ``pfsr``: the progressive generator, 16 -> 128 (stages of 32 / 64 / 128 px), LR made by PFSR's PIL
  bilinear cascade 128 -> 64 -> 32 -> 16 (whose extras ``hr64`` / ``hr32`` are the step targets).
* ``pfsr-d``: its discriminator (for ``gan.discriminator`` of the progressive recipe).
* ``fan-distilled``: the distilled FAN, 68 landmark heatmaps at the input resolution; the progressive
  recipe's ``heatmap_net``, called on images in [0, 1]. Not an SR network: ``lr_size`` = ``hr_size`` = 64
  record the size it is trained at.

Light to import (no torch): builders import :mod:`.arch` when a network is built; the classes are
loaded from :mod:`facesr.models.pfsr.arch` on first attribute access.
"""
from __future__ import annotations

from ...registry import Preset, lazy_exports, register_lazy_arch, register_preset

PFSR_PAPER = ("Kim et al., Progressive Face Super-Resolution via Attention to Facial Landmark, BMVC 2019")

_LAZY = ("EqualConv2d", "PFSRResBlock", "PFSRGenerator", "PFSRDiscriminator", "DistilledFAN", "minibatch_stddev")
__all__ = ["PFSR_PAPER", *_LAZY]


__getattr__ = lazy_exports(__name__ + ".arch", _LAZY)


register_lazy_arch("pfsr", __name__ + ".arch:PFSRGenerator")
register_lazy_arch("pfsr-d", __name__ + ".arch:PFSRDiscriminator")
register_lazy_arch("fan-distilled", __name__ + ".arch:DistilledFAN")


# PFSR's test inputs must be made like its training data (bilinear cascade), so the preset's degradation
# is what eval/benchmark/sr use. Crop: PFSR trains on aligned CelebA (five-point similarity alignment,
# centre 178 px square); the closest stored geometry is the five-point template of the FSRNet CelebA crops.
register_preset(Preset("pfsr", "pfsr", {},
                       "PFSR generator x8: three progressive x2 steps (ResBlocks with equalised lr, "
                       "ConvTranspose), to-RGB per step, fade-in",
                       paper=PFSR_PAPER, lr_size=16, hr_size=128, degradation={"kind": "bilinear_cascade"},
                       crop="fsrnet_aligned5", config="pfsr_celeba.yaml"))
register_preset(Preset("pfsr-d", "pfsr-d", {},
                       "PFSR discriminator: from-RGB per step, conv blocks, minibatch stddev, linear head "
                       "(WGAN critic)",
                       paper=PFSR_PAPER, lr_size=16, hr_size=128, degradation={"kind": "bilinear_cascade"},
                       crop="fsrnet_aligned5"))
register_preset(Preset("fan-distilled", "fan-distilled", {},
                       "PFSR's distilled FAN: 68 landmark heatmaps at the input resolution (5 convs)",
                       paper=PFSR_PAPER, lr_size=64, hr_size=64, degradation={"kind": "bilinear_cascade"},
                       crop="fsrnet_aligned5", config="fan_distilled_lfw.yaml"))
