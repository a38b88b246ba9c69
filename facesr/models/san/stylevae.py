"""styleVAE (the HR -> real-world-like LR degradation network of the style-based attentive face
hallucination paper) and the statistics network T of its mutual-information term.

styleVAE (paper §3.1): a style encoder ``E_LR`` maps a real LR face to the mean and log-variance of a
Gaussian style code ``z`` (reparameterised: ``z = mu + exp(logvar / 2) * eps``); a content encoder
``E_HR`` maps the HR face to a content code at the LR size; a generator ``G`` turns the content code into
the LR face through residual blocks, each followed by AdaIN whose scale and shift come from ``z``.
Modules: ``style_encoder`` (E_LR), ``content_encoder`` (E_HR), ``decoder`` (G).
Once trained, :meth:`StyleVAE.degrade` turns any HR face into an LR face with a style code drawn from
the prior N(0, I): a seedable learned degradation (``{kind: learned, checkpoint: FILE}`` calls it).

The paper gives no layer sizes; our choices, each a setting (sizes for the default 128 -> 32 preset):

* sizes: ``in_size`` (HR input, 128) and ``out_size`` (LR output, 32: the paper's x4); their ratio a
  power of two. As every facesr network, the module's ``lr_size`` is its *input* size and ``hr_size``
  its *output* size (so ``lr_size`` = ``in_size`` = 128, ``hr_size`` = ``out_size`` = 32 here: the
  convention :class:`facesr.data.degrade.Learned` reads).
* ``E_HR``: conv3 3 -> ``width`` (32) + LeakyReLU 0.2; ``log2(in/out)`` stride-2 conv4 downsamplings
  doubling the channels up to ``content_channels`` (64), each + InstanceNorm (affine) + LeakyReLU; a conv3
  to ``content_channels`` if not reached; ``n_content_res`` (2) residual blocks with InstanceNorm (MUNIT's
  content encoder).
* ``E_LR``: conv3 3 -> ``width`` + LeakyReLU; stride-2 conv4 downsamplings (channels doubling up to
  ``2 width``) + LeakyReLU until 4 x 4 (no normalisation: it would remove the style); global average
  pool; linear to ``2 style_dim`` (``mu``, ``logvar``); ``style_dim`` 32.
* ``G`` (``adain=True``): a mapping MLP ``z -> mlp_dim (128) -> mlp_dim`` (LeakyReLU), then ``n_res`` (4)
  blocks ``h = AdaIN(h + conv3(ReLU(conv3(h))), w)`` ("AdaIN after each residual block"), AdaIN being
  ``IN(h) * (1 + gamma(w)) + beta(w)`` with a linear ``gamma, beta`` per block (zero-initialised: plain IN
  at first); conv3 -> ``width``, LeakyReLU, conv3 -> 3.
* ``adain=False`` (Table 3's "without AdaIN"): the codes are concatenated instead (the paper contrasts
  AdaIN with direct concatenation): ``z`` tiled over the content code, concatenated, a 1x1 conv back to
  ``content_channels``, then the same residual blocks without normalisation (an InstanceNorm after each
  block would erase a spatially constant code).
* ``noise`` (True): per-pixel Gaussian noise added after each block's convolutions with a learned
  per-channel scale initialised at 0 (StyleGAN's noise inputs): sensor noise is per pixel, which a global
  code cannot produce. Drawn from the ``generator`` passed in (or torch's global RNG).
* ``skip`` (True): the output is the PIL-bicubic downscale of the HR face plus G's output, G's last conv
  zero-initialised (a new network is exactly bicubic downscaling and learns the degradation on top of it).
  False: G's output alone.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...data.resize import resize

__all__ = ["AdaIN", "StyleEncoder", "ContentEncoder", "StyleGenerator", "StyleVAE", "StatisticsNetwork"]


def _positive_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return v


def _non_negative_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {v!r}")
    return v


def _log2_ratio(big: int, small: int, what: str) -> int:
    if big % small or (big // small) & (big // small - 1):
        raise ValueError(f"{what}: {big} / {small} must be a power of two")
    return int(round(math.log2(big // small)))


def conv3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


def down4(cin: int, cout: int) -> nn.Conv2d:
    """Stride-2 conv4 (halves the size)."""
    return nn.Conv2d(cin, cout, 4, stride=2, padding=1)


class AdaIN(nn.Module):
    """``IN(h) * (1 + gamma) + beta`` with ``(gamma, beta) = Linear(w)`` (zero-initialised)."""

    def __init__(self, channels: int, w_dim: int):
        super().__init__()
        self.affine = nn.Linear(w_dim, 2 * channels)
        nn.init.zeros_(self.affine.weight)
        nn.init.zeros_(self.affine.bias)

    def forward(self, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.affine(w).to(h.dtype).unsqueeze(-1).unsqueeze(-1).chunk(2, 1)
        return F.instance_norm(h) * (1 + gamma) + beta


class _ContentRes(nn.Module):
    """``x + IN(conv3(ReLU(IN(conv3(x)))))``."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(conv3(c, c), nn.InstanceNorm2d(c, affine=True), nn.ReLU(),
                                  conv3(c, c), nn.InstanceNorm2d(c, affine=True))

    def forward(self, x):
        return x + self.body(x)


