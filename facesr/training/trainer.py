"""A generic, self-contained training loop (nanoGPT-style) that recipes extend.

The base :class:`Trainer` is the supervised SR recipe (``recipe: sr``, SPARNet's: weighted pixel
losses). A GAN, progressive or distillation recipe subclasses it and overrides
:meth:`Trainer.build_extra` (more networks/optimisers), :meth:`Trainer.training_step` and
:meth:`Trainer.extra_state` / :meth:`Trainer.load_extra_state`; checkpointing, resume, EMA,
validation, logging and the progress bar stay here.

Resume restores weights, optimiser, EMA, RNG states, step and the data sampler's position, so
N steps straight and N/2 + resume + N/2 give the same weights bit for bit on the CPU.
"""
from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from .. import registry
from ..checkpoint import git_commit, hardware, save_model
from ..data.datasets import CropPolicy, EpochSampler, collate, PairDataset, build_cache, identity_split, open_cache
from ..data.degrade import make_degradation
from ..data.io import list_images
from ..errors import ConfigError, FacesrError, require
from ..losses import PIXEL_LOSSES
from .config import dump_config
from .distributed import DistInfo, any_across, barrier, init_distributed, mean_across
from .ema import ModelEMA

RECIPES: dict[str, type] = {}


def register_recipe(name: str):
    def deco(cls):
        RECIPES[name] = cls
        return cls

    return deco


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def lr_at(step: int, base_lr: float, sched: dict, total: int) -> float:
    """Learning rate at ``step`` (0-based); stateless so resume needs no scheduler state."""
    warm = int(sched.get("warmup", 0))
    if warm and step < warm:
        return base_lr * (step + 1) / warm
    name = sched.get("name", "constant")
    if name == "constant":
        return base_lr
    if name == "cosine":
        lo = float(sched.get("min_lr", 0.0))
        t = (step - warm) / max(1, total - warm)
        return lo + 0.5 * (base_lr - lo) * (1.0 + math.cos(math.pi * min(1.0, t)))
    if name == "step":
        k = sum(step >= m for m in sched.get("milestones", []))
        return base_lr * float(sched.get("gamma", 0.5)) ** k
    raise ConfigError(f"unknown scheduler {name!r} (constant, cosine, step)")


def make_optimizer(params, opt: dict):
    """The optimiser a config names. On CUDA, Adam/AdamW use torch's fused kernels (one launch for all
    parameters): SPARNet's training step is launch-bound on a GPU, and the fused step ran 119 vs 164 ms
    per batch-32 step on an H100 (an ad hoc check, 2026-11-23); same update rule, same state."""
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


def hr_array(dcfg: dict, hr_size: int, progress: bool = True):
    """The HR faces of a dataset section: a uint8 memmap from its cache (built on first use)."""
    crop = CropPolicy(dcfg["crop"].get("kind", "none"), int(dcfg["crop"].get("crop", 0)), hr_size)
    root, cache = dcfg.get("root"), dcfg.get("cache")
    if root is None:
        if cache and Path(cache).is_file():
            arr = open_cache(cache)
        else:
            raise ConfigError(f"dataset has no root and its cache {cache!r} does not exist")
    else:
        if not Path(root).exists():
            raise ConfigError(f"dataset folder not found: {root}")
        split = dcfg.get("split", "all")
        if split == "all":
            files = list_images(root, recursive=True)
        elif split in ("train", "val"):
            tr, va = identity_split(root, float(dcfg.get("val_fraction", 0.02)))
            files = tr if split == "train" else va
        else:
            raise ConfigError(f"split must be all, train or val, got {split!r}")
        if cache:
            arr = open_cache(build_cache(files, crop, cache, progress=progress))
        else:
            from ..data.datasets import load_hr

            arr = np.stack([load_hr(f, crop) for f in files]) if files else np.zeros((0, hr_size, hr_size, 3),
                                                                                       np.uint8)
    n = int(dcfg.get("max_images", 0) or 0)
    return arr[:n] if n else arr


def init_provenance(path) -> dict:
    """What a run started from (``model.init``): the file's name and, when it has one, its provenance."""
    from ..checkpoint import read_meta

    out: dict = {"file": Path(str(path)).name}
    try:
        out["provenance"] = read_meta(path).get("provenance")
    except FacesrError:  # a plain weights file, or gone since (resume on another machine)
        pass
    return out


