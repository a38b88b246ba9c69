"""Atomic file writes: a finished file or none, never a half-written one."""
from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import BinaryIO, Callable


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(f)`` on a hidden temporary file next to ``path``, fsync it, then ``os.replace`` it over
    ``path``. On any error (or Ctrl-C) the temporary file is removed and an old ``path`` is untouched.
    The file gets normal permissions (the umask applies). Creates missing parent folders."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    tmp: Path | None = None
    try:
        for _ in range(100):
            candidate = p.with_name(f".{p.name}.{uuid.uuid4().hex[:12]}.tmp")
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