class ContentEncoder(nn.Module):
    """``E_HR``: HR face (N x 3 x in x in) -> content code (N x content_channels x out x out)."""

    def __init__(self, in_size: int, out_size: int, width: int, channels: int, n_res: int):
        super().__init__()
        layers: list[nn.Module] = [conv3(3, width), nn.LeakyReLU(0.2)]
        c = width
        for _ in range(_log2_ratio(in_size, out_size, "in_size / out_size")):
            cn = min(2 * c, channels)
            layers += [down4(c, cn), nn.InstanceNorm2d(cn, affine=True), nn.LeakyReLU(0.2)]
            c = cn
        if c != channels:
            layers += [conv3(c, channels), nn.LeakyReLU(0.2)]
        layers += [_ContentRes(channels) for _ in range(n_res)]
        self.net = nn.Sequential(*layers)

    def forward(self, hr):
        return self.net(hr)


class StyleEncoder(nn.Module):
    """``E_LR``: LR face (N x 3 x out x out) -> ``(mu, logvar)``, each N x style_dim."""

    def __init__(self, out_size: int, width: int, style_dim: int):
        super().__init__()
        layers: list[nn.Module] = [conv3(3, width), nn.LeakyReLU(0.2)]
        c, s = width, out_size
        while s > 4:
            cn = min(2 * c, 2 * width)
            layers += [down4(c, cn), nn.LeakyReLU(0.2)]
            c, s = cn, s // 2
        self.net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(c, 2 * style_dim)

    def forward(self, lr):
        mu, logvar = self.fc(self.net(lr)).chunk(2, 1)
        return mu, logvar


class _GenBlock(nn.Module):
    """``h + conv3(ReLU(conv3(h))) (+ noise)``, then AdaIN from ``w`` (``adain=True``) or nothing."""

    def __init__(self, c: int, w_dim: int, adain: bool, noise: bool):
        super().__init__()
        self.conv1, self.conv2 = conv3(c, c), conv3(c, c)
        self.noise_scale = nn.Parameter(torch.zeros(1, c, 1, 1)) if noise else None
        self.adain = AdaIN(c, w_dim) if adain else None

    def forward(self, h, w, generator=None):
        r = self.conv2(F.relu(self.conv1(h)))
        if self.noise_scale is not None:
            n = torch.randn((h.shape[0], 1, h.shape[2], h.shape[3]), generator=generator, device=h.device,
                            dtype=h.dtype)
            r = r + self.noise_scale.to(h.dtype) * n
        h = h + r
        return self.adain(h, w) if self.adain is not None else h


