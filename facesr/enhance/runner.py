"""Enhance files and folders into the GFPGAN-style layout (see :mod:`facesr.enhance`).

Faces of several photos share model batches; each file is written atomically, ``final/`` last, so a
photo whose ``final/`` file exists is complete (``skip_existing``). A photo is written as soon as its work
is done: one whose faces need no model run (no face, or every face kept) right after detection, the
others when their model batch has run, so an interrupted run loses at most the photos of one batch.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..errors import ConfigError, FacesrError, ImageReadError
from .choose import SIZE_NOTE, size_note
from .detect import DEFAULT_DET_MAX_SIDE
from .enhancer import DEFAULT_MAX_OUTPUT_PIXELS, DEFAULT_MODEL, EnhanceResult, FaceEnhancer, FacePlan

__all__ = ["Summary", "plan_outputs", "enhance_files", "enhance_paths"]

FLUSH_PHOTOS = 64  # photos held before their faces go through the model, at most
FLUSH_PIXELS = 300_000_000  # input pixels held, at most
OUTPUT_FOLDERS = ("final", "cropped_faces", "restored_faces", "cmp")  # what enhance writes under -o


@dataclass
class Summary:
    """What :func:`enhance_files` did."""

    images: int = 0  # photos written (with or without faces)
    videos: int = 0  # clips written (facesr.enhance.video)
    frames: int = 0  # their frames
    faces: int = 0  # faces restored (kept ones included)
    kept: int = 0  # faces large enough to be kept as the photo shows them (face-size policy)
    no_face: int = 0  # photos in which no face was found (still written to final/)
    skipped: int = 0  # photos skipped because their final/ output existed (skip_existing)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)
    seconds: float = 0.0
    output: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed

    def line(self) -> str:
        """The one-line summary ``facesr enhance`` prints."""
        kept = f" ({self.kept} kept as the photo shows them: large enough)" if self.kept else ""
        parts = [f"{self.images} image(s) done"]
        if self.videos:
            parts.append(f"{self.videos} video(s) done ({self.frames} frames)")
        parts += [f"{self.faces} face(s) restored{kept}",
                 f"{self.no_face} image(s) with no face", f"{len(self.failed)} failed"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped (already done)")
        return ", ".join(parts) + f" in {self.seconds:.1f} s -> {self.output}"


def plan_outputs(inputs: Sequence[Path], recursive: bool = False, exclude: Sequence[Path] = (),
                 on_skip=None, extensions=None) -> list[tuple[Path, str]]:
    """``(file, output stem)`` pairs of the images under ``inputs``: the path relative to its input folder
    without extension; a stem already taken gets the extension added (``a_png``), then a counter.
    ``exclude``, ``on_skip``, ``extensions``: as for :func:`facesr.data.io.list_images` (folders not
    listed; called with ``(path, reason)`` for entries that cannot be used, e.g. a symbolic link loop; the
    suffixes a folder's files are listed by)."""
    from ..data.io import list_images

    plan: list[tuple[Path, str]] = []
    used: set[str] = set()
    for root in map(Path, inputs):
        for f in list_images(root, recursive=recursive, exclude=exclude, on_skip=on_skip,
                             extensions=extensions):
            rel = f.relative_to(root) if root.is_dir() else Path(f.name)
            stem = base = rel.with_suffix("").as_posix()
            if stem in used:
                stem = base = f"{stem}_{f.suffix.lstrip('.').lower() or 'noext'}"
                k = 2
                while stem in used:
                    stem, k = f"{base}_{k}", k + 1
            used.add(stem)
            plan.append((f, stem))
    return plan


def one_line(e: BaseException) -> str:
    """``e`` as one line (its type named unless it is a :class:`~facesr.errors.FacesrError`)."""
    msg = " ".join(str(e).split())
    if isinstance(e, FacesrError):
        return msg or type(e).__name__
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


class FolderRun:
    """The state of one :func:`enhance_files` run: pending photos, the summary, the progress bar."""

    def __init__(self, enhancer: FaceEnhancer, out: Path, ext: str | None, suffix: str | None, quiet: bool,
                 stream, bar):
        self.enhancer, self.out, self.quiet, self.stream, self.bar = enhancer, out, quiet, stream, bar
        self.ext = output_names(ext, suffix)[0]
        self.sfx = f"_{suffix}" if suffix else ""
        self.summary = Summary(output=str(out))
        self.pending: list[tuple[Path, str, FacePlan]] = []
        self.sides: list[float] = []
        self.modes: list[str] = []
        self.photos_with_size_note = 0
        self.faces_found = 0

    def say(self, msg: str) -> None:
        if self.bar is not None:
            self.bar.write(msg, file=self.stream)
        else:
            print(msg, file=self.stream)

    def fail(self, path: Path, e: BaseException) -> None:
        msg = one_line(e)
        self.summary.failed.append((str(path), msg))
        self.say(f"facesr: skipped: {msg}" if str(path) in msg else f"facesr: skipped '{path}': {msg}")

    def final_path(self, f: Path, stem: str) -> Path:
        from ..data.io import IMAGE_EXTENSIONS

        ext = self.ext or (f.suffix.lower() if f.suffix.lower() in IMAGE_EXTENSIONS else ".png")
        return self.out / "final" / f"{stem}{self.sfx}{ext}"

    def write(self, f: Path, stem: str, res: EnhanceResult) -> None:
        from ..data.io import write_image
        from ..inference.visual import comparison_grid

        for i, (c, r) in enumerate(zip(res.cropped_faces, res.restored_faces)):
            write_image(self.out / "cropped_faces" / f"{stem}_{i:02d}.png", c)
            write_image(self.out / "restored_faces" / f"{stem}_{i:02d}{self.sfx}.png", r)
            write_image(self.out / "cmp" / f"{stem}_{i:02d}.png",
                        comparison_grid([[c, r]], ["input crop", "restored"], cell=int(r.shape[0])))
        write_image(self.final_path(f, stem), res.final)  # last: its existence marks the photo as done

    def add(self, f: Path, stem: str, aligned: bool) -> None:
        """Read and plan one photo. One whose faces need no model run is finished and written now; the
        others wait for their model batch, which runs when enough faces (or photos, or pixels) are held."""
        from ..data.io import read_image

        try:
            plan = self.enhancer.plan(read_image(f), aligned)
        except Exception as e:
            self.fail(f, e)
            return
        self.faces_found += len(plan.crops)
        if not plan.model_crops():
            self.finish(f, stem, plan, [])
            return
        self.pending.append((f, stem, plan))
        faces = sum(len(p.model_crops()) for _, _, p in self.pending)
        pixels = sum(p.image.size for _, _, p in self.pending)
        if faces >= self.enhancer.batch_size or len(self.pending) >= FLUSH_PHOTOS or pixels >= FLUSH_PIXELS:
            self.flush()

    def flush(self) -> None:
        """Restore the pending photos' faces in shared batches, paste and write each photo."""
        pending, self.pending = self.pending, []
        try:
            outputs = self.enhancer.restore([p for _, _, p in pending])
        except Exception as e:  # the whole batch is lost: every photo in it fails, the run goes on
            for f, _, _ in pending:
                self.fail(f, e)
            return
        for (f, stem, plan), outs in zip(pending, outputs):
            self.finish(f, stem, plan, outs)

    def finish(self, f: Path, stem: str, plan: FacePlan, outs) -> None:
        """Paste the model outputs ``outs`` into ``plan``'s photo and write its files (``final/`` last)."""
        try:
            res = self.enhancer.paste(plan, outs)
            self.write(f, stem, res)
        except Exception as e:
            self.fail(f, e)
            return
        self.count(f, res)

    def video(self, f: Path, stem: str, skip_existing: bool, progress: bool, smooth: bool = True) -> None:
        """Restore one clip into ``final/STEM.mp4`` (:func:`facesr.enhance.video.enhance_video`)."""
        from .video import enhance_video

        try:
            v = enhance_video(self.enhancer, f, self.out, skip_existing=skip_existing, progress=progress,
                              quiet=self.quiet, stream=self.stream, stem=stem + self.sfx, smooth=smooth)
        except Exception as e:
            self.fail(f, e)
            return
        s = self.summary
        if v.skipped:
            s.skipped += 1
            return
        s.videos += 1
        s.frames += v.frames
        s.faces += v.faces
        if not self.quiet and v.frames_without_face:
            self.say(f"facesr: note: '{f}': no face in {v.frames_without_face} of {v.frames - v.resumed_frames} "
                     "frames (those frames are upscaled as a whole)")

    def count(self, f: Path, res: EnhanceResult) -> None:
        s = self.summary
        s.images += 1
        s.faces += res.num_faces
        s.kept += res.modes.count("kept")
        s.no_face += not res.num_faces
        self.sides.extend(res.crop_sides)
        self.modes.extend(res.modes)
        self.photos_with_size_note += any(SIZE_NOTE in w for w in res.warnings)
        if not self.quiet:
            for w in res.warnings:
                if SIZE_NOTE not in w:  # aggregated into one note at the end
                    self.say(f"facesr: note: '{f}': {w}")

    def final_note(self) -> str | None:
        return size_note(self.sides, self.modes, self.enhancer.net, self.photos_with_size_note)


def output_names(ext: str | None, suffix: str | None) -> tuple[str | None, str | None]:
    """``ext`` and ``suffix`` checked for use in output names: ``(".png" or None for auto, suffix)``.
    Raises :class:`~facesr.errors.ConfigError` for a format facesr cannot write or a value with a path
    separator or ``..`` (names must stay inside the output folder)."""
    from ..data.io import output_ext
    from ..fsutil import check_name_part

    e = None if ext in (None, "", "auto") else output_ext(ext, "--ext")
    if suffix:
        check_name_part(suffix, "--suffix")
    return e, suffix


def check_outputs(inputs: Sequence[Path], out: Path) -> list[Path]:
    """Checks made before any work: ``out`` must be a folder (or not exist yet), and no input may lie in
    one of the folders the run writes (``OUT/final``, ...), where an output could replace it. Returns
    those output folders (to leave out of the input listing). Raises
    :class:`~facesr.errors.ConfigError`."""
    from ..fsutil import is_within, real

    if out.exists() and not out.is_dir():
        raise ConfigError(f"-o '{out}' is an existing file, not a folder: give a folder for the outputs")
    subs = [out / d for d in OUTPUT_FOLDERS]
    for d in subs:
        if d.exists() and not d.is_dir():
            raise ConfigError(f"'{d}' is an existing file: enhance writes a folder there; choose another -o")
    reals = [real(d) for d in subs]
    for p in inputs:
        if p.exists() and is_within(p, reals):
            raise ConfigError(f"the input '{p}' is inside the output folder '{out}' where enhance writes "
                              f"({', '.join(OUTPUT_FOLDERS)}): its outputs could replace inputs; choose another -o")
    return subs


def enhance_files(enhancer: FaceEnhancer, inputs, out_dir, *, recursive: bool = False,
                  skip_existing: bool = False, ext: str = "auto", suffix: str | None = None, aligned: bool = False,
                  progress: bool = True, quiet: bool = False, stream=None, smooth: bool = True) -> Summary:
    """Enhance image files and folders (``inputs``: a path or a list of paths) into ``out_dir``::

        OUT/cropped_faces/NAME_00.png            face crop, in the model's training geometry, at its HR size
        OUT/restored_faces/NAME_00[_SUFFIX].png  the restored face, as pasted
        OUT/cmp/NAME_00.png                      input crop | restored face, side by side
        OUT/final/NAME[_SUFFIX].EXT              the whole photo, upscaled, with the restored faces pasted in
        OUT/final/NAME[_SUFFIX].mp4              a video in ``inputs`` or in their folders (by extension,
                                                 see :mod:`facesr.enhance.video`), every frame restored

    ``NAME``: see :func:`plan_outputs`. ``EXT``: the input's for ``ext="auto"`` (``.png`` when facesr cannot
    write that format), else ``ext`` (``png`` or ``.png``). Each photo's files are written (atomically,
    ``final/`` last) as soon as its work is done. Per-file problems (and entries that cannot be used, such
    as symbolic link loops) are one line on ``stream`` (stderr) and counted in ``Summary.failed``; the run
    goes on. Notes are printed unless ``quiet``. The output folders under ``out_dir`` are never listed as
    inputs. Raises :class:`~facesr.errors.FacesrError` only for problems that stop everything, all found
    before any work (no inputs, an ``ext`` or ``suffix`` that is unusable in names, ``out_dir`` an existing
    file, an input inside the output folders, no detector). ``smooth``: videos' landmark smoothing
    (:class:`~facesr.enhance.track.FaceTracker`). Without PyAV, clips found in folders are left out with
    one note (a clip named in ``inputs`` fails with the install hint); with ``aligned`` folders give
    images only.
    """
    t0 = time.perf_counter()
    stream = stream if stream is not None else sys.stderr
    inputs = [Path(inputs)] if isinstance(inputs, (str, os.PathLike)) else [Path(p) for p in inputs]
    output_names(ext, suffix)
    subs = check_outputs(inputs, Path(out_dir))
    from ..data.io import IMAGE_EXTENSIONS
    from .video import VIDEO_EXTENSIONS, is_video

    unusable: list[tuple[Path, str]] = []
    plan = plan_outputs(inputs, recursive, exclude=subs, on_skip=lambda p, why: unusable.append((p, why)),
                        extensions=IMAGE_EXTENSIONS + (() if aligned else VIDEO_EXTENSIONS))
    if not plan and not unusable:
        raise ImageReadError(f"no images found in {', '.join(str(p) for p in inputs)}")
    given = {Path(p) for p in inputs if Path(p).is_file()}
    clips = [] if aligned else [fs for fs in plan if is_video(fs[0])]
    plan = [fs for fs in plan if aligned or not is_video(fs[0])]
    found = [fs for fs in clips if fs[0] not in given]
    if found and importlib.util.find_spec("av") is None:
        clips = [fs for fs in clips if fs[0] in given]
        if not plan and not clips and not unusable:
            raise ImageReadError(f"no images found in {', '.join(str(p) for p in inputs)}; {len(found)} "
                                 "clip(s) there need PyAV: pip install 'facesr[video]'")
        if not quiet:
            print(f"facesr: note: {len(found)} clip(s) in the input folders left out: videos need PyAV: "
                  "pip install 'facesr[video]'", file=stream)
    if not aligned:
        enhancer.preload()
    if enhancer.in_training_mode and not quiet:
        print("facesr: note: the model is in training mode; call .eval() on it for correct results", file=stream)
    bar = None
    if progress and not quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(plan), unit="img", desc="enhancing", dynamic_ncols=True, file=stream) if plan else None
    run = FolderRun(enhancer, Path(out_dir), ext, suffix, quiet, stream, bar)
    for p, why in unusable:
        run.fail(p, FacesrError(why))
    try:
        for f, stem in clips:
            run.video(f, stem, skip_existing, progress, smooth)
        for f, stem in plan:
            if skip_existing and run.final_path(f, stem).is_file():
                run.summary.skipped += 1
            else:
                run.add(f, stem, aligned)
            if bar is not None:
                bar.set_postfix(faces=run.faces_found, refresh=False)
                bar.update(1)
        run.flush()
    finally:
        if bar is not None:
            bar.close()
    note = run.final_note()
    if note and not quiet:
        print(f"facesr: note: {note}", file=stream)
    run.summary.seconds = time.perf_counter() - t0
    return run.summary


