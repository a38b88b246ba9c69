"""Training recipes: each is a :class:`~facesr.training.trainer.Trainer` subclass registered by name.

A recipe declares its named networks, its named optimisers (each with its own learning-rate schedule),
one training step that returns logs, its validation forward, and its own config section
(``config_defaults``, ``free_form``, ``check_config``); the loop in :mod:`facesr.training.trainer`
does the rest (fit, time limit, logging, DDP, EMA, validation, checkpoint and exact resume).

Built in: ``sr`` (pixel/perceptual losses: SPARNet), ``gan`` (adds a discriminator: hinge, WGAN-GP
with drift, non-saturating; n critic; feature matching: SPARNetHD), ``progressive`` (PFSR's growing
stages with fade-in), ``distill`` (a frozen teacher from a checkpoint: KDFSRNet, PKDN), ``stylevae``
(the styleVAE degradation network on unpaired HR and real LR faces, with a MINE statistics network) and
``heatmap`` (a landmark-heatmap network by hint loss against a landmark teacher: PFSR's distilled FAN).
A new recipe registers itself with :func:`register_recipe` (see ``docs/extending.md``).
"""
from __future__ import annotations

import difflib
import importlib

RECIPES: dict[str, type] = {}
_BUILTIN = ("sr", "gan", "progressive", "distill", "stylevae", "heatmap")
_loaded = False


def register_recipe(name: str):
    """Class decorator: make a Trainer subclass available as ``recipe: NAME`` in configs."""

    def deco(cls):
        if name in RECIPES and RECIPES[name] is not cls:
            raise ValueError(f"recipe {name!r} registered twice")
        cls.recipe_name = name
        RECIPES[name] = cls
        return cls

    return deco


def _load_builtin() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for m in _BUILTIN:
            importlib.import_module(f"{__name__}.{m}")


def get_recipe(name: str) -> type:
    """The recipe class registered as ``name``; an unknown name is a ConfigError with suggestions."""
    from ...errors import ConfigError

    _load_builtin()
    if name not in RECIPES:
        close = difflib.get_close_matches(str(name), list(RECIPES), n=2)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown recipe {name!r}{hint} (known: {', '.join(sorted(RECIPES))})")
    return RECIPES[name]


def list_recipes() -> list[str]:
    _load_builtin()
    return sorted(RECIPES)