class StyleGenerator(nn.Module):
    """``G``: (content code, style code) -> LR face residual (N x 3 x out x out, before the skip)."""

    def __init__(self, width: int, channels: int, style_dim: int, mlp_dim: int, n_res: int, adain: bool,
                 noise: bool, zero_last: bool):
        super().__init__()
        self.adain = adain
        if adain:
            self.mapping = nn.Sequential(nn.Linear(style_dim, mlp_dim), nn.LeakyReLU(0.2),
                                         nn.Linear(mlp_dim, mlp_dim), nn.LeakyReLU(0.2))
            self.fuse = None
        else:
            self.mapping = None
            self.fuse = nn.Conv2d(channels + style_dim, channels, 1)
        self.blocks = nn.ModuleList(_GenBlock(channels, mlp_dim, adain, noise) for _ in range(n_res))
        self.out = nn.Sequential(conv3(channels, width), nn.LeakyReLU(0.2), conv3(width, 3))
        if zero_last:
            nn.init.zeros_(self.out[-1].weight)
            nn.init.zeros_(self.out[-1].bias)

    def forward(self, content, z, generator=None):
        if self.adain:
            w = self.mapping(z)
            h = content
        else:
            w = None
            tiled = z.to(content.dtype)[:, :, None, None].expand(-1, -1, *content.shape[-2:])
            h = self.fuse(torch.cat([content, tiled], 1))
        for blk in self.blocks:
            h = blk(h, w, generator)
        return self.out(h)


