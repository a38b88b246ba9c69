"""Videos through :class:`~facesr.enhance.FaceEnhancer`: every frame's faces restored, the clip re-encoded.

``facesr enhance -i clip.mp4 -o OUT`` writes ``OUT/final/clip.mp4``:

* **Frames**: decoded in order (PyAV, which ships its own FFmpeg); each frame's faces are found, passed
  through a :class:`~facesr.enhance.track.FaceTracker` (steady crops, held through missed detections),
  restored and pasted exactly as ``facesr enhance`` does for a photo (:meth:`FaceEnhancer.plan_faces`,
  ``restore``, ``paste``). With ``smooth=False`` and a face found in every frame, each restored frame
  equals ``FaceEnhancer.enhance(frame).final``.
* **Encoding**: H.264 (libx264, ``crf`` 18: visually lossless for most content), yuv420p, at the clip's
  average frame rate (a variable-rate clip comes out at constant rate), no B-frames. yuv420p needs even
  sides: an odd output side gets one edge row or column repeated.
* **Rotation**: a clip whose display matrix rotates it (phones store portrait clips as landscape frames
  plus a rotation) is decoded upright, as players show it, so faces are found the right way up; the
  output is stored upright with no rotation. Rotations are taken to the nearest quarter turn; a mirroring
  in the matrix is not applied.
* **Audio**: the first audio stream is copied as it is when MP4 can hold its codec (AAC, MP3, AC-3,
  ALAC, Opus, FLAC), else re-encoded to AAC; none when the clip has none.
* **Resume**: frames are encoded in segments of ``segment_seconds`` under
  ``OUT/.partial/<stem>/`` (each written atomically, with the settings they were made with); the final
  file is assembled from them (packets copied, not re-encoded) and written atomically, then the segments
  are deleted. With ``skip_existing`` a clip whose final file exists is skipped, and an interrupted clip
  continues from its last finished segment when its settings match (the face smoothing restarts there).
  Without it, a clip is redone from its first frame. The restored frames of a resumed clip equal an
  uninterrupted run's bit for bit; the encoded files may still differ slightly, because libx264 does
  not always produce the same stream for the same frames from one run to the next (seen here even with
  one encoder thread).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["VIDEO_EXTENSIONS", "is_video", "enhance_video", "VideoSummary", "video_frames", "video_info", "write_clip",
           "restored_frames"]

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm")
MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}
PARTIAL = ".partial"


def is_video(path) -> bool:
    """Whether ``path`` names a video by its extension (:data:`VIDEO_EXTENSIONS`, any case)."""
    return os.path.splitext(str(path))[1].lower() in VIDEO_EXTENSIONS


def _av():
    try:
        import av
    except ImportError:
        from ..errors import FacesrError

        raise FacesrError("videos need PyAV: pip install 'facesr[video]'") from None
    return av


def _open(path):
    av = _av()
    from ..errors import ImageReadError

    try:
        c = av.open(str(path))
    except (av.FFmpegError, OSError) as e:
        why = getattr(e, "strerror", None) or " ".join(str(e).split()) or type(e).__name__
        raise ImageReadError(f"cannot read video '{path}': {why}") from None
    if not c.streams.video:
        c.close()
        raise ImageReadError(f"cannot read video '{path}': it has no video stream")
    return c


@dataclass
class VideoInfo:
    fps: Fraction
    frames: int  # as the container states it, else estimated from the duration (0: unknown)
    width: int  # as displayed: after the rotation
    height: int
    audio: str | None  # codec name of the first audio stream
    rotation: int = 0  # counter-clockwise quarter turns that make the stored frames upright (0-3)


def _quarter_turns(frame) -> int:
    """Counter-clockwise quarter turns (``np.rot90``'s ``k``) that show ``frame`` as players do: its
    display matrix rotates it by ``frame.rotation`` degrees counter-clockwise."""
    return int(round((frame.rotation or 0) / 90.0)) % 4


def video_info(path) -> VideoInfo:
    """Frame rate, frame count, displayed size, audio codec and rotation of a clip; ``ImageReadError``
    when unreadable."""
    av = _av()
    with _open(path) as c:
        v = c.streams.video[0]
        fps = Fraction(v.average_rate or v.guessed_rate or 25)
        n = int(v.frames or 0)
        if not n and c.duration:
            n = int(round(c.duration / 1_000_000 * float(fps)))
        a = c.streams.audio[0].codec_context.name if c.streams.audio else None
        w, h = int(v.codec_context.width), int(v.codec_context.height)
        try:  # the rotation is side data of the frames: the first one tells it
            k = _quarter_turns(next(c.decode(video=0)))
        except (StopIteration, av.FFmpegError):
            k = 0
        if k % 2:
            w, h = h, w
        return VideoInfo(fps, n, w, h, a, k)


def video_frames(path, start: int = 0):
    """The clip's frames as uint8 RGB arrays, upright (its display rotation applied), in order, from
    frame ``start``."""
    av = _av()
    from ..errors import ImageReadError

    with _open(path) as c:
        try:
            for i, frame in enumerate(c.decode(video=0)):
                if i >= start:
                    img = frame.to_ndarray(format="rgb24")
                    k = _quarter_turns(frame)
                    yield np.ascontiguousarray(np.rot90(img, k)) if k else img
        except av.FFmpegError as e:
            raise ImageReadError(f"cannot decode video '{path}': {' '.join(str(e).split())}") from None


def _even(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    if h % 2 or w % 2:
        img = np.pad(img, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return img


def _h264(out, fps: Fraction, crf: int, hw: tuple[int, int], b_frames: bool = True):
    """An H.264 (libx264, yuv420p, preset veryfast) video stream of ``out`` at ``fps`` and ``crf``."""
    s = out.add_stream("libx264", rate=fps)
    s.height, s.width = hw
    s.pix_fmt = "yuv420p"
    if not b_frames:
        s.codec_context.max_b_frames = 0
    s.options = {"crf": str(int(crf)), "preset": "veryfast"}
    return s


class _Segment:
    """One segment MP4 being encoded, frame by frame (uint8 RGB, even sides); :meth:`close` moves it into
    place atomically, :meth:`abort` drops it."""

    def __init__(self, path: Path, fps: Fraction, crf: int):
        av = _av()
        from ..fsutil import temp_name

        self.path, self.fps, self.crf, self.n = path, fps, crf, 0
        self.tmp = path.parent / (temp_name() + ".mp4")
        self.out = av.open(str(self.tmp), "w", format="mp4")
        self.stream = None

    def add(self, img: np.ndarray) -> None:
        av = _av()
        if self.stream is None:
            # no B-frames: segments are joined packet by packet, so dts must follow pts order
            self.stream = _h264(self.out, self.fps, self.crf, img.shape[:2], b_frames=False)
        f = av.VideoFrame.from_ndarray(img, format="rgb24")
        f.pts = self.n
        f.time_base = 1 / self.fps
        for p in self.stream.encode(f):
            self.out.mux(p)
        self.n += 1

    def close(self) -> None:
        for p in self.stream.encode(None):
            self.out.mux(p)
        self.out.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self.out.close()
        except Exception:
            pass
        if self.tmp.exists():
            self.tmp.unlink()


def _assemble(segments: list[Path], seg_frames: list[int], fps: Fraction, source, dest: Path) -> bool:
    """Join the segments' packets (time stamps shifted) and the source's first audio stream into ``dest``
    (atomically). Returns whether audio was kept."""
    av = _av()
    from ..fsutil import temp_name

    tmp = dest.parent / (temp_name() + ".mp4")
    dest.parent.mkdir(parents=True, exist_ok=True)
    audio_kept = False
    try:
        with av.open(str(tmp), "w", format="mp4") as out:
            ins = [av.open(str(p)) for p in segments]
            try:
                vout = out.add_stream_from_template(ins[0].streams.video[0])
                src = av.open(str(source))
                try:
                    aout = None
                    ain = src.streams.audio[0] if src.streams.audio else None
                    if ain is not None:
                        if ain.codec_context.name in MP4_AUDIO:
                            aout = out.add_stream_from_template(ain)
                        else:
                            aout = out.add_stream("aac", rate=ain.codec_context.sample_rate or 48000)
                    offset = 0
                    for c, n in zip(ins, seg_frames):
                        vin = c.streams.video[0]
                        shift = int(round(Fraction(offset) / fps / vin.time_base))
                        for p in c.demux(vin):
                            if p.dts is None:
                                continue
                            p.pts += shift
                            p.dts += shift
                            p.stream = vout
                            out.mux(p)
                        offset += n
                    if aout is not None:
                        if ain.codec_context.name in MP4_AUDIO:
                            for p in src.demux(ain):
                                if p.dts is None:
                                    continue
                                p.stream = aout
                                out.mux(p)
                        else:
                            for frame in src.decode(ain):
                                frame.pts = None
                                for p in aout.encode(frame):
                                    out.mux(p)
                            for p in aout.encode(None):
                                out.mux(p)
                        audio_kept = True
                finally:
                    src.close()
            finally:
                for c in ins:
                    c.close()
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return audio_kept


def restored_frames(enhancer, frames, fps: float, smooth: bool = True):
    """:class:`~facesr.enhance.EnhanceResult` of each of ``frames`` (uint8 RGB arrays, in order): faces
    found, tracked over time (:class:`~facesr.enhance.track.FaceTracker`), restored and pasted as
    ``enhancer.enhance`` does for a photo."""
    from .track import FaceTracker

    tracker = FaceTracker(fps, smooth=smooth)
    for img in frames:
        plan = enhancer.plan_faces(img, tracker.update(enhancer.find_faces(img)))
        yield enhancer.paste(plan, enhancer.restore([plan])[0])


@dataclass
class VideoSummary:
    frames: int = 0  # frames written (resumed ones included)
    resumed_frames: int = 0  # frames taken from an earlier run's segments
    faces: int = 0  # faces restored, summed over the frames this run processed
    frames_without_face: int = 0
    audio: bool = False
    skipped: bool = False  # the final file existed (skip_existing)
    seconds: float = 0.0
    output: str = ""


def _model_id(net) -> str | None:
    """A key of ``net``'s class, sizes and weights (a back-end wrapper without a state dict: of its preset
    and provenance too), so that segments made by another model are never reused."""
    if net is None:
        return None
    from ..deploy.artifacts import model_key

    meta = getattr(net, "facesr_meta", {}) or {}
    return model_key(net, meta.get("preset"), json.dumps(meta.get("provenance"), sort_keys=True, default=str))


def _settings(enhancer, info: VideoInfo, smooth: bool, crf: int, seg: int) -> dict:
    """What a clip's segments depend on: resumed segments must have been made with all of it."""
    return {"model": _model_id(enhancer.net), "small_model": _model_id(enhancer.small_net),
            "small_below": enhancer.small_below,
            "upscale": enhancer.upscale, "weight": enhancer.weight, "fusion": enhancer.fusion,
            "color_match": str(enhancer.color_match), "smooth": smooth, "crf": crf, "segment_frames": seg,
            "size": [info.width, info.height], "rotation": info.rotation, "fps": str(info.fps)}