def enhance_paths(inputs, out_dir, model=DEFAULT_MODEL, *, upscale: float = 2, recursive: bool = False,
                  skip_existing: bool = False, ext: str = "auto", suffix: str | None = None,
                  only_center_face: bool = False, min_face_size: float = 0, det_threshold: float = 0.0,
                  det_upsample: int | None = None, cnn: bool = False, aligned: bool = False, color_match=True,
                  draw_box: bool = False, device: str = "cpu", batch_size: int = 16, crop=None,
                  bg_upsampler=None, det_max_side: int | None = DEFAULT_DET_MAX_SIDE,
                  max_output_pixels: int | None = DEFAULT_MAX_OUTPUT_PIXELS,
                  fusion: bool = True, backend: str = "auto", progress: bool = True, quiet: bool = False,
                  stream=None, weight: float = 1.0, small_model=None, small_below: float | None = None,
                  smooth: bool = True) -> Summary:
    """:func:`enhance_files` with a :class:`FaceEnhancer` built from the options (``cnn=True``:
    ``detector="cnn"``). The output checks of :func:`enhance_files` run before the model is loaded."""
    output_names(ext, suffix)
    check_outputs([Path(inputs)] if isinstance(inputs, (str, os.PathLike)) else [Path(p) for p in inputs],
                  Path(out_dir))
    enhancer = FaceEnhancer(model, backend, "cnn" if cnn else "hog", upscale, device=device,
                            only_center_face=only_center_face, min_face_size=min_face_size,
                            det_threshold=det_threshold, det_upsample=det_upsample, crop=crop, fusion=fusion,
                            color_match=color_match, bg_upsampler=bg_upsampler, draw_box=draw_box,
                            batch_size=batch_size, det_max_side=det_max_side,
                            max_output_pixels=max_output_pixels, weight=weight, small_model=small_model,
                            small_below=small_below)
    return enhance_files(enhancer, inputs, out_dir, recursive=recursive, skip_existing=skip_existing, ext=ext,
                         suffix=suffix, aligned=aligned, progress=progress, quiet=quiet, stream=stream, smooth=smooth)
