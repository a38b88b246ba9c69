"""PFSR (Kim et al., Progressive Face Super-Resolution via Attention to Facial Landmark, BMVC 2019):
architectures and presets registered with :mod:`facesr.registry`.

Presets:

* ``pfsr``: the progressive generator, 16 -> 128 (stages of 32 / 64 / 128 px), LR made by PFSR's PIL
  bilinear cascade 128 -> 64 -> 32 -> 16 (whose extras ``hr64`` / ``hr32`` are the step targets).
* ``pfsr-d``: its discriminator (for ``gan.discriminator`` of the progressive recipe).
* ``fan-distilled``: the distilled FAN, 68 landmark heatmaps at the input resolution; the progressive
  recipe's ``heatmap_net``, called on images in [0, 1]. Not an SR network: ``lr_size`` = ``hr_size`` = 64
  record the size it is trained at.
* ``pfsr-lite`` / ``pfsr-lite-d``: both networks at a quarter of the width, for CPU training (the Table 2
  rows and the shipped model of ``pfsr_lfw_cpu.yaml``).

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
# PFSR for CPUs (ours): the same three-step layout at a quarter of the width (generator 128 -> 64 -> 32
# channels instead of 512 -> 256 -> 128; discriminator width 16 and a 512-unit head instead of 64 and
# 2048). On 2 cores a full-width iteration of batch 8 at the 128 px step costs 17-22 s, 7-8.5 h for one
# 2,000-iteration CPU run; pfsr-lite costs 1.3-4.7 s, 0.5-1.6 h (benchmarks/results/pfsr_width.md), so the
# shipped model and each Table 2 row fit in one working session. Same data, losses and schedule as `pfsr`.
# Crop: the geometry of its LFW training faces (centre 136 of 250 px), as `facesr enhance` cuts faces for it.
_LITE = {"width": 128}
register_preset(Preset("pfsr-lite", "pfsr", _LITE,
                       "PFSR generator x8 for CPUs: pfsr's three progressive x2 steps at 1/4 width "
                       "(128/64/32 channels)",
                       paper=PFSR_PAPER, lr_size=16, hr_size=128, degradation={"kind": "bilinear_cascade"},
                       crop="lfw", config="pfsr_lfw_cpu_psnr.yaml", weights="pfsr_lite.safetensors",
                       use="tiny faces, x8 in three progressive steps (PFSR, trained on bilinear downscales)"))
register_preset(Preset("pfsr-lite-d", "pfsr-d", {"width": 16, "hidden": 512},
                       "pfsr-lite's discriminator: pfsr-d at 1/4 width, 512-unit linear head (WGAN critic)",
                       paper=PFSR_PAPER, lr_size=16, hr_size=128, degradation={"kind": "bilinear_cascade"},
                       crop="lfw"))
register_preset(Preset("fan-distilled", "fan-distilled", {},
                       "PFSR's distilled FAN: 68 landmark heatmaps at the input resolution (5 convs)",
                       paper=PFSR_PAPER, lr_size=64, hr_size=64, degradation={"kind": "bilinear_cascade"},
                       crop="fsrnet_aligned5", config="fan_distilled_lfw.yaml", weights="fan_distilled.safetensors"))
