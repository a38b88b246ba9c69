"""PSNR / SSIM / MS-SSIM with named evaluation protocols.

``core`` holds the metric functions (pure numpy/scipy, float64);
``protocols`` holds the per-paper recipes and the batch accumulator.
Our tables use ``DEFAULT_PROTOCOL`` ("facesr").  torch is never imported here.
"""

from .core import (
    MS_SSIM_WEIGHTS,
    combine_ms_ssim,
    gaussian_window,
    ms_ssim,
    ms_ssim_components,
    psnr,
    rgb_to_y,
    ssim,
    ssim_and_cs,
)
from .protocols import (
    DEFAULT_PROTOCOL,
    PROTOCOLS,
    MetricAccumulator,
    Protocol,
    UnknownProtocolError,
    evaluate,
    get_protocol,
    preprocess,
)

__all__ = [
    "MS_SSIM_WEIGHTS",
    "combine_ms_ssim",
    "gaussian_window",
    "ms_ssim",
    "ms_ssim_components",
    "psnr",
    "rgb_to_y",
    "ssim",
    "ssim_and_cs",
    "DEFAULT_PROTOCOL",
    "PROTOCOLS",
    "MetricAccumulator",
    "Protocol",
    "UnknownProtocolError",
    "evaluate",
    "get_protocol",
    "preprocess",
]
