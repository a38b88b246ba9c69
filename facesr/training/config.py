"""Training configuration: YAML files validated against a schema of defaults, with dotted overrides.

The schema is :data:`DEFAULTS` (what every recipe shares: model, data, optimiser of the main network,
loop settings, logging) merged with the chosen recipe's own ``config_defaults`` (its section, e.g.
``gan:``, and any keys it adds elsewhere, e.g. ``train.optimizer_d``): a recipe's keys need no edit
here. A key in neither is an error that names the closest valid keys (a typo never silently does
nothing). Free-form sections (a model's settings, loss weights) are listed in :data:`FREE_FORM` and
the recipe's ``free_form``. Overrides on the command line use dotted paths with YAML values:
``train.steps=500 train.optimizer.lr=1e-3 data.train.scale_range=[1,1.2]``.
"""
from __future__ import annotations

import copy
import difflib
import math
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"

_DATASET = {
    "root": None,             # image folder (identity sub-folders for an identity split)
    "split": "all",           # all | train | val (by identity, see facesr.data.datasets.identity_split)
    "val_fraction": 0.02,
    "crop": {"kind": "none", "crop": 0, "interp": "bicubic"},  # interp: resize of the crop to HR size
    "cache": None,            # .npy path of the decoded uint8 cache (built on first use)
    "max_images": 0,          # 0 = all
    "hflip": True,
    "scale_range": [1.0, 1.0],
    "rot90": False,
    # RandomResizedCrop instead of the zoom (the released SPARNet code): {area: [0.7, 1.0], ratio: [0.75, 1.3333]}
    "resized_crop": None,
    # LR synthesis for this split; null = the model preset's (see facesr.data.degrade.make_degradation:
    # a kind name, a pipeline, a blind preset or {kind: learned, checkpoint: FILE})
    "degradation": None,
    # an unpaired source of real LR faces, sampled apart from the HR ones (sample key 'real_lr')
    "unpaired": {"root": None, "cache": None, "size": 16, "max_images": 0},
    "landmarks": None,        # .npy N x 68 x 2 (x, y in HR pixels), row i = HR face i of the cache
    "priors": {},             # name -> .npy N x S x S label maps or N x S x S x C maps, aligned like landmarks
    "workers": 0,             # threads that decode/augment upcoming batches ahead of the step (0: inline)
}

DEFAULTS: dict[str, Any] = {
    "name": "run",
    "recipe": "sr",
    "seed": 0,
    "device": "auto",
    "output_dir": "runs",
    # init: a .safetensors file to start from, or a registry name (its shipped weights); inputs: sample
    # keys handed to the network after the LR face
    # (a teacher's parsing map: inputs: [parsing])
    "model": {"name": None, "settings": {}, "init": None, "inputs": []},
    "data": {"train": copy.deepcopy(_DATASET), "val": copy.deepcopy(_DATASET)},
    "train": {
        "batch_size": 16,
        "steps": 1000,
        "optimizer": {"name": "adam", "lr": 2e-4, "betas": [0.9, 0.99], "weight_decay": 0.0},
        "scheduler": {"name": "constant", "warmup": 0, "min_lr": 0.0, "milestones": [], "gamma": 0.5},
        "ema": 0.0,
        "grad_clip": 0.0,
        "losses": {"l1": 1.0},
        "threads": 0,
        "precision": "fp32",      # fp32 | bf16 (autocast) | fp16 (autocast + grad scaler, GPU only)
        "accum_steps": 1,         # gradient accumulation: micro-batches per optimiser step
        "channels_last": False,
        "compile": False,         # torch.compile the network
        "sync_bn": False,         # SyncBatchNorm across processes (GPU only)
        "max_minutes": 0.0,       # stop (with a checkpoint) after this many minutes of one call; 0: no limit
    },
    "log": {"every": 20, "val_every": 500, "ckpt_every": 100, "tensorboard": "auto", "progress": True},
}

FREE_FORM = {("model", "settings"), ("train", "losses"), ("data", "train", "priors"), ("data", "val", "priors")}


