"""The training loop that every recipe shares (nanoGPT-style: one readable loop, recipes hold the rest).

:class:`Trainer` owns: set-up (seed, device, DDP, precision), data (HR faces, the LR synthesis, the
sampler), named networks and named optimisers, EMA of the main network, the loop (:meth:`Trainer.fit`:
time limit, logging, validation, checkpoints), and checkpoint/resume I/O. A recipe (a subclass
registered in :mod:`facesr.training.recipes`) declares:

* ``config_defaults`` / ``free_form`` / :meth:`check_config`: its config keys, defaults and checks;
* :meth:`build_networks`: more named networks (``self.nets``: trained, saved; ``self.frozen``: loaded
  from files and never trained, e.g. a teacher), and :meth:`optimizer_specs`: its named optimisers;
* :meth:`training_step`: one step on one batch, returning scalar logs;
* :meth:`val_forward`: what validation compares.

The main network is ``self.nets["g"]`` (``self.model``); it is what ``best``/``final`` model files hold
(its EMA copy when ``train.ema`` > 0). A checkpoint (``checkpoints/last/``) holds every trained network
(``model.safetensors`` for ``g``, ``NAME.safetensors`` for the others, ``ema.safetensors``), and in
``state.pt`` every optimiser, grad scaler, the RNG states, the step and the data sampler's position, so N
steps straight and N/2 + resume + N/2 give the same weights bit for bit on the CPU, for every recipe,
and the same ``log.jsonl`` records (but their ``images_per_s``): the record being averaged is saved too,
and a resumed run drops the records the interrupted call wrote after its checkpoint. Checkpoints are
swapped in so that a kill at any moment leaves one to resume from (:mod:`facesr.training.rundir`).
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from .. import registry
from ..checkpoint import git_commit, hardware, save_model
from ..errors import ConfigError, FacesrError, require
from ..fsutil import atomic_write
from . import rundir
from .config import dump_config
from .distributed import DistInfo, any_across, average_gradients, barrier, init_distributed, mean_across
from .ema import ModelEMA
from .recipes import RECIPES, get_recipe, register_recipe  # noqa: F401  (re-exported)
from .schedules import lr_at  # noqa: F401  (re-exported: tests and tools import it from here)

MAIN = "g"


def resolve_device(name: str) -> torch.device:
    """The torch device a config's ``device`` names: ``auto`` (CUDA when there is a GPU, else the CPU),
    ``cpu``, ``cuda`` or ``cuda:N``. Anything else, or a GPU this machine lacks, is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"unknown device {name!r} (cpu, cuda, cuda:N or auto)") from None
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {name!r} is not supported for training (cpu, cuda, cuda:N or auto)")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} asked for, but this machine has no CUDA GPU (use cpu or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r} asked for, but this machine has {torch.cuda.device_count()} "
                              f"CUDA GPU(s) (cuda:0 to cuda:{torch.cuda.device_count() - 1})")
    return dev


def build_network(name: str, settings: dict, where: str) -> torch.nn.Module:
    """``registry.build(name, **settings)``; settings the architecture refuses (an unknown or mistyped
    keyword, a value of the wrong type or out of range) are a ConfigError that names ``where``."""
    try:
        registry.check_buildable(name, settings, where)  # absurd sizes fail here, on the meta device
        return registry.build(name, **settings)
    except FacesrError:
        raise
    except (TypeError, ValueError, RuntimeError, OverflowError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"{where}: {msg}") from None


def make_optimizer(params, opt: dict):
    """The optimiser a config section names (adam, adamw, sgd). On CUDA, Adam/AdamW use torch's fused
    kernels (one launch for all parameters; same update rule and state)."""
    name = opt.get("name", "adam").lower()
    lr = float(opt["lr"])
    wd = float(opt.get("weight_decay", 0.0))
    params = list(params)
    fused = {"fused": True} if params and all(isinstance(p, torch.Tensor) and p.is_cuda for p in params) else {}
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(opt.get("betas", (0.9, 0.999))), weight_decay=wd,
                                **fused)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=tuple(opt.get("betas", (0.9, 0.999))), weight_decay=wd,
                                 **fused)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd)
    raise ConfigError(f"unknown optimizer {name!r} (adam, adamw, sgd)")


def resolve_init(init: str) -> str:
    """The weights file ``model.init`` names: a file path, or a registry name whose shipped weights to
    start from (``init: sparnethd-lite`` fine-tunes the shipped model wherever facesr is installed).
    Raises ConfigError with :func:`facesr.registry.model_file`'s reason for neither."""
    try:
        return str(registry.model_file(init))
    except FacesrError as e:
        raise ConfigError(f"model.init: {e}") from None


