"""facesr: face super-resolution toolkit (PFSR, SPARNet/SPARNetHD, style-based attentive network, PKDN).

Nothing heavy is imported here: ``import facesr`` is cheap, torch loads on first use.

>>> import facesr
>>> model = facesr.load("default")          # shipped weights, eval mode
>>> net = facesr.build("sparnet")           # untrained registry model
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["build", "load", "list_models", "super_resolve", "enhance", "__version__"]


def build(name: str, **overrides):
    """Untrained ``torch.nn.Module`` of a registry name (see ``facesr models``)."""
    from . import registry

    return registry.build(name, **overrides)


def load(name_or_path="default", device: str = "cpu"):
    """A registry model with its shipped weights, or a facesr ``.safetensors`` model file, in eval mode."""
    from . import registry

    return registry.load(name_or_path, device=device)


def list_models():
    """The registry's presets (name, architecture, description, whether weights ship)."""
    from .registry import list_presets

    return list_presets()


def super_resolve(images, model="default", device: str = "cpu", batch_size: int = 16):
    """Super-resolve face crops (uint8 HxWx3 arrays); see :func:`facesr.inference.sr.super_resolve`."""
    from .inference import sr

    return sr.super_resolve(images, model=model, device=device, batch_size=batch_size)


def enhance(image, model="default", **kwargs):
    """Super-resolve every face in a photo and paste it back: a :class:`facesr.enhance.FaceEnhancer` built
    for this call (options: :func:`facesr.enhance.enhancer.enhance`); returns an ``EnhanceResult``.

    >>> result = facesr.enhance(photo_uint8, upscale=2)   # result.final, result.restored_faces, result.boxes

    Once :mod:`facesr.enhance` (the package) is imported, ``facesr.enhance`` is that package, which is
    callable with the same arguments.
    """
    from .enhance.enhancer import enhance as enhance_photo

    return enhance_photo(image, model=model, **kwargs)
