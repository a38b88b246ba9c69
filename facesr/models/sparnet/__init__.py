"""SPARNet and SPARNetHD (Chen et al., TIP 2020): architectures and presets registered with
:mod:`facesr.registry`.

Importing this package is light (no torch): the builders import :mod:`.arch` when a network is built,
and the network classes (``SPARNet``, ``SPARNetHD``, ``SPARNetBody``, ...) are loaded from
:mod:`facesr.models.sparnet.arch` on first attribute access, so ``from facesr.models.sparnet import
SPARNet`` works.
"""
from __future__ import annotations

from ...registry import Preset, register_alias, lazy_exports, register_lazy_arch, register_preset

SPARNET_PAPER = "Chen et al., Learning Spatial Attention for Face Super-Resolution, TIP 2020"

_LAZY = ("HourGlassAttention", "FaceAttentionUnit", "SPARNetBody", "SPARNet", "SPARNetHD", "init_sparnet_weights",
         "converge_spectral_norm", "collect_attention_maps", "PatchDiscriminator", "SPARNetHDDiscriminator")
__all__ = ["SPARNET_PAPER", *_LAZY]


__getattr__ = lazy_exports(__name__ + ".arch", _LAZY)


register_lazy_arch("sparnet", __name__ + ".arch:SPARNet")
register_lazy_arch("sparnethd", __name__ + ".arch:SPARNetHD")
register_lazy_arch("sparnethd-d", __name__ + ".arch:SPARNetHDDiscriminator")


_sr8 = dict(lr_size=16, hr_size=128, degradation={"kind": "bicubic"}, paper=SPARNET_PAPER)

register_preset(Preset("sparnet", "sparnet", {"attention": "spar"},
                       "SPARNet x8, 2-D spatial attention (released code: LeakyReLU 0.2, BN)",
                       config="sparnet_lfw_code.yaml", **_sr8))
register_preset(Preset("sparnet-3d", "sparnet", {"attention": "spar3d"},
                       "SPARNet x8, 3-D attention (one map per channel)", **_sr8))
register_preset(Preset("sparnet-light-3d", "sparnet", {"attention": "spar3d", "res_depth": 1},
                       "SPARNet x8, 3-D attention, one body unit", **_sr8))
register_preset(Preset("sparnet-baseline", "sparnet", {"attention": "none"},
                       "SPARNet x8 without attention branches (the paper's Baseline)", **_sr8))
register_preset(Preset("sparnet-prelu", "sparnet", {"attention": "spar", "act": "prelu"},
                       "SPARNet x8 as the paper describes it (PReLU instead of the code's LeakyReLU)", **_sr8))
# A narrow SPARNet that trains on a 2-core CPU: same FAUs and hourglass attention, fewer channels at
# high resolution (16/32/64/128), 16-channel hourglasses, 8 body units, and a global bicubic skip.
# It is the shipped default (trained on LFW; see the model card).
register_preset(Preset("sparnet-tiny", "sparnet",
                       {"attention": "spar", "channels": [16, 32, 64, 128], "res_depth": 8, "hg_mid": 16,
                        "global_skip": True},
                       "SPARNet-family x8 for CPUs: FAU + 2-D hourglass attention, 16-128 channels, 8 body units, "
                       "global bicubic skip",
                       weights="sparnet_tiny_default.safetensors", config="sparnet_tiny.yaml", crop="lfw",
                       use="tiny, clean faces (16 px and up, e.g. a face far from the camera): the x8 default of facesr sr",
                       **_sr8))
_hd = dict(lr_size=512, hr_size=512, paper=SPARNET_PAPER, crop="fsrnet_aligned5",
           degradation={"kind": "sparnethd_blind"})
register_preset(Preset("sparnethd", "sparnethd", {"attention": "spar"},
                       "SPARNetHD generator, 512 px blind face restoration (IN + spectral norm)",
                       config="sparnethd.yaml", **_hd))
register_preset(Preset("sparnethd-3d", "sparnethd", {"attention": "spar3d"},
                       "SPARNetHD generator with 3-D attention (one map per channel)", **_hd))
# SPARNetHD for CPUs (ours): 128 px, the same IN + spectral-norm FAU network with a 32 px bottleneck
# (the paper's min_feat_size: 512 -> 32 px there, 128 -> 32 px here), 16/32/64 channels at 128/64/32 px,
# 16-channel hourglasses (SPARNet's layout for these sizes) and 6 body units at 32 px, no global skip (as
# the paper: the network regenerates the face from its bottleneck; a skip would carry the input's noise and
# JPEG blocks straight through). The 32 px bottleneck was chosen over sparnet-tiny's 16 px layout because
# it learned faster per CPU-second (benchmarks/bench_restore_probe.py). 128 px matches the face detail LFW
# holds in this crop and keeps `facesr enhance` inside its time budget on 2 cores. Measurements behind
# each choice: docs/restoration.md.
_LITE = {"attention": "spar", "size": 128, "min_feat": 32, "channels": [16, 32, 64], "res_depth": 6,
         "hg_depths": None, "hg_mid": 16}
register_preset(Preset("sparnethd-lite", "sparnethd", _LITE,
                       "SPARNetHD for CPUs: 128 px blind face restoration, IN + spectral norm, 32 px bottleneck, 16-64 channels, "
                       "6 body units (trained on LFW with the sparnethd_lite degradation)",
                       weights="sparnethd_lite.safetensors", config="sparnethd_lite.yaml", lr_size=128,
                       hr_size=128, paper=SPARNET_PAPER, crop="fsrnet_aligned5",
                       degradation={"kind": "sparnethd_lite"},
                       use="real photos: removes blur, noise and JPEG blocks from ordinary faces (the default)"))
register_preset(Preset("sparnethd-lite-d", "sparnethd-d", {"base": 32, "max_ch": 256, "n_layers": 3},
                       "sparnethd-lite's discriminator: 3 scales (128/64/32 px), 32-256 channels, 3 strided "
                       "blocks (not an SR model)", lr_size=128, hr_size=128, paper=SPARNET_PAPER,
                       crop="fsrnet_aligned5", degradation={"kind": "sparnethd_lite"}))
# not an SR model: the GAN recipe's discriminator (gan.discriminator.name) for 512 px SPARNetHD training
register_preset(Preset("sparnethd-d", "sparnethd-d", {},
                       "SPARNetHD discriminator: 3 scales (bicubic halving), patch logits + features, IN + "
                       "spectral norm (not an SR model)", **_hd))

register_alias("default", "sparnet-tiny")
