"""VGG feature losses (kind "image"): ``perceptual`` (feature distance) and ``gram`` (style).

:class:`VGGFeatures` is our own VGG16/VGG19 convolutional stack (torchvision is not needed) whose
parameter names equal torchvision's ``vgg16().features`` / ``vgg19().features``, so a torchvision
state dict (``features.N.weight`` / ``features.N.bias``; ``classifier.*`` keys are ignored) loads
as is.  Layers are named ``conv{block}_{i}`` (before the ReLU), ``relu{block}_{i}`` (after it) and
``pool{block}``.

Weights (the ImageNet VGGs cannot be downloaded here): option ``weights`` is ``"auto"`` (torchvision's
file, ``vgg16-397923af.pth`` / ``vgg19-dcbb9e9d.pth``, in torch hub's cache
``$TORCH_HOME/hub/checkpoints/``, default ``~/.cache/torch/hub/checkpoints/``) or a path to a ``.pth``
(torchvision format) or ``.safetensors`` file.  If that file does not exist, option ``fallback``
decides: ``"error"`` (default; ConfigError), ``"off"`` (the term is disabled: it returns a zero that
stays in the autograd graph) or ``"random"`` (a VGG with a fixed seeded initialisation,
``fallback_seed``; random-filter conv features still carry texture statistics, Ustyuzhaninov et al.
2017, "What does it take to generate natural textures?").  A file that exists but is not a VGG state
dict of the right architecture is always a ConfigError.  ``describe()`` records which weights were used.

The VGG is frozen (no gradients to its weights, always in eval mode) and is not a registered
submodule: the loss module's ``state_dict()`` and ``parameters()`` are empty, so checkpoints and
optimisers never see it, while ``.to()`` / ``.cuda()`` / ``.half()`` still move it.
"""
from __future__ import annotations

import difflib
import hashlib
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError
from . import register_loss
from .base import LossModule

