"""Errors that facesr reports to users.

Every problem a user can cause or fix (a bad input file, a wrong config value,
a missing weight file, an optional package that is not installed) is raised as
a :class:`FacesrError` subclass whose message is **one clear line** that names
the thing at fault and, where possible, how to fix it.  The command line
catches ``FacesrError``, prints ``str(err)`` and exits non-zero without a
traceback; anything else is a bug and keeps its traceback.

Programming errors (wrong array shape passed to a function, wrong type) stay
ordinary ``ValueError`` / ``TypeError``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = [
    "FacesrError",
    "ImageReadError",
    "ImageWriteError",
    "ConfigError",
    "ModelNotFoundError",
    "MissingDependencyError",
    "require",
]


class FacesrError(Exception):
    """Base class of every error facesr reports to users as one line."""


class ImageReadError(FacesrError):
    """An input image is missing, empty, corrupt, not an image or too large."""


class ImageWriteError(FacesrError):
    """An output image cannot be written (unsupported suffix, OS error)."""


class ConfigError(FacesrError):
    """A configuration file or option is invalid."""


class ModelNotFoundError(FacesrError):
    """A model name or weight file cannot be found."""


class MissingDependencyError(FacesrError, ImportError):
    """An optional package needed for a feature is not installed.

    Also an ``ImportError`` so code that already guards optional imports with
    ``except ImportError`` keeps working.
    """


def _install_command(install_hint: str) -> str:
    hint = install_hint.strip()
    if hint.split(" ", 1)[0] in {"pip", "pip3", "conda", "mamba", "uv", "python", "apt", "apt-get"}:
        return hint
    return f"pip install {hint}"


def require(module_name: str, install_hint: str, *, purpose: str | None = None) -> ModuleType:
    """Import ``module_name`` lazily, or raise :class:`MissingDependencyError`.

    ``install_hint`` is either a full command (``"pip install 'facesr[faces]'"``)
    or just what to pip-install (``"onnxruntime"``, ``"'facesr[onnx]'"``), which
    gets ``pip install`` put in front.  ``purpose`` completes the sentence
    "X is needed for <purpose>"; without it the message says "X is needed".

    >>> np = require("numpy", "numpy", purpose="arrays")
    >>> require("no_such_mod", "'facesr[faces]'", purpose="face detection")
    Traceback (most recent call last):
    ...
    facesr.errors.MissingDependencyError: no_such_mod is needed for face detection: pip install 'facesr[faces]'
    """
    cmd = _install_command(install_hint)
    needed = f"{module_name} is needed for {purpose}" if purpose else f"{module_name} is needed"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        missing = e.name or ""
        if missing and missing != module_name and not module_name.startswith(missing + "."):
            # The module exists but one of *its* imports is missing.
            raise MissingDependencyError(
                f"{needed} but it failed to import because {missing} is missing: {cmd}"
            ) from None
        raise MissingDependencyError(f"{needed}: {cmd}") from None
    except ImportError as e:
        # Installed but broken (e.g. a native library that does not load).
        reason = " ".join(str(e).split()) or type(e).__name__
        raise MissingDependencyError(
            f"{needed} but it failed to import ({reason}); reinstall it: {cmd}"
        ) from None
