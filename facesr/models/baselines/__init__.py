"""Generic SR baselines as registry presets: SRCNN and EDSR-baseline (the plug-and-play networks of the
style-based paper's Table 2). Networks in :mod:`facesr.models.baselines.arch`.

Presets: ``srcnn-x4`` (32 -> 128, 9-1-5, 64/32 filters, RGB: 20,099 parameters), ``srcnn`` (x8, 16 -> 128,
same network), ``edsr-x4`` (EDSR-baseline x4, 32 -> 128: 16 blocks of 64 channels, 1,517,571 parameters)
and ``edsr`` (x8, 16 -> 128: one more upsampling step, 1,665,283 parameters). LR synthesis bicubic (the
"-B" rows; a config names a learned degradation for the "-S" rows); crop "lfw" (the bundled configs
train on LFW).

Importing this package is light (no torch).
"""
from __future__ import annotations

from ...registry import Preset, lazy_exports, register_lazy_arch, register_preset

SRCNN_PAPER = "Dong, Loy, He, Tang, Image Super-Resolution Using Deep Convolutional Networks, TPAMI 2016"
EDSR_PAPER = "Lim, Son, Kim, Nah, Lee, Enhanced Deep Residual Networks for Single Image Super-Resolution, CVPRW 2017"

_LAZY = ("SRCNN", "EDSR", "ResidualBlock", "Upsampler", "rgb_to_ycbcr", "ycbcr_to_rgb")
__all__ = ["SRCNN_PAPER", "EDSR_PAPER", *_LAZY]

__getattr__ = lazy_exports(__name__ + ".arch", _LAZY)

register_lazy_arch("srcnn", __name__ + ".arch:SRCNN")
register_lazy_arch("edsr", __name__ + ".arch:EDSR")

_x4 = dict(lr_size=32, hr_size=128, degradation={"kind": "bicubic"}, crop="lfw")
_x8 = dict(_x4, lr_size=16)

register_preset(Preset("srcnn-x4", "srcnn", {"scale": 4},
                       "SRCNN x4 (9-1-5, 64/32 filters, RGB) on the bicubic-upsampled LR", paper=SRCNN_PAPER,
                       config="srcnn_x4_lfw.yaml", **_x4))
register_preset(Preset("srcnn", "srcnn", {"scale": 8},
                       "SRCNN x8 (9-1-5, 64/32 filters, RGB) on the bicubic-upsampled LR", paper=SRCNN_PAPER, **_x8))
register_preset(Preset("edsr-x4", "edsr", {"scale": 4},
                       "EDSR-baseline x4: 16 residual blocks of 64 channels, pixel-shuffle upsampler",
                       paper=EDSR_PAPER, config="edsr_x4_lfw.yaml", **_x4))
register_preset(Preset("edsr", "edsr", {"scale": 8},
                       "EDSR-baseline x8: 16 residual blocks of 64 channels, three pixel-shuffle steps",
                       paper=EDSR_PAPER, **_x8))