#: convs per block (channels 64, 128, 256, 512, 512)
ARCHS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
CHANNELS = (64, 128, 256, 512, 512)
#: torchvision's weight file names (the hub cache names)
TORCHVISION_FILES = {"vgg16": "vgg16-397923af.pth", "vgg19": "vgg19-dcbb9e9d.pth"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: layer-set presets (inputs in [0, 1])
PRESETS: dict[str, dict[str, Any]] = {
    # PFSR: sum of MSE on VGG16 relu1_2..relu4_3, no ImageNet normalisation
    "pfsr": {"arch": "vgg16", "layers": ["relu1_2", "relu2_2", "relu3_3", "relu4_3"],
             "criterion": "mse", "normalize": False},
    # SPARNetHD: L1 on VGG19 pre-ReLU conv1_2..conv5_4, ImageNet mean/std
    "sparnethd": {"arch": "vgg19", "layers": ["conv1_2", "conv2_2", "conv3_4", "conv4_4", "conv5_4"],
                  "criterion": "l1", "normalize": True},
}
FALLBACKS = ("error", "off", "random")


def layer_index(arch: str) -> dict[str, int]:
    """Layer name -> index in the ``features`` stack of ``arch`` ("vgg16" | "vgg19")."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    idx, i = {}, 0
    for b, n in enumerate(ARCHS[arch], start=1):
        for j in range(1, n + 1):
            idx[f"conv{b}_{j}"] = i
            idx[f"relu{b}_{j}"] = i + 1
            i += 2
        idx[f"pool{b}"] = i
        i += 1
    return idx


def check_layers(arch: str, layers: Sequence[str]) -> None:
    """Raise ``ValueError`` (with a "did you mean") if a name is not a layer of ``arch``."""
    index = layer_index(arch)
    if not layers:
        raise ValueError("layers must name at least one VGG layer")
    for n in layers:
        if n not in index:
            close = difflib.get_close_matches(str(n), list(index), n=2)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValueError(f"{arch} has no layer {n!r}{hint}; layers are convB_I, reluB_I, poolB")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers repeat a layer: {list(layers)}")


def _expected_shapes(arch: str) -> dict[str, tuple[int, ...]]:
    shapes, i, cin = {}, 0, 3
    for n, c in zip(ARCHS[arch], CHANNELS):
        for _ in range(n):
            shapes[f"{i}.weight"] = (c, cin, 3, 3)
            shapes[f"{i}.bias"] = (c,)
            cin = c
            i += 2
        i += 1
    return shapes


def _short(e: BaseException) -> str:
    s = " ".join(str(e).split()) or type(e).__name__
    return s if len(s) <= 160 else s[:157] + "..."


def hub_checkpoint(arch: str) -> Path:
    """Where ``weights: auto`` looks: ``torch.hub.get_dir()/checkpoints/<torchvision file name>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILES[arch]


def read_vgg_state_dict(path: str | os.PathLike, arch: str) -> dict[str, torch.Tensor]:
    """Read a VGG ``features`` state dict from a ``.pth`` (torch.load, weights only) or ``.safetensors``.

    Accepts torchvision's keys (``features.N.*``; ``classifier.*`` ignored) or bare ``N.*`` keys and
    returns bare keys.  Raises ConfigError (one line) if the file cannot be read or is not a
    complete ``arch`` features state dict with torchvision's shapes.
    """
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path), device="cpu")
        else:
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any reader failure is a bad file
        raise ConfigError(f"cannot read VGG weights {path}: {_short(e)}") from None
    if not isinstance(sd, Mapping):
        raise ConfigError(f"VGG weights {path} hold a {type(sd).__name__}, not a state dict")
    out: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        k = str(k)
        if k.startswith("classifier."):
            continue
        out[k[len("features."):] if k.startswith("features.") else k] = v
    want = _expected_shapes(arch)
    bad = sorted(set(out) - set(want), key=str)
    missing = sorted(set(want) - set(out), key=lambda s: int(s.split(".")[0]))
    if bad or missing:
        what = f"unexpected key {bad[0]!r}" if bad else f"missing features.{missing[0]}"
        raise ConfigError(f"VGG weights {path} are not a torchvision {arch} state dict ({what})")
    for k, shp in want.items():
        v = out[k]
        if not isinstance(v, torch.Tensor) or tuple(v.shape) != shp:
            got = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
            raise ConfigError(f"VGG weights {path} are not a torchvision {arch} state dict "
                              f"(features.{k} has shape {got}, expected {shp})")
    return out