def deep_update(base: dict, over: dict) -> dict:
    """``base`` with ``over`` merged in, recursively (new keys allowed; used to extend the schema)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _merge(base: dict, over: dict, path: tuple = (), free_form=frozenset(FREE_FORM)) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        p = path + (k,)
        if path in free_form:
            out[k] = v
            continue
        if k not in base:
            close = difflib.get_close_matches(str(k), [str(x) for x in base], n=3)
            where = ".".join(map(str, p))
            hint = f"; did you mean {', '.join('.'.join(map(str, path + (c,))) for c in close)}?" if close else \
                f"; valid keys here: {', '.join(map(str, base))}"
            raise ConfigError(f"unknown config key '{where}'{hint}")
        d = base[k]
        if isinstance(d, dict) and p not in free_form:
            if not isinstance(v, dict):
                raise ConfigError(f"config key '{'.'.join(map(str, p))}' must be a mapping, got {v!r}")
            out[k] = _merge(d, v, p, free_form)
        elif p in free_form:  # free-form: a mapping of any keys, or (non-mapping default) a value of any form
            if isinstance(d, dict) and not isinstance(v, dict):
                raise ConfigError(f"config key '{'.'.join(map(str, p))}' must be a mapping, got {v!r}")
            out[k] = copy.deepcopy(v)
        else:
            out[k] = _check_type(d, v, p)
    return out


def _check_type(default, value, path):
    where = ".".join(map(str, path))
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{where}' must be true/false, got {value!r}")
        return value
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        if isinstance(value, str):  # YAML 1.1 reads '1e-3' as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key '{where}' must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"config key '{where}' must be a finite number, got {value!r}")
        if isinstance(default, float):
            return float(value)
        if isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"config key '{where}' must be a whole number, got {value!r}")
        return int(value)
    if isinstance(default, str):
        if isinstance(value, str):
            return value
        if isinstance(default, str) and default == "auto" and isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{where}' must be a string, got {value!r}")
    if isinstance(default, list):
        if not isinstance(value, list):
            raise ConfigError(f"config key '{where}' must be a list, got {value!r}")
        return value
    return value


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.sub=value")
    key, val = text.split("=", 1)
    try:
        value = yaml.safe_load(val) if val != "" else ""
    except yaml.YAMLError:
        value = val
    return key.strip().split("."), value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    raw = copy.deepcopy(raw)
    for o in overrides or []:
        keys, value = parse_override(o)
        d = raw
        for k in keys[:-1]:
            d = d.setdefault(k, {})
            if not isinstance(d, dict):
                raise ConfigError(f"override {o!r}: {k} is not a mapping")
        d[keys[-1]] = value
    return raw


def resolve_config_path(path) -> Path:
    """A config file path, or the name of a bundled config (``sparnet_tiny`` or ``...yaml``)."""
    p = Path(path)
    if p.is_file():
        return p
    for cand in (CONFIG_DIR / p.name, CONFIG_DIR / f"{p.name}.yaml"):
        if cand.is_file():
            return cand
    bundled = ", ".join(sorted(x.stem for x in CONFIG_DIR.glob("*.yaml")))
    raise ConfigError(f"config file not found: {path} (bundled configs: {bundled})")


def load_config(path=None, overrides: list[str] | None = None, raw: dict | None = None) -> dict:
    """Read a YAML config (or take ``raw``), apply dotted overrides, validate, fill defaults.

    The file's data paths are resolved first (:func:`facesr.training.paths.resolve_config_paths`: a
    bundled config's against ``$FACESR_DATA`` / the checkout, whatever the working directory); paths in
    ``overrides`` and ``raw`` are taken as given."""
    if raw is None:
        if path is None:
            raise ConfigError("no config given")
        p = resolve_config_path(path)
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{p}: not a YAML text file (it is not UTF-8 text)") from None
        except OSError as e:
            raise ConfigError(f"cannot read config {p}: {e.strerror or e}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{p}: a config must be a mapping at the top level")
        from .paths import resolve_config_paths

        raw = resolve_config_paths(raw, p)  # the file's data paths, before the user's overrides
    raw = apply_overrides(raw, overrides or [])
    from .recipes import get_recipe

    name = raw.get("recipe", DEFAULTS["recipe"])
    recipe = get_recipe(name)
    schema = deep_update(DEFAULTS, recipe.config_defaults)
    cfg = _merge(schema, raw, free_form=frozenset(FREE_FORM | set(recipe.free_form)))
    if not cfg["model"]["name"]:
        raise ConfigError("config needs model.name (a registry name, see `facesr models`)")
    if not isinstance(cfg["model"]["name"], str):
        raise ConfigError(f"model.name must be a registry name (a string), got {cfg['model']['name']!r}")
    if cfg["data"]["train"]["root"] is None and cfg["data"]["train"]["cache"] is None:
        raise ConfigError("config needs data.train.root (an image folder)")
    check_common(cfg)
    recipe.check_config(cfg)
    return cfg


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_optimizer(opt: dict, where: str) -> None:
    """An optimiser section (``train.optimizer`` and the like): lr > 0, weight_decay >= 0, betas two
    numbers in [0, 1). Raises ConfigError naming ``where``."""
    if opt["lr"] is None or float(opt["lr"]) <= 0:
        raise ConfigError(f"{where}.lr must be positive, got {opt['lr']}")
    if opt.get("weight_decay") is not None and float(opt["weight_decay"]) < 0:
        raise ConfigError(f"{where}.weight_decay must not be negative, got {opt['weight_decay']}")
    betas = opt.get("betas")
    if betas is not None and not (isinstance(betas, list) and len(betas) == 2
                                  and all(_number(b) and 0.0 <= b < 1.0 for b in betas)):
        raise ConfigError(f"{where}.betas must be two numbers in [0, 1), e.g. [0.9, 0.99], got {betas!r}")


def check_scheduler(sched: dict, where: str) -> None:
    """A learning-rate schedule section: warmup >= 0, min_lr >= 0, gamma > 0, milestones a list of step
    numbers. Raises ConfigError naming ``where``."""
    if sched.get("warmup") is not None and sched["warmup"] < 0:
        raise ConfigError(f"{where}.warmup must be 0 (none) or a number of steps, got {sched['warmup']}")
    if sched.get("min_lr") is not None and sched["min_lr"] < 0:
        raise ConfigError(f"{where}.min_lr must not be negative, got {sched['min_lr']}")
    if sched.get("gamma") is not None and sched["gamma"] <= 0:
        raise ConfigError(f"{where}.gamma must be positive, got {sched['gamma']}")
    ms = sched.get("milestones")
    if ms is not None and not (isinstance(ms, list) and all(_number(m) and m >= 0 for m in ms)):
        raise ConfigError(f"{where}.milestones must be a list of step numbers, got {ms!r}")


def check_common(cfg: dict) -> None:
    """Value checks every recipe shares (types were checked against the schema already); raises
    ConfigError naming the key."""
    t, log = cfg["train"], cfg["log"]
    positive = {"train.steps": t["steps"], "train.batch_size": t["batch_size"], "train.accum_steps": t["accum_steps"],
                "log.every": log["every"], "log.ckpt_every": log["ckpt_every"]}
    for k, v in positive.items():
        if v is None or v < 1:
            raise ConfigError(f"{k} must be at least 1, got {v}")
    not_negative = {"seed": cfg["seed"], "train.threads": t["threads"], "train.grad_clip": t["grad_clip"],
                    "train.max_minutes": t["max_minutes"],
                    **{f"data.{s}.workers": cfg["data"][s]["workers"] for s in ("train", "val")}}
    for k, v in not_negative.items():
        if v is None or v < 0:
            raise ConfigError(f"{k} must be 0 or more, got {v}")
    check_optimizer(t["optimizer"], "train.optimizer")
    check_scheduler(t["scheduler"], "train.scheduler")
    if not 0.0 <= float(t["ema"]) < 1.0:
        raise ConfigError(f"train.ema must be in [0, 1) (0 = off), got {t['ema']}")
    if log["val_every"] < 0:
        raise ConfigError(f"log.val_every must be 0 (off) or positive, got {log['val_every']}")
    for s in ("train", "val"):
        d = cfg["data"][s]
        if not 0.0 <= float(d["val_fraction"]) < 1.0:
            raise ConfigError(f"data.{s}.val_fraction must be in [0, 1), got {d['val_fraction']}")
        if d["resized_crop"] is not None and not isinstance(d["resized_crop"], dict):
            raise ConfigError(f"data.{s}.resized_crop must be null or a mapping {{area: [lo, hi], ratio: [lo, hi]}}, "
                              f"got {d['resized_crop']!r}")
        for k in ("root", "cache", "landmarks"):
            if d[k] is not None and not isinstance(d[k], str):
                raise ConfigError(f"data.{s}.{k} must be a path, got {d[k]!r}")
    if not isinstance(cfg["device"], str):
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {cfg['device']!r}")
    if cfg["model"]["init"] is not None and not isinstance(cfg["model"]["init"], str):
        raise ConfigError(f"model.init must be a model file or a registry name, got {cfg['model']['init']!r}")


def dump_config(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False)