class StyleVAE(nn.Module):
    """The styleVAE degradation network (see the module docstring for its layout and our choices).

    ``forward(hr, real_lr=None, z=None, generator=None, return_latents=False)``: ``hr`` N x 3 x in x in
    in [0, 1]. The style code is ``z`` when given (N x style_dim); else, with ``real_lr`` (N x 3 x out x
    out in [0, 1]), ``E_LR``'s posterior sample ``mu + exp(logvar / 2) * eps`` (its mean in eval mode);
    else a draw from the prior N(0, I). Random draws use ``generator`` (a ``torch.Generator``) or torch's
    global RNG. Returns the LR face N x 3 x out x out (clamped to [0, 1] in eval mode), or with
    ``return_latents`` a dict ``{"lr", "z", "mu", "logvar"}`` (``mu``/``logvar`` None without ``real_lr``).

    ``degrade(hr, generator=None, z=None)``: the LR face with a style code from the prior (or ``z``),
    clamped to [0, 1]: the call :class:`facesr.data.degrade.Learned` makes.
    """

    def __init__(self, in_size: int = 128, out_size: int = 32, width: int = 32, content_channels: int = 64,
                 style_dim: int = 32, mlp_dim: int = 128, n_res: int = 4, n_content_res: int = 2,
                 adain: bool = True, noise: bool = True, skip: bool = True):
        super().__init__()
        for name, v in (("in_size", in_size), ("out_size", out_size), ("width", width),
                        ("content_channels", content_channels), ("style_dim", style_dim), ("mlp_dim", mlp_dim)):
            _positive_int(name, v)
        _non_negative_int("n_res", n_res)
        _non_negative_int("n_content_res", n_content_res)
        if out_size < 4:
            raise ValueError(f"out_size must be at least 4, got {out_size}")
        _log2_ratio(in_size, out_size, "in_size / out_size")
        self.in_size, self.out_size = in_size, out_size
        self.lr_size, self.hr_size = in_size, out_size  # a facesr network's input and output sizes
        self.style_dim = style_dim
        self.skip = bool(skip)
        self.content_encoder = ContentEncoder(in_size, out_size, width, content_channels, n_content_res)
        self.style_encoder = StyleEncoder(out_size, width, style_dim)
        self.decoder = StyleGenerator(width, content_channels, style_dim, mlp_dim, n_res, bool(adain),
                                        bool(noise), zero_last=self.skip)

    # ------------------------------------------------------------------ parts
    def _check(self, x, size: int, what: str) -> None:
        if x.ndim != 4 or x.shape[1] != 3 or tuple(x.shape[-2:]) != (size, size):
            raise ValueError(f"StyleVAE expects {what} faces N x 3 x {size} x {size}, got {tuple(x.shape)}")

    def encode_style(self, real_lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``E_LR``: ``(mu, logvar)`` (N x style_dim each) of real LR faces (N x 3 x out x out)."""
        self._check(real_lr, self.out_size, "real LR")
        return self.style_encoder(real_lr)

    def encode_content(self, hr: torch.Tensor) -> torch.Tensor:
        """``E_HR``: the content code (N x content_channels x out x out) of HR faces."""
        self._check(hr, self.in_size, "HR")
        return self.content_encoder(hr)

    @staticmethod
    def reparameterize(mu, logvar, generator=None) -> torch.Tensor:
        """``mu + exp(logvar / 2) * eps``, ``eps ~ N(0, I)`` from ``generator`` (or the global RNG)."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def sample_prior(self, n: int, generator=None, device=None, dtype=torch.float32) -> torch.Tensor:
        """``n`` style codes from the prior N(0, I)."""
        return torch.randn((n, self.style_dim), generator=generator, device=device, dtype=dtype)

    def decode(self, hr: torch.Tensor, content: torch.Tensor, z: torch.Tensor, generator=None) -> torch.Tensor:
        """``G(content, z)`` plus (with ``skip``) the PIL-bicubic downscale of ``hr``; not clamped."""
        out = self.decoder(content, z, generator)
        if self.skip:
            out = out + resize(hr, self.out_size, "bicubic").to(out.dtype)
        return out

    # ------------------------------------------------------------------ calls
    def forward(self, hr, real_lr=None, z=None, generator=None, return_latents: bool = False):
        content = self.encode_content(hr)
        mu = logvar = None
        if z is None:
            if real_lr is not None:
                mu, logvar = self.encode_style(real_lr)
                if real_lr.shape[0] != hr.shape[0]:
                    raise ValueError(f"StyleVAE: {real_lr.shape[0]} real LR faces for {hr.shape[0]} HR faces")
                z = self.reparameterize(mu, logvar, generator) if self.training else mu
            else:
                z = self.sample_prior(hr.shape[0], generator, hr.device, content.dtype)
        elif z.shape != (hr.shape[0], self.style_dim):
            raise ValueError(f"StyleVAE: z must be N x {self.style_dim} (N = {hr.shape[0]}), got {tuple(z.shape)}")
        out = self.decode(hr, content, z, generator)
        if not self.training:
            out = out.clamp(0.0, 1.0)
        if return_latents:
            return {"lr": out, "z": z, "mu": mu, "logvar": logvar}
        return out

    def degrade(self, hr: torch.Tensor, generator=None, z=None) -> torch.Tensor:
        """HR faces (N x 3 x in x in, [0, 1]) -> LR faces (N x 3 x out x out, [0, 1]) with style codes
        from the prior (or ``z``); every random draw from ``generator``, so a seeded generator repeats."""
        content = self.encode_content(hr)
        if z is None:
            z = self.sample_prior(hr.shape[0], generator, hr.device, content.dtype)
        return self.decode(hr, content, z, generator).clamp(0.0, 1.0)


class StatisticsNetwork(nn.Module):
    """The statistics network ``T`` of the MINE term: a pair of LR faces -> one score per pair.

    ``forward(a, b)``: ``a``, ``b`` N x 3 x s x s (any s >= 4; a real LR face and a generated one) ->
    N scores. Layout (ours; the paper only names T): the pair concatenated (6 channels), conv3 -> ``width``
    (32) + LeakyReLU 0.2, ``n_down`` (3) stride-2 conv4 + LeakyReLU doubling the channels (up to
    ``4 width``), global average pool, linear -> ``hidden`` (128), LeakyReLU, linear -> 1.
    """

    def __init__(self, width: int = 32, n_down: int = 3, hidden: int = 128, size: int = 32):
        super().__init__()
        _positive_int("width", width)
        _non_negative_int("n_down", n_down)
        _positive_int("hidden", hidden)
        self.lr_size = self.hr_size = _positive_int("size", size)  # the face size it is built for (any works)
        layers: list[nn.Module] = [conv3(6, width), nn.LeakyReLU(0.2)]
        c = width
        for _ in range(n_down):
            cn = min(2 * c, 4 * width)
            layers += [down4(c, cn), nn.LeakyReLU(0.2)]
            c = cn
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(c, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if a.shape != b.shape or a.ndim != 4 or a.shape[1] != 3:
            raise ValueError(f"T takes two N x 3 x s x s batches of one shape, got {tuple(a.shape)} and "
                             f"{tuple(b.shape)}")
        return self.head(self.features(torch.cat([a, b], 1))).squeeze(1)
