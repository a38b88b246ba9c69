"""A run folder's safety: checkpoints swapped in so that a kill at any moment leaves a resumable copy,
recovery of that copy, refusal to start over a run by accident, and logs cut back to a checkpoint.

Layout of ``RUN = output_dir/name``: ``RUN/checkpoints/last/`` (the checkpoint ``--resume`` reads),
``RUN/log.jsonl``, ``RUN/best.safetensors``, ``RUN/final.safetensors``, ``RUN/config.yaml``, ``RUN/tb/``.

A checkpoint is written into ``checkpoints/.last.tmpPID/``; :data:`MARKER` (``complete.json``: the step
and every file of the checkpoint) is written last, so a folder with a valid marker whose files all exist
is complete. :func:`swap_in` then renames ``last`` to ``.last.oldPID`` and ``.last.tmpPID`` to ``last``,
and removes the old copy. A kill between the two renames leaves no ``last`` but two complete copies;
:func:`recover_last` puts the newest back. Torch-free.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from ..errors import ConfigError
from ..fsutil import atomic_write

__all__ = ["MARKER", "LAST", "TEMP_PREFIX", "write_marker", "is_complete", "checkpoint_step", "swap_in",
           "temp_copies", "recover_last", "holds_run", "move_aside", "truncate_log"]

MARKER = "complete.json"
LAST = "last"
TEMP_PREFIX = ".last."  # .last.tmpPID (being written), .last.oldPID (the previous last, being replaced)


def write_marker(folder: str | os.PathLike, step: int, files: list[str]) -> None:
    """Mark ``folder`` as a complete checkpoint of ``step`` holding ``files`` (names inside ``folder``);
    call it after every one of those files is written."""
    blob = json.dumps({"step": int(step), "files": sorted(files)}, indent=1).encode()
    atomic_write(Path(folder) / MARKER, lambda f: f.write(blob))


def _marker(folder: Path) -> dict | None:
    try:
        m = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(m, dict) or not isinstance(m.get("step"), int) or not isinstance(m.get("files"), list):
        return None
    return m


def is_complete(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a whole checkpoint: a valid marker, ``state.pt`` and every file the marker
    lists."""
    folder = Path(folder)
    m = _marker(folder)
    if m is None or not (folder / "state.pt").is_file():
        return False
    return all(isinstance(f, str) and (folder / f).is_file() for f in m["files"])


def checkpoint_step(folder: str | os.PathLike) -> int:
    """The step a checkpoint folder's marker records (-1 without a valid marker)."""
    m = _marker(Path(folder))
    return -1 if m is None else int(m["step"])


def swap_in(tmp: str | os.PathLike, ckpt_dir: str | os.PathLike) -> Path:
    """Make the complete checkpoint folder ``tmp`` the new ``ckpt_dir/last``: ``last`` is renamed to
    ``.last.oldPID``, ``tmp`` to ``last``, then the old copy is removed. Returns the new ``last``."""
    ckpt_dir = Path(ckpt_dir)
    last = ckpt_dir / LAST
    old = ckpt_dir / f"{TEMP_PREFIX}old{os.getpid()}"
    if last.exists():
        if old.exists():  # left by an earlier process with our PID; `last` is newer
            shutil.rmtree(old)
        os.replace(last, old)
    os.replace(tmp, last)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
    return last


def temp_copies(ckpt_dir: str | os.PathLike) -> list[Path]:
    """The hidden ``.last.*`` folders (and stray files) in ``ckpt_dir``, sorted by name."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    return sorted(p for p in ckpt_dir.iterdir() if p.name.startswith(TEMP_PREFIX))


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        try:
            p.unlink()
        except OSError:
            pass


def recover_last(ckpt_dir: str | os.PathLike) -> str | None:
    """Repair ``ckpt_dir`` after a kill during :func:`swap_in` or during the writing of a checkpoint.

    When ``last`` is missing and a complete ``.last.*`` copy exists (:func:`is_complete`), the newest one
    (highest marker step, then latest modification) becomes ``last``. Every other ``.last.*`` entry is
    then removed (a partial write or a superseded copy). Returns a one-line description of what was
    restored, or None when ``last`` was not restored."""
    ckpt_dir = Path(ckpt_dir)
    last = ckpt_dir / LAST
    restored = None
    if not last.exists():
        done = [p for p in temp_copies(ckpt_dir) if p.is_dir() and is_complete(p)]
        if done:
            best = max(done, key=lambda p: (checkpoint_step(p), p.stat().st_mtime_ns))
            os.replace(best, last)
            step = checkpoint_step(last)
            restored = f"restored {last} from {best.name}" + (f" (step {step})" if step >= 0 else "")
    for p in temp_copies(ckpt_dir):
        _remove(p)
    return restored


def holds_run(run_dir: str | os.PathLike) -> list[str]:
    """What of an earlier run ``run_dir`` holds that a new run would overwrite or mix with: its
    checkpoints (hidden temporary copies included), ``log.jsonl``, model files. Empty when none."""
    run_dir = Path(run_dir)
    out = []
    ckpt = run_dir / "checkpoints"
    if (ckpt / LAST).exists() or temp_copies(ckpt):
        out.append("checkpoints")
    if (run_dir / "log.jsonl").is_file():
        out.append("log.jsonl")
    out += sorted(p.name for p in run_dir.glob("*.safetensors")) if run_dir.is_dir() else []
    return out


def move_aside(run_dir: str | os.PathLike) -> Path:
    """Rename ``run_dir`` to ``NAME.old-YYYYmmdd-HHMMSS`` beside it (``-2``, ``-3``, ... when taken);
    nothing is deleted. Returns the new path."""
    run_dir = Path(run_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest = run_dir.with_name(f"{run_dir.name}.old-{stamp}")
    k = 2
    while dest.exists():
        dest = run_dir.with_name(f"{run_dir.name}.old-{stamp}-{k}")
        k += 1
    try:
        os.replace(run_dir, dest)
    except OSError as e:
        raise ConfigError(f"cannot move {run_dir} aside to {dest.name}: {e.strerror or e}") from None
    return dest


def truncate_log(path: str | os.PathLike, step: int) -> int:
    """Rewrite the JSON-lines log ``path`` (atomically) without its records of steps after ``step`` and
    without lines that are not whole JSON objects (a write cut short); returns how many lines were
    dropped (0: the file is left untouched). A missing file is fine (0)."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return 0
    keep = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not isinstance(rec, dict):
            continue
        s = rec.get("step")
        if isinstance(s, (int, float)) and not isinstance(s, bool) and s > step:
            continue
        keep.append(line)
    dropped = len(lines) - len(keep)
    if dropped:
        blob = "".join(x + "\n" for x in keep).encode()
        atomic_write(path, lambda f: f.write(blob))
    return dropped
