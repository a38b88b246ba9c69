"""Where the data paths of a training config point, whatever the working directory.

The bundled configs (``facesr/configs/*.yaml``) name their datasets as ``../shared/data/<set>`` and their
caches as ``cache/<file>.npy``: paths relative to the root of a source checkout. Read as they are, they
only work when ``facesr`` is run from that root. :func:`resolve_config_paths` makes them absolute:

* a path under the *data root* - one that starts with ``$FACESR_DATA`` or ``${FACESR_DATA}`` in any
  config, or with ``../shared/data`` in a bundled one - is placed under :func:`data_root`: the folder
  named by the ``FACESR_DATA`` environment variable, else ``<checkout>/../shared/data`` in a source
  checkout;
* any other relative path of a bundled config (a cache) is placed under the checkout's root;
* relative paths of the user's own configs (and of command-line overrides, which are applied after this
  step) keep meaning "relative to the working directory".

Only the paths of the ``data`` section are touched (``data.<split>.root``, ``cache``, ``landmarks``,
``priors.<name>``, ``unpaired.root`` and ``unpaired.cache``); run folders (``output_dir``) stay where
the user runs. :func:`check_data_folders` turns a dataset folder that is not there into one
:class:`~facesr.errors.ConfigError` line that says how to point facesr at the data.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path

from ..errors import ConfigError

__all__ = ["DATA_ENV", "BUNDLED_DATA_PREFIX", "CONFIG_DIR", "repo_root", "data_root", "is_bundled",
           "resolve_path", "resolve_config_paths", "check_data_folders"]

DATA_ENV = "FACESR_DATA"
BUNDLED_DATA_PREFIX = "../shared/data"  # how the bundled configs spell the data root
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"

_SPLIT_KEYS = ("root", "cache", "landmarks")
_UNPAIRED_KEYS = ("root", "cache")


def repo_root() -> Path | None:
    """The root of the source checkout facesr runs from (two levels above ``facesr/configs``: the folder
    holding ``pyproject.toml`` and the ``facesr`` package), or None for an installed package."""
    root = CONFIG_DIR.parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "facesr").is_dir() else None


def data_root() -> Path | None:
    """The folder that holds the datasets: ``$FACESR_DATA`` (``~`` expanded) when set and not empty,
    else ``<checkout>/../shared/data`` in a source checkout (whether or not it exists), else None."""
    env = os.environ.get(DATA_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    root = repo_root()
    return (root / BUNDLED_DATA_PREFIX).resolve() if root is not None else None


def is_bundled(config_file) -> bool:
    """Whether ``config_file`` is one of the configs shipped in ``facesr/configs``."""
    try:
        return Path(config_file).resolve().parent == CONFIG_DIR
    except OSError:
        return False


def _split_prefix(text: str, prefix: str) -> str | None:
    """The rest of ``text`` after the path prefix ``prefix`` ("" for the prefix itself), else None."""
    if text == prefix:
        return ""
    if text.startswith(prefix + "/") or text.startswith(prefix + "\\"):
        return text[len(prefix) + 1:]
    return None


def resolve_path(value, bundled: bool):
    """One config path made independent of the working directory (see the module docstring).

    ``value``: a path string (anything else, None and the word ``auto`` included, is returned as is:
    ``auto`` asks for a prior built from the split's cache). ``bundled``: whether it
    comes from a bundled config. Returns a string. Raises ConfigError when the path needs the data root
    and there is none (``FACESR_DATA`` unset outside a source checkout)."""
    if not isinstance(value, str) or not value or value == "auto":
        return value
    rest = None
    for prefix in ("${" + DATA_ENV + "}", "$" + DATA_ENV) + ((BUNDLED_DATA_PREFIX,) if bundled else ()):
        rest = _split_prefix(value, prefix)
        if rest is not None:
            break
    if rest is not None:
        root = data_root()
        if root is None:
            raise ConfigError(f"config path {value!r} lies under the data root, but {DATA_ENV} is not set: "
                              f"export {DATA_ENV}=/path/to/datasets (the folder holding lfw_deepfunneled, ...)")
        return str(root / rest) if rest else str(root)
    p = Path(value).expanduser()
    if bundled and not p.is_absolute():
        root = repo_root()
        if root is not None:
            return str(root / p)
    return str(p) if value.startswith("~") else value


def resolve_config_paths(raw: dict, config_file=None) -> dict:
    """A copy of the raw config mapping ``raw`` (as read from ``config_file``, before command-line
    overrides) with its data paths resolved by :func:`resolve_path`; ``bundled`` is
    :func:`is_bundled` of ``config_file`` (False without one). Entries of the wrong shape are left for
    the schema check to report. Raises ConfigError as :func:`resolve_path` does."""
    bundled = config_file is not None and is_bundled(config_file)
    out = copy.deepcopy(raw)
    data = out.get("data") if isinstance(out, dict) else None
    if not isinstance(data, dict):
        return out
    for split in data.values():
        if not isinstance(split, dict):
            continue
        for k in _SPLIT_KEYS:
            if k in split:
                split[k] = resolve_path(split[k], bundled)
        priors = split.get("priors")
        if isinstance(priors, dict):
            for name in priors:
                priors[name] = resolve_path(priors[name], bundled)
        unpaired = split.get("unpaired")
        if isinstance(unpaired, dict):
            for k in _UNPAIRED_KEYS:
                if k in unpaired:
                    unpaired[k] = resolve_path(unpaired[k], bundled)
    return out


def check_data_folders(cfg: dict) -> None:
    """Raise ConfigError (one line) for the first dataset folder of a loaded config that is missing:
    ``data.<split>.root`` and ``data.<split>.unpaired.root`` when set. The message names the folder, the
    config key and how to point facesr at the data (``FACESR_DATA`` or a ``key=PATH`` override)."""
    for split, d in (cfg.get("data") or {}).items():
        if not isinstance(d, dict):
            continue
        for key, root in ((f"data.{split}.root", d.get("root")),
                          (f"data.{split}.unpaired.root", (d.get("unpaired") or {}).get("root"))):
            if root is None or Path(root).exists():
                continue
            env = os.environ.get(DATA_ENV, "").strip()
            where = (f"{DATA_ENV} is {env}" if env else f"{DATA_ENV} is not set") + \
                (f", data root {data_root()}" if data_root() is not None else "")
            raise ConfigError(f"dataset folder not found: {root} ({key}; {where}): export {DATA_ENV}=/path/to/"
                              f"datasets (the folder holding the bundled configs' data sets) or pass {key}=PATH")