@register_recipe("sr")
class Trainer:
    """Supervised SR: weighted pixel losses (SPARNet's recipe is ``losses: {l1: 1}``)."""

    def __init__(self, cfg: dict, resume: bool = False, progress: bool | None = None):
        self.cfg = cfg
        self.run_dir = Path(cfg["output_dir"]) / cfg["name"]
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.progress = cfg["log"]["progress"] if progress is None else progress
        if (self.ckpt_dir / "last").is_dir() and not resume:
            raise ConfigError(f"{self.run_dir} already holds a run: pass --resume to continue it, "
                              f"or choose another name (name=...)")
        t = int(cfg["train"].get("threads", 0))
        if t > 0:
            torch.set_num_threads(t)
        self.device = resolve_device(cfg["device"])
        self.dist: DistInfo = init_distributed(self.device.type)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        self.seed_everything(int(cfg["seed"]))
        self.preset = registry.get_preset(cfg["model"]["name"])
        self.model = registry.build(cfg["model"]["name"], **cfg["model"]["settings"]).to(self.device)
        self.init_provenance = init_provenance(cfg["model"]["init"]) if cfg["model"]["init"] else None
        if cfg["model"]["init"] and not resume:
            from ..checkpoint import read_weights

            self.model.load_state_dict(read_weights(cfg["model"]["init"]))
        self.setup_precision()
        self.step = 0
        self.best = {"psnr": -1.0, "step": -1}
        self.history: list[dict] = []
        self.build_data()
        self.build_optim()
        self.build_extra()
        self.net = self.wrap(self.model)
        self.tb = None
        if resume:
            self.load_checkpoint(self.ckpt_dir / "last")

    # ------------------------------------------------------------------ set-up
    def setup_precision(self) -> None:
        t = self.cfg["train"]
        prec = t["precision"]
        if prec not in ("fp32", "bf16", "fp16"):
            raise ConfigError(f"train.precision must be fp32, bf16 or fp16, got {prec!r}")
        if prec == "fp16" and self.device.type != "cuda":
            raise ConfigError("train.precision=fp16 needs a GPU (use bf16 on CPUs)")
        self.amp_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[prec]
        self.scaler = torch.amp.GradScaler("cuda") if prec == "fp16" else None
        self.memory_format = torch.channels_last if t["channels_last"] else torch.contiguous_format
        if t["channels_last"]:
            self.model = self.model.to(memory_format=torch.channels_last)
        if t["sync_bn"]:
            if self.device.type != "cuda":
                raise ConfigError("train.sync_bn needs GPUs (torch's SyncBatchNorm has no CPU kernel)")
            if self.dist.enabled:
                self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)

    def wrap(self, module):
        """The module the training step calls: DDP across processes, optionally compiled."""
        net = module
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            net = DDP(module, device_ids=[self.dist.local_rank] if self.device.type == "cuda" else None)
        if self.cfg["train"]["compile"]:
            net = torch.compile(net)
        return net

    def autocast(self):
        if self.amp_dtype is None:
            import contextlib

            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    @staticmethod
    def seed_everything(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

    def build_data(self) -> None:
        c = self.cfg
        d = c["data"]["train"]
        if self.dist.enabled and not self.dist.is_main:
            barrier(self.dist)  # let rank 0 build the caches first
        hr = hr_array(d, self.model.hr_size, self.progress and self.dist.is_main)
        deg = make_degradation(self.preset.degradation, lr_size=self.model.lr_size)
        self.degradation = deg
        self.train_set = PairDataset(hr, deg, hflip=d["hflip"], scale_range=d["scale_range"], rot90=d["rot90"])
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
            self.val_set = PairDataset(hr_array(v, self.model.hr_size, self.progress and self.dist.is_main), deg,
                                       hflip=False)
        if self.dist.enabled and self.dist.is_main:
            barrier(self.dist)

    def build_optim(self) -> None:
        t = self.cfg["train"]
        self.optimizer = make_optimizer(self.model.parameters(), t["optimizer"])
        self.ema = ModelEMA(self.model, float(t["ema"])) if float(t["ema"]) > 0 else None
        self.losses = {}
        for k, w in t["losses"].items():
            if k not in PIXEL_LOSSES:
                raise ConfigError(f"unknown loss {k!r} for recipe {self.cfg['recipe']!r}; "
                                  f"known: {', '.join(PIXEL_LOSSES)}")
            self.losses[k] = float(w)

    def build_extra(self) -> None:
        """Hook for recipes with more networks (discriminators, teachers, landmark nets)."""

    # ------------------------------------------------------------------ steps
    def set_lr(self) -> float:
        t = self.cfg["train"]
        lr = lr_at(self.step, float(t["optimizer"]["lr"]), t["scheduler"], int(t["steps"]))
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        return lr

    def micro_batches(self, batch: dict):
        """Split a per-process batch into ``accum_steps`` micro-batches (device, memory format applied)."""
        k = int(self.cfg["train"]["accum_steps"])
        lr, hr = batch["lr"], batch["hr"]
        n = lr.shape[0] // k
        for i in range(k):
            yield {"lr": lr[i * n:(i + 1) * n].to(self.device, memory_format=self.memory_format),
                   "hr": hr[i * n:(i + 1) * n].to(self.device, memory_format=self.memory_format)}

    def compute_losses(self, mb: dict) -> dict[str, torch.Tensor]:
        """Weighted losses of one micro-batch (recipes override this or :meth:`training_step`)."""
        sr = self.net(mb["lr"])
        return {k: PIXEL_LOSSES[k](sr.float(), mb["hr"]) * w for k, w in self.losses.items()}

    def backward_and_step(self, loss_fn, optimizer, params, micro) -> dict[str, float]:
        """Accumulate gradients over micro-batches (DDP syncs on the last one), clip, step."""
        import contextlib

        k = len(micro)
        logs: dict[str, float] = {}
        optimizer.zero_grad(set_to_none=True)
        for i, mb in enumerate(micro):
            sync = i == k - 1 or not self.dist.enabled or not hasattr(self.net, "no_sync")
            ctx = contextlib.nullcontext() if sync else self.net.no_sync()
            with ctx:
                with self.autocast():
                    parts = loss_fn(mb)
                loss = sum(parts.values()) / k
                if self.scaler is not None:
                    self.scaler.scale(loss).backward()
                else:
                    loss.backward()
            for n, v in parts.items():
                logs[n] = logs.get(n, 0.0) + float(v.detach()) / k
            logs["loss"] = logs.get("loss", 0.0) + float(loss.detach())
        clip = float(self.cfg["train"]["grad_clip"])
        if self.scaler is not None:
            if clip > 0:
                self.scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, clip)
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
        return logs

    def training_step(self, batch: dict) -> dict[str, float]:
        micro = list(self.micro_batches(batch))
        out = self.backward_and_step(self.compute_losses, self.optimizer, list(self.model.parameters()), micro)
        if self.ema is not None:
            self.ema.update(self.model, self.step)
        return out

    def eval_model(self):
        return self.ema.module if self.ema is not None else self.model

    @torch.no_grad()
    def validate(self, max_images: int | None = None) -> dict:
        from ..metrics import MetricAccumulator

        if self.val_set is None or not self.dist.is_main:
            return {}
        model = self.eval_model()
        was = model.training
        model.eval()
        acc = MetricAccumulator()
        n = len(self.val_set) if max_images is None else min(max_images, len(self.val_set))
        bs = 16
        for s in range(0, n, bs):
            b = collate([self.val_set.item(i) for i in range(s, min(n, s + bs))])
            acc.update(model(b["lr"].to(self.device)).clamp(0, 1).cpu(), b["hr"])
        model.train(was)
        res = acc.compute()
        return {"psnr": float(res["psnr"]), "ssim": float(res["ssim"])}

    # ------------------------------------------------------------------ state
    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, st: dict) -> None:
        pass

    def model_meta(self, metrics: dict | None = None) -> dict:
        meta = dict(self.model.facesr_meta)
        meta["provenance"] = {
            "recipe": self.cfg["recipe"], "config_name": self.cfg["name"], "step": self.step,
            "batch_size": self.cfg["train"]["batch_size"], "images_seen": self.step * self.cfg["train"]["batch_size"],
            "train_data": self.cfg["data"]["train"].get("root") or self.cfg["data"]["train"].get("cache"),
            "degradation": self.preset.degradation, "ema": float(self.cfg["train"]["ema"]),
            "git_commit": git_commit(), "hardware": hardware(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "train_seconds": round(self.train_seconds, 1),
            "world_size": self.dist.world_size,
            **{k: self.cfg["train"][k] for k in ("precision", "accum_steps", "channels_last", "compile", "sync_bn")},
        }
        if self.init_provenance is not None:  # started from another model file: say which, and its history
            prov = meta["provenance"]
            prov["init"] = self.init_provenance
            before = self.init_provenance.get("provenance") or {}
            prev = before.get("images_seen_total", before.get("images_seen", 0))
            prov["images_seen_total"] = prov["images_seen"] + int(prev or 0)
        meta["metrics"] = metrics or {}
        return meta

    def save_checkpoint(self, metrics: dict | None = None) -> None:
        """Write ``checkpoints/last`` atomically (a temp folder renamed over the old one); rank 0 only."""
        if not self.dist.is_main:
            return
        tmp = self.ckpt_dir / f".last.tmp{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        meta = self.model_meta(metrics)
        save_model(self.model, tmp / "model.safetensors", meta)
        if self.ema is not None:
            save_model(self.ema.module, tmp / "ema.safetensors", meta)
        state = {
            "step": self.step, "optimizer": self.optimizer.state_dict(), "sampler": self.sampler.state_dict(),
            "torch_rng": torch.get_rng_state(), "best": self.best, "train_seconds": self.train_seconds,
            "python_rng": repr(random.getstate()), "history": json.dumps(self.history),
            "extra": self.extra_state(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
        }
        torch.save(state, tmp / "state.pt")
        (tmp / "config.yaml").write_text(dump_config(self.cfg))
        last = self.ckpt_dir / "last"
        old = self.ckpt_dir / f".last.old{os.getpid()}"
        if last.exists():
            os.replace(last, old)
        os.replace(tmp, last)
        if old.exists():
            shutil.rmtree(old)

    def load_checkpoint(self, path: Path) -> None:
        from ..checkpoint import read_weights

        if not (path / "state.pt").is_file():
            raise ConfigError(f"nothing to resume: {path} holds no checkpoint")
        self.model.load_state_dict(read_weights(path / "model.safetensors"))
        if self.ema is not None:
            self.ema.load_state_dict(read_weights(path / "ema.safetensors"))
        st = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
        self.step = int(st["step"])
        self.optimizer.load_state_dict(st["optimizer"])
        self.sampler.load_state_dict(st["sampler"])
        torch.set_rng_state(st["torch_rng"])
        import ast

        random.setstate(ast.literal_eval(st["python_rng"]))
        self.best = dict(st["best"])
        self.train_seconds = float(st["train_seconds"])
        self.history = json.loads(st["history"])
        self.load_extra_state(st["extra"])
        if self.scaler is not None and st.get("scaler"):
            self.scaler.load_state_dict(st["scaler"])

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
        return SummaryWriter(str(self.run_dir / "tb"))

    def fit(self, steps: int | None = None) -> dict:
        """Train until ``train.steps`` (or ``steps`` more, if given) or until ``train.max_minutes`` of
        training have passed in this call (then it checkpoints, so ``--resume`` goes on exactly where it
        stopped); returns the last validation."""
        total = int(self.cfg["train"]["steps"])
        end = total if steps is None else min(total, self.step + steps)
        limit_s = float(self.cfg["train"]["max_minutes"]) * 60.0
        t_start = time.time()
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.yaml").write_text(dump_config(self.cfg))
            self.tb = self._open_tensorboard()
        log = self.cfg["log"]
        self.model.train()
        bar = None
        if self.progress and self.dist.is_main:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=self.step, desc=self.cfg["name"], unit="step", dynamic_ncols=True)
        last_val: dict = {}
        running: dict[str, float] = {}
        n_run = 0
        t_last = t_window = time.time()
        try:
            while self.step < end:
                lr = self.set_lr()
                batch = self.sampler.next_batch()
                out = self.training_step(batch)
                if self.dist.enabled:
                    out = mean_across(out, self.dist)
                self.step += 1
                # every rank has the same config, so all of them take part in this all-reduce (or none)
                out_of_time = limit_s > 0 and any_across(time.time() - t_start >= limit_s, self.dist)
                for k, v in out.items():
                    running[k] = running.get(k, 0.0) + v
                n_run += 1
                now = time.time()
                self.train_seconds += now - t_last
                t_last = now
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{out['loss']:.4f}", lr=f"{lr:.1e}")
                if self.step % int(log["every"]) == 0 or self.step == end or out_of_time:
                    window = max(1e-9, now - t_window)
                    rec = {"step": self.step, "lr": lr, **{k: v / n_run for k, v in running.items()},
                           "images_per_s": round(n_run * int(self.cfg["train"]["batch_size"]) / window, 3)}
                    self._log(rec)
                    running, n_run = {}, 0
                    t_window = time.time()
                if int(log["val_every"]) > 0 and (self.step % int(log["val_every"]) == 0 or self.step == total):
                    last_val = self.validate()
                    if last_val:
                        self._log({"step": self.step, **{f"val_{k}": v for k, v in last_val.items()}})
                        if bar is not None:
                            bar.write(f"step {self.step}: val PSNR {last_val['psnr']:.3f} SSIM {last_val['ssim']:.4f}")
                        if last_val["psnr"] > self.best["psnr"] and self.dist.is_main:
                            self.best = {"psnr": last_val["psnr"], "ssim": last_val["ssim"], "step": self.step}
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


def make_trainer(cfg: dict, resume: bool = False, progress: bool | None = None) -> Trainer:
    name = cfg["recipe"]
    if name not in RECIPES:
        raise ConfigError(f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPES))}")
    return RECIPES[name](cfg, resume=resume, progress=progress)