class VGGFeatures(nn.Module):
    """Frozen VGG16/VGG19 feature extractor: ``net(x) -> {layer name: feature map}``.

    ``x``: N x 3 x H x W in [0, 1] (with ``normalize=True`` the ImageNet mean/std is applied first).
    ``layers``: names such as ``"conv1_2"`` (pre-ReLU), ``"relu1_2"``, ``"pool1"``; the returned dict
    keeps their order.  ``None`` means the whole stack, returning ``{"pool5": ...}``.  The stack is
    built only up to the deepest requested layer.  ``pre_relu``: ``None`` takes the names as given,
    ``True`` reads every ``reluB_I`` as ``convB_I``, ``False`` every ``convB_I`` as ``reluB_I``.
    ``weights``: ``None`` (torchvision's initialisation, kaiming-normal fan-out, from a generator seeded
    with ``seed``), ``"auto"`` (torch hub's cache; ConfigError if absent), a file path, or a state dict.
    Parameter names are torchvision's (``features.N.weight``); parameters have ``requires_grad=False``
    and the module stays in eval mode.
    """

    def __init__(self, arch: str = "vgg19", layers: Sequence[str] | None = None, pre_relu: bool | None = None,
                 normalize: bool = False, weights: Any = None, seed: int = 0):
        super().__init__()
        index = layer_index(arch)
        self.arch = arch
        names = list(layers) if layers is not None else ["pool5"]
        check_layers(arch, names)
        fixed = []
        for n in names:
            if pre_relu is True and n.startswith("relu"):
                n = "conv" + n[4:]
            elif pre_relu is False and n.startswith("conv"):
                n = "relu" + n[4:]
            fixed.append(n)
        if len(set(fixed)) != len(fixed):
            raise ValueError(f"layers repeat a layer: {fixed}")
        self.layers = fixed
        self._at = {index[n]: n for n in fixed}
        depth = max(self._at) + 1
        mods: list[nn.Module] = []
        cin = 3
        for n, c in zip(ARCHS[arch], CHANNELS):
            for _ in range(n):
                mods += [nn.Conv2d(cin, c, 3, padding=1), nn.ReLU(inplace=False)]
                cin = c
            mods.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*mods[:depth])
        self.normalize = bool(normalize)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.weights_file: Path | None = None
        if weights is None:
            self._init(seed)
        else:
            if isinstance(weights, Mapping):
                sd = {(k[9:] if k.startswith("features.") else k): v for k, v in weights.items()
                      if not k.startswith("classifier.")}
            else:
                path = hub_checkpoint(arch) if weights == "auto" else Path(weights).expanduser()
                if not path.is_file():
                    raise ConfigError(f"{arch} weights not found: no file {path}")
                sd = read_vgg_state_dict(path, arch)
                self.weights_file = path
            own = self.features.state_dict()
            missing = [k for k in own if k not in sd]
            if missing:
                raise ConfigError(f"{arch} state dict lacks features.{missing[0]}")
            self.features.load_state_dict({k: sd[k] for k in own})
        self.requires_grad_(False)
        self.eval()

    def _init(self, seed: int) -> None:
        g = torch.Generator().manual_seed(int(seed))
        for m in self.features:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=g)
                nn.init.zeros_(m.bias)

    def train(self, mode: bool = True) -> "VGGFeatures":
        """Always stays in eval mode (the network is frozen)."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"VGGFeatures expects N x 3 x H x W, got {tuple(x.shape)}")
        if self.normalize:
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        got: dict[str, torch.Tensor] = {}
        for i, m in enumerate(self.features):
            x = m(x)
            if i in self._at:
                got[self._at[i]] = x
        return {n: got[n] for n in self.layers}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _VGGLoss(LossModule):
    """Shared set-up of the VGG losses: preset, options, weights / fallback, frozen net out of state."""

    kind = "image"

    def __init__(self, preset: str, arch: str | None, layers: Sequence[str] | None,
                 layer_weights: Sequence[float] | Mapping[str, float] | None, normalize: bool | None,
                 weights: Any, fallback: str, fallback_seed: int, extra: dict[str, Any]):
        super().__init__()
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
        p = PRESETS[preset]
        arch = p["arch"] if arch is None else arch
        if arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {arch!r}")
        layers = list(p["layers"] if layers is None else layers)
        normalize = p["normalize"] if normalize is None else normalize
        if not isinstance(normalize, bool):
            raise ValueError(f"normalize must be true or false, got {normalize!r}")
        if fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {', '.join(FALLBACKS)}, got {fallback!r}")
        if isinstance(layer_weights, Mapping):
            unknown = set(layer_weights) - set(layers)
            if unknown:
                raise ValueError(f"layer_weights name layers not in layers: {', '.join(sorted(unknown))}")
            lw = [float(layer_weights.get(n, 1.0)) for n in layers]
        elif layer_weights is None:
            lw = [1.0] * len(layers)
        else:
            lw = [float(w) for w in layer_weights]
            if len(lw) != len(layers):
                raise ValueError(f"layer_weights has {len(lw)} values for {len(layers)} layers")
        if not isinstance(weights, (str, os.PathLike)):
            raise ValueError(f"weights must be 'auto' or a file path, got {weights!r}")
        self.layers, self.layer_weights = layers, lw
        self._set_options(preset=preset, arch=arch, layers=layers, layer_weights=lw, **extra,
                          normalize=normalize, weights=str(weights), fallback=fallback,
                          fallback_seed=int(fallback_seed))

        check_layers(arch, layers)  # before touching any file
        path = hub_checkpoint(arch) if weights == "auto" else Path(weights).expanduser()
        net: VGGFeatures | None = None
        if path.is_file():
            net = VGGFeatures(arch, layers, normalize=normalize, weights=path)
            self._source: dict[str, Any] = {"file": path.name, "path": str(path)}
        elif fallback == "error":
            where = f"torch hub's cache ({path})" if weights == "auto" else str(path)
            raise ConfigError(
                f"{self.name} loss: no {arch} weights at {where}; put torchvision's "
                f"{TORCHVISION_FILES[arch]} there or give weights: PATH (.pth or .safetensors), "
                f"or set fallback: off (drop this term) or fallback: random (seeded random VGG)")
        elif fallback == "random":
            net = VGGFeatures(arch, layers, normalize=normalize, weights=None, seed=int(fallback_seed))
            self._source = {"fallback": f"random(seed={int(fallback_seed)})", "reason": f"no file {path}"}
        else:
            self._source = {"fallback": "off", "reason": f"no file {path}"}
        # a plain attribute, not a submodule: empty state_dict() / parameters(); _apply moves it
        object.__setattr__(self, "_net", net)

    @property
    def net(self) -> VGGFeatures | None:
        """The frozen feature network, or ``None`` when the term is off."""
        return self._net

    @property
    def enabled(self) -> bool:
        """False when ``fallback: off`` disabled the term (its value is then always 0)."""
        return self._net is not None

    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        if self._net is not None:
            self._net._apply(fn)
        return self

    def describe(self) -> dict[str, Any]:
        """Options plus ``weights_used``: the file (name, path, sha256 prefix) or the fallback and why."""
        d = super().describe()
        if "path" in self._source and "sha256" not in self._source:
            self._source["sha256"] = _sha256(Path(self._source["path"]))[:12]
        d["weights_used"] = dict(self._source)
        return d

    def _features(self, sr: torch.Tensor, hr: torch.Tensor):
        if sr.shape != hr.shape:
            raise ValueError(f"sr and hr must have the same shape, got {tuple(sr.shape)} and {tuple(hr.shape)}")
        fs = self._net(sr)
        with torch.no_grad():
            fh = self._net(hr)
        return fs, fh

    def _weighted_sum(self, sr: torch.Tensor, hr: torch.Tensor, crit) -> torch.Tensor:
        """``sum_l w_l * crit(phi_l(sr), phi_l(hr))`` over the configured layers (zero when the term is off)."""
        if self._net is None:
            return self._off(sr)
        fs, fh = self._features(sr, hr)
        total = 0.0
        for w, n in zip(self.layer_weights, self.layers):
            total = total + w * crit(fs[n], fh[n])
        return total

    def _off(self, sr: torch.Tensor) -> torch.Tensor:
        return sr.sum() * 0.0


@register_loss("perceptual")
class PerceptualLoss(_VGGLoss):
    """``loss(sr, hr) = sum_l w_l * criterion(phi_l(sr), phi_l(hr))`` on VGG features (hr side without
    gradient); inputs N x 3 x H x W in [0, 1].

    Options: ``preset`` ("sparnethd" default: VGG19 pre-ReLU conv1_2..conv5_4, L1, ImageNet
    normalisation; "pfsr": VGG16 relu1_2..relu4_3, MSE, none), and overrides ``arch``, ``layers``,
    ``layer_weights`` (list or {layer: w}; default 1 each), ``criterion`` ("l1" | "mse", means over
    elements), ``normalize``; ``weights``, ``fallback``, ``fallback_seed`` as in the module docstring.
    """

    def __init__(self, preset: str = "sparnethd", arch: str | None = None, layers: Sequence[str] | None = None,
                 layer_weights: Sequence[float] | Mapping[str, float] | None = None, criterion: str | None = None,
                 normalize: bool | None = None, weights: str = "auto", fallback: str = "error",
                 fallback_seed: int = 0):
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
        crit = PRESETS[preset]["criterion"] if criterion is None else criterion
        if crit not in ("l1", "mse"):
            raise ValueError(f"criterion must be l1 or mse, got {criterion!r}")
        super().__init__(preset, arch, layers, layer_weights, normalize, weights, fallback, fallback_seed,
                         {"criterion": crit})
        self._crit = F.l1_loss if crit == "l1" else F.mse_loss

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        return self._weighted_sum(sr, hr, lambda a, b: self._crit(a.float(), b.float()))


def gram_matrix(f: torch.Tensor) -> torch.Tensor:
    """N x C x H x W -> N x C x C Gram matrix ``F F^T / (C H W)`` (in float32)."""
    n, c, h, w = f.shape
    x = f.float().reshape(n, c, h * w)
    return torch.bmm(x, x.transpose(1, 2)) / (c * h * w)


def binomial_highpass(x: torch.Tensor) -> torch.Tensor:
    """``x`` minus its blur by the 5-tap binomial filter [1 4 6 4 1] / 16 in each direction (reflected
    edges): the finest band of a Laplacian pyramid, where noise, JPEG blocks and blur show."""
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=x.device, dtype=x.dtype) / 16.0
    c = x.shape[1]
    pad = F.pad(x, (2, 2, 2, 2), mode="reflect")
    blur = F.conv2d(F.conv2d(pad, k.view(1, 1, 1, 5).repeat(c, 1, 1, 1), groups=c),
                    k.view(1, 1, 5, 1).repeat(c, 1, 1, 1), groups=c)
    return x - blur


@register_loss("gram")
class GramLoss(_VGGLoss):
    """Style loss: ``sum_l w_l * mean (G(phi_l(sr)) - G(phi_l(hr)))^2`` with :func:`gram_matrix`
    (normalised by C*H*W); inputs N x 3 x H x W in [0, 1].  Options as ``perceptual`` without
    ``criterion`` (always MSE); the preset gives the layers, architecture and normalisation.

    Two options for *unpaired* style targets (styleVAE's real LR faces), both off by default:

    * ``highpass``: compare the textures of :func:`binomial_highpass` of both inputs instead of the images
      (the Gram matrices of whole small faces are dominated by their colours and layout);
    * ``batch_mean``: compare the batch means of the Gram matrices, a distribution-level target (an
      unrelated real face differs from the generated one in content, which no network can match per pair).
    """

    def __init__(self, preset: str = "sparnethd", arch: str | None = None, layers: Sequence[str] | None = None,
                 layer_weights: Sequence[float] | Mapping[str, float] | None = None,
                 normalize: bool | None = None, weights: str = "auto", fallback: str = "error",
                 fallback_seed: int = 0, highpass: bool = False, batch_mean: bool = False):
        for k, v in (("highpass", highpass), ("batch_mean", batch_mean)):
            if not isinstance(v, bool):
                raise ValueError(f"{k} must be true or false, got {v!r}")
        super().__init__(preset, arch, layers, layer_weights, normalize, weights, fallback, fallback_seed,
                         {"highpass": highpass, "batch_mean": batch_mean})
        self.highpass, self.batch_mean = highpass, batch_mean

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if self.highpass:
            sr, hr = binomial_highpass(sr), binomial_highpass(hr)
        if self.batch_mean:
            return self._weighted_sum(sr, hr, lambda a, b: F.mse_loss(gram_matrix(a).mean(0), gram_matrix(b).mean(0)))
        return self._weighted_sum(sr, hr, lambda a, b: F.mse_loss(gram_matrix(a), gram_matrix(b)))
