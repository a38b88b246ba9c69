"""``recipe: stylevae``: the styleVAE degradation network of the style-based attentive face hallucination
paper, trained on *unpaired* HR faces and real LR faces (its §3.1, eq. 6).

Each sample holds an HR face (``hr``, at the network's input size), that face made to the LR size by
``data.train.degradation`` (``lr``; the preset's PIL bicubic by default: the paper's "x_HR resized to the
size of y_LR") and an unrelated real LR face (``real_lr``, from ``data.train.unpaired``). The network
encodes the style of ``real_lr`` (reparameterised), the content of ``hr``, and generates ``y``. The loss
(minimised by the network's optimiser ``train.optimizer``, the paper's Adam 1e-4, betas (0.9, 0.999)):

* ``stylevae.kl`` (lambda1, 0.01) x KL(N(mu, sigma^2) || N(0, I)) of the style posterior
  (:func:`facesr.losses.latent.kl_normal`; the paper's eq. 1 with its sign made a divergence);
* ``stylevae.style_weight`` (lambda2, 1) x [the content terms ``train.losses`` of ``(y, lr)`` (alpha: the
  paper's VGG feature distance at one layer, weight 1) + the style terms ``stylevae.style_losses`` of
  ``(y, real_lr)`` (beta: the paper's Gram-matrix distances, weight 0.1)];
* ``stylevae.mi.weight`` (lambda3, 0.1) x minus MINE's mutual-information objective between ``real_lr``
  and ``y`` (:mod:`facesr.losses.mine`, ``stylevae.mi.estimator``: ``dv_ma`` by default). Matched pairs
  ``(real_lr_i, y_i)`` sample the joint; ``(real_lr_i, y_{i+1})`` (``stylevae.marginal: roll``; or a
  random permutation, ``shuffle``) the product of the marginals. The paper writes the second term over
  ``p(x_LR) x p(x_HR)``; we read it as the product of the marginals of the two variables whose MI is
  maximised.

The statistics network T (``stylevae.statistics``, ``stylevae-t``) is a second trained network with its
own optimiser (``train.optimizer_t``, Adam 1e-4 (0.9, 0.999) as the paper's): after the network's step it
steps on the same (detached) pairs to raise the same objective (MINE maximises over T), and only then
updates ``dv_ma``'s moving average (kept in checkpoints, so resuming stays exact). ``stylevae.mi.weight:
0`` switches the MI term off (Table 3's "without MI": no T is built); the AdaIN switch is the network's
(``model.name: stylevae-noadain`` or ``model.settings.adain: false``).

VGG terms follow the project's rule: ``weights: auto`` looks for torchvision's file, else ``fallback``
decides (the bundled configs use ``random``: a seeded random VGG, recorded in the checkpoints).

Data: the loop reads an SR network's sizes (HR faces at ``hr_size``, LR at ``lr_size``); a degradation
network's are its input and output (``lr_size`` = HR input), so the recipe swaps them while the data are
set up. ``data.train.unpaired.size`` must be the network's output size. Besides a folder of real LR faces,
the unpaired section takes (this recipe only) ``crop`` (a centre crop of each face before it is resized:
the real faces' framing can then match the HR faces'), and, for the controlled experiment, a hidden
``degradation``: the faces under ``root`` are then HR faces (``split``, ``val_fraction``, ``crop``
select and frame them as for a dataset section; ``disjoint: true`` leaves out the files
``data.train`` uses), resized to the network's input size (cached in ``cache``) and degraded once each
by that chain (face i with ``numpy.random.default_rng([seed, i])``): "real" LR faces made by a chain
the styleVAE never sees.

Validation: none (``validate`` returns nothing): PSNR to a bicubic LR would reward not degrading.
The trained network is ``final.safetensors``; use it as ``{kind: learned, checkpoint: FILE}``.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch

from ...errors import ConfigError
from ..config import check_optimizer, check_scheduler
from ..trainer import MAIN, Trainer
from . import register_recipe
from .sr import build_image_losses, describe_losses

MARGINALS = ("roll", "shuffle")

STYLEVAE_DEFAULTS = {
    "kl": 0.01,                 # lambda1
    "style_weight": 1.0,        # lambda2: multiplies train.losses (content, alpha) and style_losses (beta)
    # image losses of (generated LR, real LR); free form: {name: weight | {weight, options}}. The paper's
    # eq. 4 leaves its layer weights open: C^2 per layer makes facesr's C H W-normalised Gram matrices
    # H W-normalised ones (entries of one scale at every layer)
    "style_losses": {"gram": {"weight": 0.1, "preset": "pfsr", "arch": "vgg19",
                              "layers": ["relu1_1", "relu2_1", "relu3_1", "relu4_1"],
                              "layer_weights": [4096, 16384, 65536, 262144], "normalize": True,
                              "weights": "auto", "fallback": "error"}},
    # lambda3 and MINE's options (loss `mine`); weight 0: no MI term and no statistics network
    "mi": {"weight": 0.1, "estimator": "dv_ma", "ma_rate": 0.01},
    "statistics": {"name": "stylevae-t", "settings": {}},
    "marginal": "roll",         # roll | shuffle: how mismatched (product-of-marginals) pairs are made
}

# keys this recipe adds to data.train.unpaired (see the module docstring)
UNPAIRED_EXTRA = {
    "crop": {"kind": "none", "crop": 0, "interp": "bicubic"},
    "degradation": None,
    "split": "all",
    "val_fraction": 0.02,
    "disjoint": True,
    "seed": 0,
}


@contextlib.contextmanager
def sr_sizes(net):
    """Within the block, ``net.lr_size`` / ``net.hr_size`` are swapped: a degradation network's input
    (``lr_size``, the HR face) read as an SR network's ``hr_size``, its output as ``lr_size``."""
    lr, hr = net.lr_size, net.hr_size
    net.lr_size, net.hr_size = hr, lr
    try:
        yield net
    finally:
        net.lr_size, net.hr_size = lr, hr