def enhance_video(enhancer, path, out_dir, *, skip_existing: bool = False, smooth: bool = True,
                  segment_seconds: float = 2.0, crf: int = 18, progress: bool = True, quiet: bool = False,
                  on_frame: Callable[[int, int], None] | None = None, stream=None, stem: str | None = None
                  ) -> VideoSummary:
    """Restore the faces of every frame of the clip ``path`` into ``OUT/final/<stem>.mp4`` (see the module
    docstring). ``on_frame(done, total)`` is called after each frame (``total``: the clip's frame count,
    0 when unknown). Raises :class:`~facesr.errors.ImageReadError` for a file that is not a readable
    video, :class:`~facesr.errors.FacesrError` for an output over the enhancer's pixel limit."""
    import time

    t0 = time.perf_counter()
    stream = stream if stream is not None else sys.stderr
    path, out_dir = Path(path), Path(out_dir)
    stem = stem or path.stem
    dest = out_dir / "final" / f"{stem}.mp4"
    summary = VideoSummary(output=str(dest))
    if skip_existing and dest.is_file():
        summary.skipped = True
        return summary
    info = video_info(path)
    seg = max(1, int(round(float(info.fps) * segment_seconds)))
    part = out_dir / PARTIAL / stem
    settings = _settings(enhancer, info, smooth, crf, seg)
    done_segments: list[Path] = []
    if part.is_dir():
        old = part / "settings.json"
        same = skip_existing and old.is_file() and json.loads(old.read_text()) == settings
        if same:
            k = 0
            while (part / f"seg_{k:05d}.mp4").is_file():
                done_segments.append(part / f"seg_{k:05d}.mp4")
                k += 1
        else:
            shutil.rmtree(part)
    if not done_segments:
        from ..fsutil import atomic_write

        atomic_write(part / "settings.json", lambda f: f.write(json.dumps(settings).encode()))
    start = len(done_segments) * seg
    summary.resumed_frames = start
    total = max(info.frames, start)
    bar = None
    if progress and not quiet:
        from tqdm import tqdm

        bar = tqdm(total=total or None, initial=start, unit="frame", desc=f"enhancing {path.name}",
                   dynamic_ncols=True, file=stream)
    seg_counts = [seg] * len(done_segments)
    n = start
    writer = None
    try:
        for res in restored_frames(enhancer, video_frames(path, start), float(info.fps), smooth):
            summary.faces += res.num_faces
            summary.frames_without_face += not res.num_faces
            if writer is None:
                writer = _Segment(part / f"seg_{len(done_segments):05d}.mp4", info.fps, crf)
            writer.add(_even(res.final))
            n += 1
            if writer.n == seg:
                writer.close()
                done_segments.append(writer.path)
                seg_counts.append(writer.n)
                writer = None
            if bar is not None:
                bar.update(1)
            if on_frame is not None:
                on_frame(n, max(total, n))
        if writer is not None:
            writer.close()
            done_segments.append(writer.path)
            seg_counts.append(writer.n)
            writer = None
    finally:
        if writer is not None:
            writer.abort()
        if bar is not None:
            bar.close()
    if not done_segments:
        from ..errors import ImageReadError

        raise ImageReadError(f"cannot read video '{path}': no frame could be decoded")
    summary.audio = _assemble(done_segments, seg_counts, info.fps, path, dest)
    shutil.rmtree(part, ignore_errors=True)
    partial = out_dir / PARTIAL
    if partial.is_dir() and not any(partial.iterdir()):
        partial.rmdir()
    summary.frames = n
    summary.seconds = time.perf_counter() - t0
    return summary


