"""Style-based attentive real-world face hallucination (Luo, Ma, Huang, He): the SR network with global
and local attention residual blocks (GARB, LARB), the styleVAE degradation network and the statistics
network of its mutual-information term; architectures and presets registered with :mod:`facesr.registry`.

Presets:

* ``san-x4`` (32 -> 128, the paper's x4) and ``san`` (x8, 16 -> 128): 8 GARBs then 8 LARBs of 64
  channels, pixel-shuffle upsampler, global bicubic skip (layout: :mod:`facesr.models.san.arch`).
  Table 4's rows at x4: ``san-x4-base`` (no GA, no LA: EDSR-baseline's body), ``san-x4-nola`` (GA only),
  ``san-x4-noga`` (LA only); ``san-x4`` has both.
* ``san-lite``: ``san`` at CPU size (32 channels, 4 GARBs + 4 LARBs), the network of the controlled
  hidden-chain experiment (``san_lite_hc_bicubic.yaml`` vs ``san_lite_hc_stylevae.yaml``). Shipped: the
  styleVAE-trained one fine-tuned on half styleVAE, half bicubic LR (``san_lite_mix.yaml``;
  ``docs/model_card_san_lite.md``).
* shipped ``stylevae-x8``: the styleVAE that learnt the hidden chain (``docs/model_card_stylevae_x8.md``).
* ``stylevae`` (HR 128 -> LR 32) and ``stylevae-x8`` (128 -> 16): the degradation network; Table 3's
  "without AdaIN" variant is ``stylevae-noadain`` (the MI switch is the recipe's ``stylevae.mi``).
  For these, ``lr_size`` is the network's *input* (HR) size and ``hr_size`` its *output* (LR) size, as
  for every facesr network (input -> output), which is what ``{kind: learned}`` degradations read.
* ``stylevae-t``: the statistics network T (a pair of LR faces -> a score).

Why 32 -> 128 for x4 (the paper gives no sizes): facesr's faces are 128 px (the x8 presets, the crops, the
metrics); the paper's group trains face SR at 128 px HR (its ref. [13], Wavelet-SRNet); and Table 4's LFW
PSNRs are within reach of bicubic upsampling on facesr's LFW crop only at 32 -> 128, not at 16 -> 64
(measured: ``benchmarks/bench_bicubic_scales.py``; the paper's own crop and protocol are unknown).

Importing this package is light (no torch): builders import the network modules when a network is
built, and the classes are loaded on first attribute access.
"""
from __future__ import annotations

import importlib

from ...registry import Preset, register_lazy_arch, register_preset

SAN_PAPER = "Luo, Ma, Huang, He, Style-Based Attentive Network for Real-World Face Hallucination"

_ARCH = ("GlobalAttention", "LocalRelation", "GARB", "LARB", "ResidualBlock", "Upsampler", "SAN")
_VAE = ("AdaIN", "StyleEncoder", "ContentEncoder", "StyleGenerator", "StyleVAE", "StatisticsNetwork")
__all__ = ["SAN_PAPER", *_ARCH, *_VAE]


def __getattr__(attr: str):
    for names, mod in ((_ARCH, ".arch"), (_VAE, ".stylevae")):
        if attr in names:
            return getattr(importlib.import_module(mod, __name__), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


register_lazy_arch("san", __name__ + ".arch:SAN")
register_lazy_arch("stylevae", __name__ + ".stylevae:StyleVAE")
register_lazy_arch("stylevae-t", __name__ + ".stylevae:StatisticsNetwork")

# LR synthesis bicubic (Table 4 trains on bicubic LR); crop "lfw": the bundled configs train on LFW
_x4 = dict(lr_size=32, hr_size=128, degradation={"kind": "bicubic"}, crop="lfw", paper=SAN_PAPER)
_x8 = dict(_x4, lr_size=16)

register_preset(Preset("san-x4", "san", {"scale": 4},
                       "style-based attentive SR x4: 8 GARBs + 8 LARBs (64 ch), pixel shuffle, bicubic skip",
                       config="san_x4_lfw.yaml", **_x4))
register_preset(Preset("san", "san", {"scale": 8},
                       "style-based attentive SR x8 (16 px faces): 8 GARBs + 8 LARBs (64 ch), bicubic skip",
                       config="san_lfw.yaml", **_x8))
# CPU size (ours): 32 channels, 4 GARBs + 4 LARBs. At 64 channels and 8 + 8 blocks a training step of 16 faces
# takes 3.1 s on one AMD EPYC core (LA 1.1 s of it, the x8 upsampler at 64 channels most of the rest); this
# one takes 0.85 s. Same blocks, order, attention settings and bicubic skip as san.
register_preset(Preset("san-lite", "san", {"scale": 8, "width": 32, "n_garb": 4, "n_larb": 4},
                       "style-based attentive SR x8 at CPU size: 4 GARBs + 4 LARBs (32 ch), bicubic skip "
                       "(282,311 params)", config="san_lite_mix.yaml", weights="san_lite.safetensors",
                       use="tiny faces from real cameras, x8: trained on learned real-world degradations",
                       **_x8))
# Table 4's ablation rows (x4 on LFW): a disabled module leaves a plain residual block in its place
register_preset(Preset("san-x4-base", "san", {"scale": 4, "ga": False, "la": False},
                       "SAN x4 ablation: no GA, no LA (16 plain residual blocks)", **_x4))
register_preset(Preset("san-x4-nola", "san", {"scale": 4, "la": False},
                       "SAN x4 ablation: GA only (LARBs are plain residual blocks)", **_x4))
register_preset(Preset("san-x4-noga", "san", {"scale": 4, "ga": False},
                       "SAN x4 ablation: LA only (GARBs are plain residual blocks)", **_x4))

# the degradation networks: input (lr_size) the HR face, output (hr_size) the LR face
_vae = dict(lr_size=128, hr_size=32, degradation={"kind": "bicubic"}, crop="lfw", paper=SAN_PAPER)
register_preset(Preset("stylevae", "stylevae", {},
                       "styleVAE degradation network: HR 128 -> real-world-like LR 32 (AdaIN style code)",
                       config="stylevae_lfw.yaml", **_vae))
# shipped: learnt the hidden chain holdout_moderate at 16 px from unpaired LFW samples
# (stylevae_x8_hidden_chain.yaml; model card docs/model_card_stylevae_x8.md)
register_preset(Preset("stylevae-x8", "stylevae", {"out_size": 16},
                       "styleVAE degradation network: HR 128 -> real-world-like LR 16", config="stylevae_x8_hidden_chain.yaml",
                       weights="stylevae_x8.safetensors", **dict(_vae, hr_size=16)))
register_preset(Preset("stylevae-noadain", "stylevae", {"adain": False},
                       "styleVAE ablation (Table 3): style code concatenated instead of AdaIN, 128 -> 32", **_vae))
register_preset(Preset("stylevae-t", "stylevae-t", {},
                       "styleVAE's MINE statistics network T: (real LR, generated LR) pair -> score",
                       **dict(_vae, lr_size=32, hr_size=32)))