def _same_folder(a, b) -> bool:
    try:
        return a is not None and b is not None and Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def _split_files(dcfg: dict, where: str) -> list:
    from ...data.datasets import identity_split
    from ...data.io import list_images

    split = dcfg.get("split", "all")
    if split == "all":
        return list_images(dcfg["root"], recursive=True)
    if split in ("train", "val"):
        tr, va = identity_split(dcfg["root"], float(dcfg.get("val_fraction", 0.02)))
        return tr if split == "train" else va
    raise ConfigError(f"{where}.split must be all, train or val, got {split!r}")


def unpaired_faces(ucfg: dict, train_cfg: dict, in_size: int, out_size: int, progress: bool = False):
    """The unpaired real-LR source of the sections this recipe extends (``crop``, ``degradation``, ...;
    see the module docstring) as a :class:`~facesr.data.datasets.UnpairedSource` of ``out_size`` faces."""
    from ...data.datasets import CropPolicy, UnpairedSource, build_cache, load_hr, open_cache
    from ...data.degrade import make_degradation
    from ...data.sources import limited_cache_path, subset_files

    where = "data.train.unpaired"
    root, cache = ucfg.get("root"), ucfg.get("cache")
    if root is None:
        raise ConfigError(f"{where}.root is required with {where}.crop or {where}.degradation (a folder of faces)")
    if not Path(root).is_dir():
        raise ConfigError(f"unpaired folder not found: {root}")
    files = _split_files(ucfg, where)
    spec = ucfg.get("degradation")
    if spec and ucfg.get("disjoint", True) and _same_folder(root, train_cfg.get("root")):
        used = set(subset_files(_split_files(train_cfg, "data.train"), int(train_cfg.get("max_images") or 0),
                                train_cfg["root"]))
        files = [f for f in files if f not in used]
        if not files:
            raise ConfigError(f"{where}: data.train uses every face of {root} (disjoint: true); limit "
                              f"data.train.max_images or choose another split")
    n = int(ucfg.get("max_images") or 0)
    files = subset_files(files, n, root)
    if not files:
        raise ConfigError(f"unpaired folder has no images: {root}")
    c = ucfg.get("crop") or {}
    size = in_size if spec else out_size
    crop = CropPolicy(c.get("kind", "none"), int(c.get("crop", 0) or 0), size, c.get("interp", "bicubic"))
    if cache:
        arr = open_cache(build_cache(files, crop, limited_cache_path(cache, n), progress=progress))
    else:
        arr = np.stack([load_hr(f, crop) for f in files])
    if spec:
        deg = make_degradation(spec, lr_size=out_size)
        seed = int(ucfg.get("seed", 0))
        lr = np.stack([deg(np.asarray(arr[i]), np.random.default_rng([seed, i])) for i in range(len(arr))])
        if lr.shape[1:3] != (out_size, out_size):
            raise ConfigError(f"{where}.degradation makes {lr.shape[1]}x{lr.shape[2]} faces, the network outputs "
                              f"{out_size}x{out_size} (give the chain lr_size: {out_size})")
        arr = lr
    return UnpairedSource(arr)


