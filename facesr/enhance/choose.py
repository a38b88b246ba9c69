"""Stage 3 of enhance: the per-face policy, which says what each face gets from its size.

A face's crop side ``s`` in photo pixels says how much detail the photo itself holds; the model sees
the face at its LR size whatever ``s`` is. So each face gets one mode:

* ``"sr"``: ``s <= lr_size``: the model output (colour-matched when pasted);
* ``"fused"``: ``lr_size < s < hr_size / 2``: :func:`facesr.enhance.paste.fuse_detail` keeps the band
  the photo has and adds the model's detail above it;
* ``"kept"``: ``s >= hr_size / 2``: the model is not run, the face stays as the upscaled photo shows it;
* ``"chain"``: only with a ``small_model`` in front of a restoration model: a tiny face (``s`` below
  ``small_below``) goes through the x8 model first and its output through the restoration model
  (:func:`chain_modes`).

A restoration model (input size = output size ``n``, e.g. ``sparnethd-lite`` at 128 px) sees each face
whole at ``n`` px: faces up to ``2 n`` px are ``"sr"``; larger ones are ``"kept"``, since the model's
``n`` px face, enlarged more than twice to their size, would be softer than the photo's own face.
With ``fusion=False`` every face is ``"sr"``. Measurements behind the thresholds:
``benchmarks/bench_face_size.py``, ``benchmarks/bench_restore_sizes.py`` and ``docs/enhance.md``.
"""
from __future__ import annotations

from typing import Sequence

__all__ = ["MODES", "SIZE_NOTE", "face_modes", "chain_modes", "size_note"]

MODES = ("sr", "fused", "kept", "chain")
SIZE_NOTE = "kept as the upscaled photo shows them"  # marks the size note (the runner aggregates it over photos)
RESTORE_KEEP = 2.0  # a restoration model restores faces up to this many times its size


def face_modes(sides: Sequence[float], net, fusion: bool = True) -> list[str]:
    """One of :data:`MODES` per face from its crop side in photo pixels; ``net`` has ``lr_size`` and
    ``hr_size``."""
    if not fusion:
        return ["sr"] * len(sides)
    if int(net.hr_size) <= int(net.lr_size):
        keep = RESTORE_KEEP * int(net.hr_size)
        return ["kept" if round(s) > keep else "sr" for s in sides]
    lr, keep = int(net.lr_size), int(net.hr_size) / 2
    return ["sr" if round(s) <= lr else "kept" if round(s) >= keep else "fused" for s in sides]


def chain_modes(modes: Sequence[str], sides: Sequence[float], small_below: float) -> list[str]:
    """``modes`` with every ``"sr"`` face whose crop side is below ``small_below`` px made ``"chain"``."""
    return ["chain" if m == "sr" and s < small_below else m for m, s in zip(modes, sides)]


def size_note(sides: Sequence[float], modes: Sequence[str], net, photos: int = 0) -> str | None:
    """One line on faces the model could not help, or None: kept faces or, without fusion, faces whose
    crop is over twice the model's LR size (detail thrown away). ``photos``: how many photos they are in
    (0: one photo, not said)."""
    where = f" in {photos} photo(s)" if photos else ""
    kept = [s for s, m in zip(sides, modes) if m == "kept"]
    if kept and int(net.hr_size) <= int(net.lr_size):
        return (f"{len(kept)} face(s){where} are over {RESTORE_KEEP:g} times the restoration model's size "
                f"({int(RESTORE_KEEP * int(net.hr_size))} px; crops up to {max(kept):.0f} px): its "
                f"{int(net.hr_size)} px face would be softer than the photo's, so they are {SIZE_NOTE}; "
                f"--no-fusion restores them anyway")
    if kept:
        return (f"{len(kept)} face(s){where} are at least half the model's output size ({int(net.hr_size) // 2} "
                f"px; crops up to {max(kept):.0f} px): the x{int(net.hr_size) // int(net.lr_size)} model adds "
                f"nothing the photo does not already hold, so they are {SIZE_NOTE}; a model for larger "
                f"faces suits them better")
    large = [s for s, m in zip(sides, modes) if m == "sr" and s > 2 * net.lr_size]
    if not large:
        return None
    return (f"{len(large)} face(s){where} are much larger than the model's input (crops up to {max(large):.0f} px, "
            f"the model sees {net.lr_size} px) and fusion is off, so detail the photo has is lost; leave "
            f"fusion on (drop --no-fusion) to keep it; faces from half the model's output size are then kept "
            f"as they are")