def write_clip(path, frames, fps: float | Fraction = 25, audio_hz: float | None = None, crf: int = 18,
               rotation: int = 0) -> Path:
    """Write uint8 RGB ``frames`` (even sides) as an H.264 MP4 at ``path`` (atomically), with a mono AAC
    sine tone of ``audio_hz`` under it when given and a display matrix that rotates the frames by
    ``rotation`` degrees counter-clockwise when not 0 (as a phone stores a portrait clip): for test clips
    and benchmarks."""
    av = _av()
    from ..fsutil import temp_name

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fps = Fraction(fps).limit_denominator(100000)
    tmp = path.parent / (temp_name() + ".mp4")
    try:
        with av.open(str(tmp), "w", format="mp4") as out:
            frames = list(frames)
            v = _h264(out, fps, crf, frames[0].shape[:2])
            if rotation:
                v.set_display_rotation(rotation)
            a = out.add_stream("aac", rate=48000, layout="mono") if audio_hz else None
            for i, img in enumerate(frames):
                f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                f.pts, f.time_base = i, 1 / fps
                for p in v.encode(f):
                    out.mux(p)
            for p in v.encode(None):
                out.mux(p)
            if a is not None:
                n = int(round(len(frames) / float(fps) * 48000))
                t = np.arange(n) / 48000.0
                wave = (0.2 * np.sin(2 * np.pi * audio_hz * t)).astype(np.float32)
                for s in range(0, n, 1024):
                    fr = av.AudioFrame.from_ndarray(wave[None, s:s + 1024], format="fltp", layout="mono")
                    fr.sample_rate, fr.pts, fr.time_base = 48000, s, Fraction(1, 48000)
                    for p in a.encode(fr):
                        out.mux(p)
                for p in a.encode(None):
                    out.mux(p)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
