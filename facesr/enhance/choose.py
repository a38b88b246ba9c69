"""Stage 3 of enhance: the per-face policy, which says what each face gets from its size.

A face's crop side ``s`` in photo pixels says how much detail the photo itself holds; the model sees
the face at its LR size whatever ``s`` is. So each face gets one mode:

* ``"sr"``: ``s <= lr_size``: the model output (colour-matched when pasted);
* ``"fused"``: ``lr_size < s < hr_size / 2``: :func:`facesr.enhance.paste.fuse_detail` keeps the band
  the photo has and adds the model's detail above it;
* ``"kept"``: ``s >= hr_size / 2``: the model is not run, the face stays as the upscaled photo shows it.

With ``fusion=False``, or for a model whose input and output sizes are equal (a restoration model that
sees each face whole), every face is ``"sr"``. Measurements behind the thresholds:
``benchmarks/bench_face_size.py`` and ``docs/enhance.md``.
"""
from __future__ import annotations

from typing import Sequence

__all__ = ["MODES", "SIZE_NOTE", "face_modes", "size_note"]

MODES = ("sr", "fused", "kept")
SIZE_NOTE = "half the model's output size"  # marks the size note (the runner aggregates it over photos)


def face_modes(sides: Sequence[float], net, fusion: bool = True) -> list[str]:
    """One of :data:`MODES` per face from its crop side in photo pixels; ``net`` has ``lr_size`` and
    ``hr_size``."""
    if not fusion or int(net.hr_size) <= int(net.lr_size):
        return ["sr"] * len(sides)
    lr, keep = int(net.lr_size), int(net.hr_size) / 2
    return ["sr" if round(s) <= lr else "kept" if round(s) >= keep else "fused" for s in sides]


def size_note(sides: Sequence[float], modes: Sequence[str], net, photos: int = 0) -> str | None:
    """One line on faces the model could not help, or None: kept faces or, without fusion, faces whose
    crop is over twice the model's LR size (detail thrown away). ``photos``: how many photos they are in
    (0: one photo, not said)."""
    where = f" in {photos} photo(s)" if photos else ""
    kept = [s for s, m in zip(sides, modes) if m == "kept"]
    if kept:
        return (f"{len(kept)} face(s){where} are at least {SIZE_NOTE} ({int(net.hr_size) // 2} px; crops up "
                f"to {max(kept):.0f} px): the x{int(net.hr_size) // int(net.lr_size)} model adds nothing the photo "
                f"does not already hold, so they are kept as the upscaled photo shows them; a model for larger "
                f"faces suits them better")
    large = [s for s, m in zip(sides, modes) if m == "sr" and s > 2 * net.lr_size]
    if not large:
        return None
    return (f"{len(large)} face(s){where} are much larger than the model's input (crops up to {max(large):.0f} px, "
            f"the model sees {net.lr_size} px) and fusion is off, so detail the photo has is lost; leave "
            f"fusion on (drop --no-fusion) to keep it; beyond {SIZE_NOTE} faces are then kept as they are")