@register_recipe("stylevae")
class StyleVAERecipe(Trainer):
    """styleVAE on unpaired HR and real LR faces; see the module docstring."""

    config_defaults = {
        "stylevae": STYLEVAE_DEFAULTS,
        "train": {"optimizer": {"name": "adam", "lr": 1e-4, "betas": [0.9, 0.999], "weight_decay": 0.0},
                  "optimizer_t": {"name": "adam", "lr": 1e-4, "betas": [0.9, 0.999], "weight_decay": 0.0},
                  "scheduler_t": {"name": "constant", "warmup": 0, "min_lr": 0.0, "milestones": [], "gamma": 0.5}},
        "data": {"train": {"unpaired": UNPAIRED_EXTRA}},
    }
    free_form = {("stylevae", "style_losses"), ("stylevae", "mi"), ("stylevae", "statistics", "settings")}

    @classmethod
    def data_hr_size(cls, cfg: dict) -> int:
        from ...registry import get_preset

        return int(get_preset(cfg["model"]["name"]).lr_size)  # a degradation network's input is the HR face

    @classmethod
    def check_config(cls, cfg: dict) -> None:
        s = cfg["stylevae"]
        for k in ("kl", "style_weight"):
            if float(s[k]) < 0:
                raise ConfigError(f"stylevae.{k} must not be negative, got {s[k]}")
        if not isinstance(s["mi"], dict) or not isinstance(s["style_losses"], dict):
            raise ConfigError("stylevae.mi and stylevae.style_losses must be mappings")
        w = s["mi"].get("weight", 1.0)
        if isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0:
            raise ConfigError(f"stylevae.mi.weight must be a number >= 0 (0: no MI term), got {w!r}")
        if s["marginal"] not in MARGINALS:
            raise ConfigError(f"stylevae.marginal must be one of {', '.join(MARGINALS)}, got {s['marginal']!r}")
        if w and not s["statistics"]["name"]:
            raise ConfigError("stylevae.statistics.name is required with the MI term (a registry name: stylevae-t)")
        u = cfg["data"]["train"]["unpaired"]
        if u["root"] is None and u["cache"] is None:
            raise ConfigError("recipe stylevae trains on unpaired real LR faces: set data.train.unpaired.root "
                              "(a folder of faces) or data.train.unpaired.cache")
        if u["split"] not in ("all", "train", "val"):
            raise ConfigError(f"data.train.unpaired.split must be all, train or val, got {u['split']!r}")
        check_optimizer(cfg["train"]["optimizer_t"], "train.optimizer_t")
        check_scheduler(cfg["train"]["scheduler_t"], "train.scheduler_t")

    @property
    def mi_weight(self) -> float:
        return float(self.cfg["stylevae"]["mi"].get("weight", 1.0))

    # ------------------------------------------------------------------ set-up
    def build_data(self) -> None:
        net = self.model
        if not (hasattr(net, "encode_style") and hasattr(net, "degrade")):
            raise ConfigError(f"recipe stylevae trains a styleVAE network (stylevae, stylevae-x8, ...), not "
                              f"{self.cfg['model']['name']!r}")
        size = self.cfg["data"]["train"]["unpaired"]["size"]
        if size != net.out_size:
            raise ConfigError(f"data.train.unpaired.size is {size}, the network makes {net.out_size} px LR faces "
                              f"(set data.train.unpaired.size: {net.out_size})")
        with sr_sizes(net):
            super().build_data()

    def sample_extras(self, dcfg: dict, n: int) -> dict:
        u = dcfg.get("unpaired") or {}
        custom = u.get("degradation") or (u.get("crop") or {}).get("kind", "none") != "none"
        if not custom:
            return super().sample_extras(dcfg, n)
        out = super().sample_extras({**dcfg, "unpaired": {}}, n)
        net = self.model  # sizes swapped by build_data: hr_size is the input
        out["unpaired"] = unpaired_faces(u, self.cfg["data"]["train"], net.hr_size, net.lr_size,
                                         progress=self.progress and self.dist.is_main)
        return out

    def build_networks(self) -> None:
        if self.mi_weight:
            self.add_network("t", self.cfg["stylevae"]["statistics"], "stylevae.statistics")

    def optimizer_specs(self):
        specs = super().optimizer_specs()
        if "t" in self.nets:
            t = self.cfg["train"]
            specs["t"] = (list(self.nets["t"].parameters()), t["optimizer_t"], t["scheduler_t"])
        return specs

    def build_losses(self) -> None:
        from ...losses import build_loss

        s = self.cfg["stylevae"]
        self.content_losses = build_image_losses(self.cfg["train"]["losses"], device=self.device)
        self.style_losses = build_image_losses(s["style_losses"], "stylevae.style_losses", device=self.device)
        self.mine = None
        if self.mi_weight:
            spec = {k: v for k, v in s["mi"].items() if k != "weight"}
            self.mine, _ = build_loss("mine", spec)

    # ------------------------------------------------------------------ the step
    def mismatched(self, y: torch.Tensor) -> torch.Tensor:
        """``y`` re-ordered so that ``(real_lr_i, result_i)`` are independent pairs."""
        if y.shape[0] < 2:
            raise ConfigError("the MI term needs at least 2 faces per micro-batch (train.batch_size / "
                              "accum_steps / processes >= 2)")
        if self.cfg["stylevae"]["marginal"] == "roll":
            return y.roll(1, 0)
        return y[torch.randperm(y.shape[0]).to(y.device)]

    def t_scores(self, real: torch.Tensor, y: torch.Tensor):
        t = self.nets["t"]
        return t(real, y), t(real, self.mismatched(y))

    def g_terms(self, mb: dict) -> dict:
        from ...losses.latent import kl_normal

        s = self.cfg["stylevae"]
        out = self.net(mb["hr"], mb["real_lr"], return_latents=True)
        y = out["lr"]
        mb["_fake"] = y.detach().float()
        terms = {}
        if float(s["kl"]):
            terms["kl"] = kl_normal(out["mu"], out["logvar"]) * float(s["kl"])
        lam2 = float(s["style_weight"])
        for k, (m, w) in self.content_losses.items():
            if w and lam2:
                terms[k] = m(y.float(), mb["lr"].float()) * (w * lam2)
        for k, (m, w) in self.style_losses.items():
            if w and lam2:
                terms[f"style_{k}"] = m(y.float(), mb["real_lr"].float()) * (w * lam2)
        if self.mine is not None:
            with self.params_frozen("t"):
                tj, tm = self.t_scores(mb["real_lr"].float(), y.float())
            loss, _ = self.mine(tj, tm, update=False)
            terms["mi"] = loss * self.mi_weight
        return terms

    def t_step(self, micro: list[dict]) -> dict:
        estimates = []

        def terms(mb):
            tj, tm = self.t_scores(mb["real_lr"].float(), mb["_fake"])
            loss, est = self.mine(tj, tm, update=True)
            estimates.append(float(est))
            return {"mi": loss}

        logs = self.step_optimizer("t", terms, micro, prefix="t_")
        logs["mi_dv"] = sum(estimates) / len(estimates)  # the DV bound on these batches, nats
        return logs

    def training_step(self, batch: dict) -> dict[str, float]:
        micro = self.micro_batches(batch)
        logs = self.step_optimizer(MAIN, self.g_terms, micro)
        self.update_ema()
        if self.mine is not None:
            logs.update(self.t_step(micro))
        return logs

    @torch.no_grad()
    def validate(self, max_images: int | None = None) -> dict:
        """None: see the module docstring."""
        return {}

    # ------------------------------------------------------------------ state
    def extra_state(self) -> dict:
        return {"mine": self.mine.state()} if self.mine is not None else {}

    def load_extra_state(self, st: dict) -> None:
        if self.mine is not None and "mine" in st:
            self.mine.load_state(st["mine"])

    def recipe_provenance(self) -> dict:
        s = self.cfg["stylevae"]
        out = {**super().recipe_provenance(), "losses": describe_losses(self.content_losses),
               "stylevae": {"kl": float(s["kl"]), "style_weight": float(s["style_weight"]),
                            "style_losses": describe_losses(self.style_losses), "marginal": s["marginal"]}}
        if self.mine is not None:
            out["stylevae"]["mi"] = {"weight": self.mi_weight, **self.mine.describe(),
                                     "statistics": self.cfg["stylevae"]["statistics"]["name"]}
        else:
            out["stylevae"]["mi"] = {"weight": 0.0}
        return out
