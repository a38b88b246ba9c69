"""File-system safety: atomic writes (a finished file or none), output names that stay inside their folder,
and output paths that never replace an input."""
from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import BinaryIO, Callable, Iterable

__all__ = ["atomic_write", "temp_name", "check_name_part", "real", "is_within"]

TEMP_PREFIX = ".facesr-"
TEMP_SUFFIX = ".tmp"


def temp_name() -> str:
    """A hidden temporary file name, ``.facesr-<8 hex>.tmp`` (20 bytes whatever the target's name, so any
    name the file system allows can be written atomically)."""
    return f"{TEMP_PREFIX}{secrets.token_hex(4)}{TEMP_SUFFIX}"


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(f)`` on a hidden temporary file (:func:`temp_name`) in ``path``'s folder, fsync it, then
    ``os.replace`` it over ``path``. On any error (or Ctrl-C) the temporary file is removed and an old
    ``path`` is untouched (a SIGKILL can leave a ``.facesr-*.tmp`` file behind, never a partial ``path``).
    The file gets normal permissions (the umask applies). Creates missing parent folders."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    tmp: Path | None = None
    try:
        for _ in range(100):
            candidate = p.parent / temp_name()
            try:
                fd = os.open(candidate, flags, 0o666)
            except FileExistsError:
                continue
            tmp = candidate
            break
        else:  # pragma: no cover
            raise FileExistsError(f"could not create a temporary file next to {p}")
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
        tmp = None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return p


def check_name_part(value: str, what: str) -> str:
    """``value`` unchanged when it can be part of a file name: no path separator (``/``, ``\\``), no ``..``,
    no NUL byte, not empty. Else raises :class:`~facesr.errors.ConfigError` naming ``what`` (e.g.
    ``"--suffix"``), so that a name built from it stays inside its output folder."""
    from .errors import ConfigError

    bad = [s for s in ("/", "\\", "..", "\0") if s in value]
    if os.sep not in ("/", "\\") and os.sep in value:  # pragma: no cover - exotic platforms
        bad.append(os.sep)
    if bad or not value:
        why = f"it contains {bad[0]!r}" if bad else "it is empty"
        raise ConfigError(f"{what} {value!r} cannot be part of a file name: {why} (output names must stay "
                          f"inside the output folder)")
    return value


def real(path: str | os.PathLike) -> str:
    """``os.path.realpath`` of ``path`` (symbolic links and ``..`` resolved), normalised for case on
    case-insensitive platforms: equal strings mean the same file."""
    return os.path.normcase(os.path.realpath(os.fspath(path)))


def is_within(path: str | os.PathLike, folders: Iterable[str]) -> bool:
    """Whether ``real(path)`` is one of ``folders`` (already :func:`real`) or lies below one of them."""
    p = real(path)
    return any(p == d or p.startswith(d.rstrip(os.sep) + os.sep) for d in folders)