def init_provenance(path) -> dict:
    """What a network started from: the file's name and, when it has one, its provenance."""
    from ..checkpoint import read_meta

    out: dict = {"file": Path(str(path)).name}
    try:
        out["provenance"] = read_meta(path).get("provenance")
    except FacesrError:  # a plain weights file, or gone since (resume on another machine)
        pass
    return out


def load_frozen(path, device) -> torch.nn.Module:
    """A trained network from a facesr model file, in eval mode with gradients off (a teacher, a prior)."""
    if not path:
        raise ConfigError("a frozen network needs a checkpoint file (a facesr .safetensors model)")
    net = registry.load(path, device=str(device))
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


class Trainer:
    """The loop. Recipes subclass it (see the module docstring); use :func:`make_trainer` to build one."""

    recipe_name = "base"
    config_defaults: dict = {}
    free_form: set = set()
    #: the validation metric (a key of :meth:`validate`'s dict) that picks ``best.safetensors``, and
    #: whether higher is better; a recipe scored otherwise (a landmark network's NME) sets its own
    best_metric: tuple[str, bool] = ("psnr", True)

    @classmethod
    def check_config(cls, cfg: dict) -> None:
        """Value checks of the recipe's own keys (raise ConfigError). Called by load_config."""

    def is_better(self, val: dict) -> bool:
        """Whether validation results ``val`` beat ``self.best`` by :attr:`best_metric` (a first result
        always does)."""
        key, higher = self.best_metric
        if key not in val:
            return False
        old = self.best.get(key)
        if old is None or self.best.get("step", -1) < 0:
            return True
        return val[key] > old if higher else val[key] < old

    @classmethod
    def data_hr_size(cls, cfg: dict) -> int:
        """Side (px) of the HR faces this recipe's data caches hold for ``cfg`` (what ``facesr data``
        builds): the model preset's ``hr_size``. A recipe whose network is not an SR network from LR to
        HR (a landmark network, a degradation network) overrides it."""
        from ..registry import get_preset

        return int(get_preset(cfg["model"]["name"]).hr_size)

    @classmethod
    def data_prior_files(cls, cfg: dict, part: str, progress: bool = True) -> list[tuple[str, str]]:
        """``(name, file)`` of every prior of split ``part`` that training builds from its HR cache, built
        now if missing (what ``facesr data`` prepares): here the ``auto`` ones (``landmarks``,
        ``priors.*``); a recipe whose priors are made otherwise (the heatmap recipe's teacher views)
        overrides it."""
        return cls.auto_prior_files(cfg["data"][part], progress)

    @staticmethod
    def auto_prior_files(dcfg: dict, progress: bool = True, skip: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        """``(name, file)`` of a split's ``auto`` priors (``landmarks``, ``priors.*``) but those in ``skip``,
        each built now if missing."""
        from ..priors import auto_prior_file

        specs = [("landmarks", dcfg.get("landmarks"))] + list((dcfg.get("priors") or {}).items())
        return [(name, auto_prior_file(dcfg, name, progress)) for name, spec in specs
                if spec == "auto" and name not in skip]

    def __init__(self, cfg: dict, resume: bool = False, progress: bool | None = None, overwrite: bool = False):
        """Build the run ``cfg`` describes (from :func:`facesr.training.config.load_config`).

        ``resume``: continue ``output_dir/name`` from its checkpoint (recovered first when a kill cut a
        checkpoint swap short); ``overwrite``: start afresh even though the run folder holds an earlier
        run, which is moved aside to ``NAME.old-TIMESTAMP`` (never deleted). Without either, a run folder
        that holds checkpoints, a log or model files is a ConfigError. Bad settings, data or checkpoints
        are ConfigErrors too."""
        self.cfg = cfg
        self.run_dir = Path(cfg["output_dir"]) / cfg["name"]
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.progress = cfg["log"]["progress"] if progress is None else progress
        if resume and overwrite:
            raise ConfigError("--resume continues the run and --overwrite starts it afresh: pass one of them")
        held = rundir.holds_run(self.run_dir)
        if held and not resume and not overwrite:
            raise ConfigError(f"{self.run_dir} already holds a run ({', '.join(held)}): pass --resume to continue "
                              f"it, --overwrite to start afresh (the old folder is moved aside), or choose "
                              f"another name (name=...)")
        t = int(cfg["train"].get("threads", 0))
        if t > 0:
            torch.set_num_threads(t)
        self.device = resolve_device(cfg["device"])
        self.dist: DistInfo = init_distributed(self.device.type)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        self.seed_everything(int(cfg["seed"]))
        self.preset = registry.get_preset(cfg["model"]["name"])
        model = build_network(cfg["model"]["name"], cfg["model"]["settings"], "model.settings")
        self.nets: dict[str, torch.nn.Module] = {MAIN: model.to(self.device)}
        self.frozen: dict[str, torch.nn.Module] = {}
        self.frozen_files: dict[str, str] = {}
        init = resolve_init(cfg["model"]["init"]) if cfg["model"]["init"] else None
        self.init_provenance = init_provenance(init) if init else None
        if init and not resume:
            from ..checkpoint import read_weights

            self.model.load_state_dict(read_weights(init, like=self.model))
        self.setup_precision()
        self.step = 0
        self.epoch = 0.0
        self.best = {"psnr": -1.0, "step": -1}
        self.history: list[dict] = []
        self.build_data()
        self.build_networks()
        self.build_optimizers()
        self.build_losses()
        self.net = self.wrap(self.model)
        self.tb = None
        self.log_window: dict = {"running": {}, "counts": {}}  # the log record being averaged
        if resume:
            if self.dist.is_main:
                restored = rundir.recover_last(self.ckpt_dir)
                if restored and self.progress:
                    print(f"facesr: {restored}", flush=True)
            barrier(self.dist)
            self.load_checkpoint(self.ckpt_dir / rundir.LAST)
            if self.dist.is_main:
                # records after the checkpoint's step were written by the interrupted call; they come again
                rundir.truncate_log(self.run_dir / "log.jsonl", self.step)
        elif held:  # overwrite
            if self.dist.is_main:
                moved = rundir.move_aside(self.run_dir)
                if self.progress:
                    print(f"facesr: moved the earlier run to {moved}", flush=True)
            barrier(self.dist)

    # ------------------------------------------------------------------ names kept for callers
    @property
    def model(self) -> torch.nn.Module:
        """The main network (the generator of GAN recipes, the student of distillation)."""
        return self.nets[MAIN]

    @property
    def optimizer(self):
        return self.optimizers[MAIN]

    @property
    def total_steps(self) -> int:
        return int(self.cfg["train"]["steps"])

    # ------------------------------------------------------------------ set-up
    def setup_precision(self) -> None:
        t = self.cfg["train"]
        prec = t["precision"]
        if prec not in ("fp32", "bf16", "fp16"):
            raise ConfigError(f"train.precision must be fp32, bf16 or fp16, got {prec!r}")
        if prec == "fp16" and self.device.type != "cuda":
            raise ConfigError("train.precision=fp16 needs a GPU (use bf16 on CPUs)")
        self.amp_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[prec]
        self.memory_format = torch.channels_last if t["channels_last"] else torch.contiguous_format
        if t["channels_last"]:
            self.nets[MAIN] = self.model.to(memory_format=torch.channels_last)
        if t["sync_bn"]:
            if self.device.type != "cuda":
                raise ConfigError("train.sync_bn needs GPUs (torch's SyncBatchNorm has no CPU kernel)")
            if self.dist.enabled:
                self.nets[MAIN] = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)

    def wrap(self, module):
        """The main network as the training step calls it: DDP across processes, optionally compiled.
        Other trained networks are not wrapped; their gradients are averaged by :meth:`step_optimizer`."""
        net = module
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            net = DDP(module, device_ids=[self.dist.local_rank] if self.device.type == "cuda" else None)
        if self.cfg["train"]["compile"]:
            net = torch.compile(net)
        return net

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    @staticmethod
    def seed_everything(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

    def add_network(self, name: str, spec: dict, where: str) -> torch.nn.Module:
        """Build a trained network from a ``{name: PRESET, settings: {...}}`` config section."""
        if not spec.get("name"):
            raise ConfigError(f"{where}.name is required (a registry name, see `facesr models`)")
        net = build_network(spec["name"], spec.get("settings") or {}, f"{where}.settings")
        self.nets[name] = net.to(self.device)
        return self.nets[name]

    @contextlib.contextmanager
    def params_frozen(self, opt_name: str):
        """Within the block the parameters of optimiser ``opt_name`` need no gradients (while another
        network steps: the generator against a discriminator, a styleVAE against its statistics
        network); restored afterwards, also on an exception."""
        ps = self.opt_params.get(opt_name, [])
        for p in ps:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in ps:
                p.requires_grad_(True)

    def add_frozen(self, name: str, path) -> torch.nn.Module:
        """Load a frozen network (never trained, not saved: its file is recorded in the provenance)."""
        self.frozen[name] = load_frozen(path, self.device)
        self.frozen_files[name] = str(path)
        return self.frozen[name]

    def build_data(self) -> None:
        from ..data.datasets import Augment, EpochSampler, FaceDataset
        from ..data.sources import hr_array as load_hr_array, unpaired_source

        c = self.cfg
        d = c["data"]["train"]
        main = self.dist.is_main
        if self.dist.enabled and not main:
            barrier(self.dist)  # let rank 0 build the caches first
        hr = load_hr_array(d, self.model.hr_size, self.progress and main)
        self.degradation = self.make_degradation(d)
        aug = Augment(hflip=d["hflip"], scale_range=d["scale_range"], rot90=d["rot90"], resized_crop=d["resized_crop"])
        self.train_set = FaceDataset(hr, self.degradation, aug, **self.sample_extras(d, len(hr)))
        gb, w = int(c["train"]["batch_size"]), self.dist.world_size
        accum = int(c["train"]["accum_steps"])
        if gb % (w * accum):
            raise ConfigError(f"train.batch_size ({gb}, the global batch) must be divisible by "
                              f"processes x accum_steps ({w} x {accum})")
        self.sampler = EpochSampler(self.train_set, gb // w, seed=int(c["seed"]), rank=self.dist.rank,
                                    world_size=w, workers=int(d["workers"]))
        v = c["data"]["val"]
        self.val_set = None
        if v.get("root") or v.get("cache"):
            hv = load_hr_array(v, self.model.hr_size, self.progress and main)
            if len(hv) == 0:
                raise ConfigError(f"data.val holds no images ({v.get('root') or v.get('cache')}, split "
                                  f"{v.get('split')!r})")
            self.val_set = FaceDataset(hv, self.make_degradation(v) if v.get("degradation") else self.degradation,
                                       Augment(hflip=False), **self.sample_extras(v, len(hv)))
        if self.dist.enabled and main:
            barrier(self.dist)

    def make_degradation(self, dcfg: dict):
        """The LR synthesis of a data split: its own ``degradation`` entry, else the model preset's."""
        from ..data.degrade import make_degradation

        return make_degradation(dcfg.get("degradation") or self.preset.degradation, lr_size=self.model.lr_size)

    def sample_extras(self, dcfg: dict, n: int) -> dict:
        """Landmarks, prior maps and the unpaired real-LR source a split names (FaceDataset arguments)."""
        from ..data.sources import unpaired_source

        out: dict = {}
        if dcfg.get("landmarks"):
            out["landmarks"] = _aligned_array(self.prior_file(dcfg, "landmarks", dcfg["landmarks"]), n, "landmarks")
        if dcfg.get("priors"):
            out["priors"] = {k: _aligned_array(self.prior_file(dcfg, k, p), n, f"priors.{k}")
                             for k, p in dcfg["priors"].items()}
            if "parsing" in out["priors"]:  # a mirrored left eye is a right eye
                from ..priors.parsing import FLIP_PAIRS

                out["label_flips"] = {"parsing": FLIP_PAIRS}
        src = unpaired_source(dcfg["unpaired"], progress=self.progress and self.dist.is_main)
        if src is not None:
            out["unpaired"] = src
        return out

    def prior_file(self, dcfg: dict, name: str, spec) -> str:
        """The .npy file of a split's landmarks or prior map: ``spec`` itself, or for ``auto`` the file
        built once from the split's HR cache (dlib's 68 landmarks; parsing maps rasterised from them)."""
        if spec != "auto":
            return spec
        from ..priors import auto_prior_file

        return auto_prior_file(dcfg, name, progress=self.progress and self.dist.is_main)

    def build_networks(self) -> None:
        """Hook: add networks (``self.add_network`` / ``self.add_frozen``)."""

    def optimizer_specs(self) -> dict[str, tuple[list, dict, dict]]:
        """Named optimisers: name -> (parameters, optimizer config, scheduler config). The main one is
        ``g``: ``train.optimizer`` / ``train.scheduler`` over the main network."""
        t = self.cfg["train"]
        return {MAIN: (list(self.model.parameters()), t["optimizer"], t["scheduler"])}

    def build_optimizers(self) -> None:
        self.optimizers, self.opt_cfg, self.opt_params, self.scalers = {}, {}, {}, {}
        for name, (params, opt, sched) in self.optimizer_specs().items():
            self.opt_params[name] = list(params)
            self.optimizers[name] = make_optimizer(self.opt_params[name], opt)
            self.opt_cfg[name] = (opt, sched)
            # one scaler per optimiser: each has its own backward pass, so each needs its own scale
            self.scalers[name] = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        t = self.cfg["train"]
        self.ema = ModelEMA(self.model, float(t["ema"])) if float(t["ema"]) > 0 else None

    def build_losses(self) -> None:
        """Hook: the recipe's loss modules."""

    # ------------------------------------------------------------------ steps
    def set_lrs(self) -> dict[str, float]:
        out = {}
        for name, opt in self.optimizers.items():
            cfg, sched = self.opt_cfg[name]
            lr = lr_at(self.step, float(cfg["lr"]), sched, self.total_steps)
            for g in opt.param_groups:
                g["lr"] = lr
            out[name] = lr
        return out

    def micro_batches(self, batch: dict) -> list[dict]:
        """Split a per-process batch into ``accum_steps`` micro-batches on the device (4-D float tensors in
        the configured memory format)."""
        k = int(self.cfg["train"]["accum_steps"])
        n = next(iter(batch.values())).shape[0] // k
        out = []
        for i in range(k):
            mb = {}
            for key, v in batch.items():
                v = v[i * n:(i + 1) * n]
                if v.ndim == 4 and v.is_floating_point():
                    mb[key] = v.to(self.device, memory_format=self.memory_format)
                else:
                    mb[key] = v.to(self.device)
            out.append(mb)
        return out

    def step_optimizer(self, name: str, loss_fn, micro: list[dict], prefix: str = "") -> dict[str, float]:
        """Gradients of ``loss_fn`` (micro-batch -> dict of weighted loss terms) accumulated over the
        micro-batches, then one step of optimiser ``name`` (grad clip, fp16 scaler, DDP sync). Logs each
        term and their sum (``PREFIXloss``), averaged over micro-batches."""
        opt, params, scaler = self.optimizers[name], self.opt_params[name], self.scalers[name]
        k = len(micro)
        logs: dict[str, float] = {}
        opt.zero_grad(set_to_none=True)
        ddp = name == MAIN and self.dist.enabled and hasattr(self.net, "no_sync")
        for i, mb in enumerate(micro):
            ctx = self.net.no_sync() if ddp and i < k - 1 else contextlib.nullcontext()
            with ctx:
                with self.autocast():
                    parts = loss_fn(mb)
                loss = sum(parts.values()) / k
                (scaler.scale(loss) if scaler is not None else loss).backward()
            for n, v in parts.items():
                logs[prefix + n] = logs.get(prefix + n, 0.0) + float(v.detach()) / k
            logs[prefix + "loss"] = logs.get(prefix + "loss", 0.0) + float(loss.detach())
        if name != MAIN or not ddp:
            average_gradients(params, self.dist)
        clip = float(self.cfg["train"]["grad_clip"])
        if scaler is not None:
            if clip > 0:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(params, clip)
            scaler.step(opt)
            scaler.update()
        else:
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(params, clip)
            opt.step()
        return logs

    def training_step(self, batch: dict) -> dict[str, float]:
        """One optimisation step on one batch; returns scalar logs (``loss`` at least)."""
        raise NotImplementedError

    def update_ema(self) -> None:
        if self.ema is not None:
            self.ema.update(self.model, self.step)

    def eval_model(self):
        return self.ema.module if self.ema is not None else self.model

    def net_inputs(self, batch: dict, keys=None, where: str = "model.inputs") -> list:
        """What a network is called with: the LR face, then the sample keys ``keys`` (default: those
        ``model.inputs`` names, for the main network); a key the samples lack is a ConfigError naming
        ``where``."""
        out = [batch["lr"]]
        for k in self.cfg["model"]["inputs"] if keys is None else keys:
            if k not in batch:
                raise ConfigError(f"{where} names {k!r}, but samples hold only {', '.join(sorted(batch))} "
                                  f"(see data.train.priors)")
            out.append(batch[k])
        return out

    def val_forward(self, model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(prediction, target) that validation scores, both N x 3 x H x W in [0, 1]."""
        return model(*self.net_inputs(batch)), batch["hr"]

    @torch.no_grad()
    def validate(self, max_images: int | None = None) -> dict:
        from ..data.datasets import collate
        from ..metrics import MetricAccumulator

        if self.val_set is None or not self.dist.is_main:
            return {}
        model = self.eval_model()
        was = model.training
        model.eval()
        acc = MetricAccumulator()
        n = len(self.val_set) if max_images is None else min(max_images, len(self.val_set))
        bs = 16
        seed = int(self.cfg["seed"])
        for s in range(0, n, bs):
            b = collate([self.val_set.item(i, np.random.default_rng([seed, 7919, i])) for i in range(s, min(n, s + bs))])
            b = {k: v.to(self.device) for k, v in b.items()}
            pred, target = self.val_forward(model, b)
            acc.update(pred.float().clamp(0, 1).cpu(), target.float().cpu())
        model.train(was)
        res = acc.compute()
        return {"psnr": float(res["psnr"]), "ssim": float(res["ssim"])}

    # ------------------------------------------------------------------ state
    def extra_state(self) -> dict:
        """Hook: recipe state that is not a network, optimiser or RNG (saved with torch.save, weights_only)."""
        return {}

    def load_extra_state(self, st: dict) -> None:
        pass

    def recipe_provenance(self) -> dict:
        """Hook: what a model file should record of the recipe (losses used, feature networks, teacher)."""
        out: dict = {}
        if self.frozen_files:
            out["frozen"] = {k: init_provenance(v) for k, v in self.frozen_files.items()}
        return out

    def model_meta(self, metrics: dict | None = None, net: str = MAIN) -> dict:
        meta = dict(self.nets[net].facesr_meta)
        t = self.cfg["train"]
        meta["provenance"] = {
            "recipe": self.cfg["recipe"], "config_name": self.cfg["name"], "step": self.step,
            "batch_size": t["batch_size"], "images_seen": self.step * t["batch_size"],
            "train_data": self.cfg["data"]["train"].get("root") or self.cfg["data"]["train"].get("cache"),
            "degradation": self.degradation.spec() if hasattr(self.degradation, "spec") else str(self.degradation),
            "ema": float(t["ema"]), "git_commit": git_commit(), "hardware": hardware(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "train_seconds": round(self.train_seconds, 1),
            "world_size": self.dist.world_size,
            **{k: t[k] for k in ("precision", "accum_steps", "channels_last", "compile", "sync_bn")},
            **self.recipe_provenance(),
        }
        if self.init_provenance is not None and net == MAIN:  # started from another model file
            prov = meta["provenance"]
            prov["init"] = self.init_provenance
            before = self.init_provenance.get("provenance") or {}
            prev = before.get("images_seen_total", before.get("images_seen", 0))
            prov["images_seen_total"] = prov["images_seen"] + int(prev or 0)
        meta["metrics"] = metrics or {}
        return meta

    @staticmethod
    def net_file(name: str) -> str:
        return "model.safetensors" if name == MAIN else f"{name}.safetensors"

    def save_checkpoint(self, metrics: dict | None = None) -> None:
        """Write ``checkpoints/last`` atomically (a temp folder renamed over the old one); rank 0 only."""
        if not self.dist.is_main:
            return
        tmp = self.ckpt_dir / f"{rundir.TEMP_PREFIX}tmp{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        files = []
        for name, net in self.nets.items():
            save_model(net, tmp / self.net_file(name), self.model_meta(metrics, name))
            files.append(self.net_file(name))
        if self.ema is not None:
            save_model(self.ema.module, tmp / "ema.safetensors", self.model_meta(metrics))
            files.append("ema.safetensors")
        state = {
            "step": self.step, "recipe": self.cfg["recipe"],
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "scalers": {k: s.state_dict() for k, s in self.scalers.items() if s is not None},
            "sampler": self.sampler.state_dict(),
            "torch_rng": torch.get_rng_state(), "best": self.best, "train_seconds": self.train_seconds,
            "python_rng": repr(random.getstate()), "history": json.dumps(self.history),
            "extra": self.extra_state(), "log_window": json.dumps(self.log_window),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        atomic_write(tmp / "state.pt", lambda f: torch.save(state, f))
        cfg_text = dump_config(self.cfg).encode()
        atomic_write(tmp / "config.yaml", lambda f: f.write(cfg_text))
        rundir.write_marker(tmp, self.step, files + ["state.pt", "config.yaml"])  # last: complete from here
        rundir.swap_in(tmp, self.ckpt_dir)

    def load_checkpoint(self, path: Path) -> None:
        import ast
        import pickle

        from ..checkpoint import read_weights

        if not (path / "state.pt").is_file():
            where = path.parent if path.name == rundir.LAST else path
            raise ConfigError(f"nothing to resume: {where} holds no checkpoint (start without --resume)")
        state_file = path / "state.pt"
        not_state = f"{state_file} is not a facesr training state"
        try:
            st = torch.load(state_file, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, AttributeError,
                ImportError, IndexError, KeyError, TypeError) as e:
            raise ConfigError(f"{not_state} ({type(e).__name__}); resume from another checkpoint or start "
                              f"afresh with --overwrite") from None
        if not isinstance(st, dict):
            raise ConfigError(f"{not_state} (it holds a {type(st).__name__}, not a mapping)")
        missing = [k for k in ("step", "sampler", "torch_rng", "best", "train_seconds", "python_rng", "history",
                               "extra") if k not in st]
        if "optimizers" not in st and "optimizer" not in st:
            missing.append("optimizers")
        if missing:
            raise ConfigError(f"{not_state} (no {', '.join(missing)})")
        if st.get("recipe", "sr") != self.cfg["recipe"]:
            raise ConfigError(f"cannot resume: {path} was written by recipe {st.get('recipe')!r}, "
                              f"not {self.cfg['recipe']!r}")
        files = {name: path / self.net_file(name) for name in self.nets}
        if self.ema is not None:
            files["ema"] = path / "ema.safetensors"
        for name, f in files.items():
            if not f.is_file():
                hint = " (was the run trained without train.ema?)" if name == "ema" else ""
                raise ConfigError(f"cannot resume: {f} is missing{hint}")
            module = self.ema if name == "ema" else self.nets[name]
            try:
                module.load_state_dict(read_weights(f, like=module))
            except FacesrError as e:  # damaged, or another network's (checked from the header)
                raise ConfigError(f"cannot resume: {e}") from None
            except (RuntimeError, KeyError, ValueError):
                raise ConfigError(f"cannot resume: {f} does not fit network {name!r} of this config "
                                  f"(was the run started with another model or settings?)") from None
            except Exception as e:  # safetensors' own error types for a damaged file
                raise ConfigError(f"cannot resume: {f} is not a readable weights file "
                                  f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
        opts = st.get("optimizers") or {MAIN: st["optimizer"]}  # older checkpoints held one optimiser
        for name, opt in self.optimizers.items():
            try:
                opt.load_state_dict(opts[name])
            except (KeyError, ValueError, TypeError, RuntimeError):
                raise ConfigError(f"cannot resume: the optimiser state {name!r} in {state_file} does not fit this "
                                  f"config (another optimizer or networks than the run was started with?)") from None
        try:
            for name, sc in self.scalers.items():
                if sc is not None and name in st.get("scalers", {}):
                    sc.load_state_dict(st["scalers"][name])
            self.sampler.load_state_dict(st["sampler"])
            torch.set_rng_state(st["torch_rng"])
            if "cuda_rng" in st and self.device.type == "cuda":
                torch.cuda.set_rng_state(st["cuda_rng"], self.device)
            random.setstate(ast.literal_eval(st["python_rng"]))
            self.best = dict(st["best"])
            self.train_seconds = float(st["train_seconds"])
            self.history = json.loads(st["history"])
            self.log_window = json.loads(st.get("log_window") or '{"running": {}, "counts": {}}')
            self.load_extra_state(st["extra"])
        except (KeyError, ValueError, TypeError, RuntimeError, SyntaxError) as e:
            raise ConfigError(f"{not_state} (damaged: {type(e).__name__})") from None
        self.step = int(st["step"])

    train_seconds = 0.0

    # ------------------------------------------------------------------ loop
    def _log(self, rec: dict) -> None:
        self.history.append(rec)
        if not self.dist.is_main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")
        if self.tb is not None:
            for k, v in rec.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, rec["step"])

    def _open_tensorboard(self):
        want = self.cfg["log"]["tensorboard"]
        if want is False or want == "off":
            return None
        try:
            require("tensorboard", "'facesr[tensorboard]'", purpose="TensorBoard logging")
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            if want is True:
                raise
            return None
        # a resumed run drops the events the interrupted call wrote after its checkpoint
        return SummaryWriter(str(self.run_dir / "tb"), purge_step=self.step + 1 if self.step > 0 else None)

    def fit(self, steps: int | None = None) -> dict:
        """Train until the recipe's total steps (or ``steps`` more, if given) or until
        ``train.max_minutes`` of training have passed in this call (then it checkpoints, so ``--resume``
        goes on exactly where it stopped); returns the last validation."""
        total = self.total_steps
        end = total if steps is None else min(total, self.step + steps)
        limit_s = float(self.cfg["train"]["max_minutes"]) * 60.0
        t_start = time.time()
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.yaml").write_text(dump_config(self.cfg))
            self.tb = self._open_tensorboard()
        log = self.cfg["log"]
        for net in self.nets.values():
            net.train()
        bar = None
        if self.progress and self.dist.is_main:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=self.step, desc=self.cfg["name"], unit="step", dynamic_ncols=True)
        last_val: dict = {}
        # sums and counts of the record being averaged; kept in checkpoints, so that a resumed run logs
        # what the straight run logs (a term may be logged on some steps only: G every n_critic steps)
        running: dict[str, float] = self.log_window["running"]
        counts: dict[str, int] = self.log_window["counts"]
        n_run = 0  # steps of this call in the window (throughput)
        t_last = t_window = time.time()
        try:
            while self.step < end:
                lrs = self.set_lrs()
                s = self.sampler
                self.epoch = s.epoch + min(1.0, s.pos / max(1, s.batches_per_epoch))
                batch = self.sampler.next_batch()
                out = self.training_step(batch)
                if self.dist.enabled:
                    out = mean_across(out, self.dist)
                self.step += 1
                # every rank has the same config, so all of them take part in this all-reduce (or none)
                out_of_time = limit_s > 0 and any_across(time.time() - t_start >= limit_s, self.dist)
                for k, v in out.items():
                    running[k] = running.get(k, 0.0) + float(v)
                    counts[k] = counts.get(k, 0) + 1
                n_run += 1
                now = time.time()
                self.train_seconds += now - t_last
                t_last = now
                if bar is not None:
                    bar.update(1)
                    if "loss" in out:
                        bar.set_postfix(loss=f"{out['loss']:.4f}", lr=f"{lrs[MAIN]:.1e}")
                if self.step % int(log["every"]) == 0 or self.step == end or out_of_time:
                    window = max(1e-9, now - t_window)
                    lr_logs = {"lr" if k == MAIN else f"lr_{k}": v for k, v in lrs.items()}
                    rec = {"step": self.step, **lr_logs, **{k: v / counts[k] for k, v in running.items()},
                           "images_per_s": round(n_run * int(self.cfg["train"]["batch_size"]) / window, 3)}
                    self._log(rec)
                    running.clear()
                    counts.clear()
                    n_run = 0
                    t_window = time.time()
                if int(log["val_every"]) > 0 and (self.step % int(log["val_every"]) == 0 or self.step == total):
                    last_val = self.validate()
                    if last_val:
                        self._log({"step": self.step, **{f"val_{k}": v for k, v in last_val.items()}})
                        if bar is not None:
                            bar.write(f"step {self.step}: val " + ", ".join(f"{k} {v:.4g}" for k, v in last_val.items()))
                        if self.is_better(last_val) and self.dist.is_main:
                            self.best = {**last_val, "step": self.step}
                            save_model(self.eval_model(), self.run_dir / "best.safetensors",
                                       self.model_meta({"val": last_val}))
                    t_last = t_window = time.time()
                if self.step % int(log["ckpt_every"]) == 0 or self.step == end or out_of_time:
                    self.save_checkpoint(last_val)
                    t_last = time.time()
                if out_of_time:
                    if bar is not None:
                        bar.write(f"stopped at step {self.step}: train.max_minutes={limit_s / 60:g} reached "
                                  f"(checkpoint saved; --resume continues)")
                    break
        finally:
            if bar is not None:
                bar.close()
            if self.tb is not None:
                self.tb.close()
        if self.step >= total and self.dist.is_main:
            save_model(self.eval_model(), self.run_dir / "final.safetensors", self.model_meta({"val": last_val}))
        return last_val


def _aligned_array(path, n: int, what: str) -> np.ndarray:
    """A .npy array with one row per HR face of its split, in the order they are loaded."""
    p = Path(str(path))
    if not p.is_file():
        raise ConfigError(f"data {what}: file not found: {p}")
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        raise ConfigError(f"data {what}: {p} is not a .npy array ({e})") from None
    if len(arr) != n:  # never guess an alignment: a subset (max_images) needs its own file
        raise ConfigError(f"data {what}: {p} has {len(arr)} rows for {n} HR faces (row i must belong to HR face "
                          f"i as loaded, after the split and max_images)")
    return arr


def make_trainer(cfg: dict, resume: bool = False, progress: bool | None = None, overwrite: bool = False) -> Trainer:
    """The recipe ``cfg['recipe']`` built on ``cfg`` (from :func:`facesr.training.config.load_config`);
    ``resume`` / ``overwrite`` as for :class:`Trainer`."""
    return get_recipe(cfg["recipe"])(cfg, resume=resume, progress=progress, overwrite=overwrite)
