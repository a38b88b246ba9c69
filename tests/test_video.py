"""Videos: the face tracker (smoothing, held faces, association) and `facesr enhance` on clips (frames equal
to `FaceEnhancer.enhance` on the same frames, frame rate and audio kept, resume of an interrupted clip)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facesr.enhance.track import FaceTracker, OneEuro, iou


def _face(x0=100.0, y0=80.0, size=60.0, rng=None, jitter=0.0):
    """A synthetic (box, score, 68 landmarks) face: landmarks on a circle inside the box."""
    t = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    lm = np.stack([x0 + size / 2 + 0.4 * size * np.cos(t), y0 + size / 2 + 0.4 * size * np.sin(t)], 1)
    if rng is not None and jitter:
        lm = lm + rng.normal(0, jitter, lm.shape)
    return np.array([x0, y0, x0 + size, y0 + size]), 1.0, lm


def test_iou():
    assert iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0
    assert iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)


def test_still_face_is_returned_bit_for_bit():
    tr = FaceTracker(25)
    box, score, lm = _face()
    for _ in range(10):
        (b, s, out), = tr.update([(box, score, lm)])
        assert np.array_equal(out, lm) and np.array_equal(b, box)


def test_smoothing_removes_jitter_and_follows_motion():
    """A still face with 1.5 px landmark noise: frame-to-frame shake of its landmarks at least halved;
    a face moving 4 px a frame: followed within 2 frames' motion."""
    rng = np.random.default_rng(0)
    smooth = FaceTracker(25)
    raw, out = [], []
    for _ in range(100):
        f = _face(rng=rng, jitter=1.5)
        raw.append(f[2])
        out.append(smooth.update([f])[0][2])
    shake = lambda a: np.abs(np.diff(np.array(a[20:]), 2, axis=0)).mean()  # noqa: E731
    assert shake(out) < 0.5 * shake(raw)
    f = OneEuro(25)
    for k in range(40):
        o = f(_face(x0=100.0 + 4 * k)[2])
    assert abs(o[:, 0].mean() - _face(x0=100.0 + 4 * 39)[2][:, 0].mean()) < 8


def test_one_frame_detection_is_not_held():
    tr = FaceTracker(10)
    tr.update([_face()])
    assert tr.update([]) == []


def test_missed_detection_is_held_then_dropped():
    tr = FaceTracker(10, hold_seconds=0.3)  # 3 frames
    f = _face()
    for _ in range(3):  # confirmed (min_hits)
        tr.update([f])
    for k in range(3):
        held = tr.update([])
        assert len(held) == 1 and np.array_equal(held[0][2], f[2]), k
    assert tr.update([]) == []


def test_two_faces_keep_their_tracks():
    tr = FaceTracker(25, smooth=True)
    a, b = _face(x0=10), _face(x0=300)
    tr.update([a, b])
    out = tr.update([(b[0] + 2, 1.0, b[2] + 2), (a[0] + 1, 1.0, a[2] + 1)])  # order swapped, small moves
    assert [o[0][0] for o in out] == sorted(o[0][0] for o in out)  # left to right
    assert out[0][2][:, 0].mean() < 150 < out[1][2][:, 0].mean()
    assert len(tr.tracks) == 2


def test_bad_settings_raise():
    with pytest.raises(ValueError):
        FaceTracker(0)
    with pytest.raises(ValueError):
        OneEuro(25, min_cutoff=0)


# ---------------------------------------------------------------------------------------------- clips
av = pytest.importorskip("av")
pytest.importorskip("dlib")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 10-frame 25 fps clip of the bundled photo (at 224 px, where HOG finds the face in every frame)
    panning 1 px a frame, with a 440 Hz tone."""
    from PIL import Image

    from facesr.cli.common import SAMPLE_PHOTO
    from facesr.data.io import read_image
    from facesr.enhance.video import write_clip

    img = np.asarray(Image.fromarray(read_image(SAMPLE_PHOTO)).resize((224, 224), Image.BICUBIC))
    frames = [np.roll(img, k, axis=1) for k in range(10)]
    return write_clip(tmp_path_factory.mktemp("clip") / "pan.mp4", frames, fps=25, audio_hz=440)


@pytest.fixture(scope="module")
def enhancer():
    from facesr.enhance import FaceEnhancer

    return FaceEnhancer(upscale=1)


def _psnr(a, b):
    d = a.astype(np.float64) - b
    return 10 * np.log10(255.0 ** 2 / max(np.mean(d ** 2), 1e-12))


def test_frames_equal_enhance_on_the_same_frames(clip, enhancer):
    from facesr.enhance.video import restored_frames, video_frames

    frames = list(video_frames(clip))
    assert len(frames) == 10
    outs = list(restored_frames(enhancer, frames, 25.0, smooth=False))
    for f, r in zip(frames, outs):
        assert r.num_faces == 1
        assert np.array_equal(r.final, enhancer.enhance(f).final)
    # smoothing moves the crop by a fraction of a pixel on this pan: the frames stay close to enhance's
    sm = list(restored_frames(enhancer, frames, 25.0, smooth=True))
    assert np.array_equal(sm[0].final, outs[0].final)  # the first frame has no history
    assert min(_psnr(s.final, o.final) for s, o in zip(sm, outs)) > 30


def test_enhance_clip_keeps_rate_frames_and_audio(clip, enhancer, tmp_path):
    from facesr.enhance.video import enhance_video, restored_frames, video_frames, video_info

    s = enhance_video(enhancer, clip, tmp_path, smooth=False, progress=False, segment_seconds=0.15)
    out = tmp_path / "final" / "pan.mp4"
    assert s.output == str(out) and s.frames == 10 and s.faces == 10 and s.audio
    info, src = video_info(out), video_info(clip)
    assert (info.frames, info.fps, info.audio) == (10, src.fps, "aac")
    assert not (tmp_path / ".partial").exists()  # segments removed once the clip is assembled
    # what was encoded is the restored frames, up to H.264 at crf 18
    ref = [r.final for r in restored_frames(enhancer, list(video_frames(clip)), 25.0, smooth=False)]
    got = list(video_frames(out))
    assert min(_psnr(g, r) for g, r in zip(got, ref)) > 33
    # the audio lasts as long as the source's
    with av.open(str(out)) as c, av.open(str(clip)) as c0:
        assert abs(float(c.streams.audio[0].duration * c.streams.audio[0].time_base)
                   - float(c0.streams.audio[0].duration * c0.streams.audio[0].time_base)) < 0.05


def test_rotated_phone_clip_is_read_and_restored_upright(enhancer, tmp_path):
    """A portrait clip stored as a phone stores it (landscape frames, display matrix -90 degrees): frames
    come out upright, so the face is found, and the output is upright with the displayed size."""
    from PIL import Image

    from facesr.cli.common import SAMPLE_PHOTO
    from facesr.data.io import read_image
    from facesr.enhance.video import enhance_video, video_frames, video_info, write_clip

    up = np.asarray(Image.fromarray(read_image(SAMPLE_PHOTO)).resize((224, 224), Image.BICUBIC))
    up = np.pad(up, ((16, 16), (0, 0), (0, 0)), mode="edge")  # portrait: 256 high, 224 wide
    stored = np.ascontiguousarray(np.rot90(up, 1))  # 224 x 256, the face lying on its side
    clip = write_clip(tmp_path / "phone.mp4", [stored] * 3, fps=25, rotation=-90)
    info = video_info(clip)
    assert (info.width, info.height, info.rotation) == (224, 256, 3)
    frames = list(video_frames(clip))
    assert frames[0].shape == up.shape and _psnr(frames[0], up) > 35
    assert enhancer.enhance(stored).num_faces == 0  # read as stored, the face would be missed
    s = enhance_video(enhancer, clip, tmp_path / "out", smooth=False, progress=False)
    assert s.faces == 3
    out = video_info(tmp_path / "out" / "final" / "phone.mp4")
    assert (out.width, out.height, out.rotation) == (224, 256, 0)
    got = next(video_frames(tmp_path / "out" / "final" / "phone.mp4"))
    assert _psnr(got, enhancer.enhance(frames[0]).final) > 33


def test_interrupted_clip_resumes_from_its_segments(clip, enhancer, tmp_path, monkeypatch):
    """An interrupted clip keeps its finished segments; resumed, it restores only the remaining frames,
    exactly as an uninterrupted run does, and copies the kept segments into the final file unchanged.
    (The encoded streams are compared up to the encoder: libx264 is not always bit-reproducible.)"""
    import facesr.enhance.video as V

    fed: list[np.ndarray] = []
    add = V._Segment.add
    monkeypatch.setattr(V._Segment, "add", lambda self, img: (fed.append(img.copy()), add(self, img))[1])
    full = tmp_path / "full"
    V.enhance_video(enhancer, clip, full, smooth=False, progress=False, segment_seconds=0.12)  # 3-frame segments
    full_fed = list(fed)

    def stop(done, total):
        if done == 7:
            raise KeyboardInterrupt

    part = tmp_path / "part"
    with pytest.raises(KeyboardInterrupt):
        V.enhance_video(enhancer, clip, part, smooth=False, progress=False, segment_seconds=0.12, on_frame=stop)
    assert not (part / "final" / "pan.mp4").exists()
    segs = sorted((part / ".partial" / "pan").glob("seg_*.mp4"))
    assert [p.name for p in segs] == ["seg_00000.mp4", "seg_00001.mp4"]
    assert not list((part / ".partial" / "pan").glob(".facesr-*"))  # the unfinished segment was dropped
    kept = [f for p in segs for f in V.video_frames(p)]
    fed.clear()
    s = V.enhance_video(enhancer, clip, part, smooth=False, progress=False, segment_seconds=0.12,
                        skip_existing=True)
    assert (s.resumed_frames, s.frames) == (6, 10)
    assert len(fed) == 4 and all(np.array_equal(a, b) for a, b in zip(fed, full_fed[6:]))
    a, b = list(V.video_frames(full / "final" / "pan.mp4")), list(V.video_frames(part / "final" / "pan.mp4"))
    assert len(a) == len(b) == 10
    assert all(np.array_equal(x, y) for x, y in zip(b[:6], kept))  # kept segments copied, not re-encoded
    assert min(_psnr(x, y) for x, y in zip(a, b)) > 40
    again = V.enhance_video(enhancer, clip, part, skip_existing=True, progress=False)
    assert again.skipped


def test_changed_settings_do_not_reuse_segments(clip, enhancer, tmp_path):
    from facesr.enhance import FaceEnhancer
    from facesr.enhance.video import enhance_video

    def stop(done, total):
        if done == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        enhance_video(enhancer, clip, tmp_path, smooth=False, progress=False, segment_seconds=0.12, on_frame=stop)
    other = FaceEnhancer(enhancer.net, upscale=1, weight=0.5)
    s = enhance_video(other, clip, tmp_path, smooth=False, progress=False, segment_seconds=0.12, skip_existing=True)
    assert s.resumed_frames == 0 and s.frames == 10


def test_cli_enhances_a_clip_and_reports_a_broken_one(clip, tmp_path, capsys):
    from facesr.cli import main
    from facesr.enhance.video import video_info

    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\0not a video" * 50)
    assert main(["enhance", "-i", str(clip), str(bad), "-o", str(tmp_path / "out"), "-s", "1"]) == 1
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "broken.mp4" in ln]
    assert len(lines) == 1 and "cannot read video" in lines[0]
    assert video_info(tmp_path / "out" / "final" / "pan.mp4").frames == 10


def test_segment_settings_tell_weights_apart(enhancer):
    """Resumed segments must come from the same model: two networks of one architecture and preset whose
    weights differ give different settings."""
    import copy

    import torch

    from facesr.enhance import FaceEnhancer
    from facesr.enhance.video import VideoInfo, _settings

    info = VideoInfo(fps=25, frames=10, width=224, height=224, audio=None)
    same = FaceEnhancer(enhancer.net, upscale=1)
    assert _settings(same, info, True, 18, 3) == _settings(enhancer, info, True, 18, 3)
    other_net = copy.deepcopy(enhancer.net)
    with torch.no_grad():
        next(other_net.parameters()).add_(1e-3)
    other = FaceEnhancer(other_net, upscale=1)
    assert _settings(other, info, True, 18, 3)["model"] != _settings(enhancer, info, True, 18, 3)["model"]


def _photo_and_clip_folder(clip, root: Path) -> Path:
    """A folder with ``pan.mp4`` (the clip) and ``pan.jpg`` (its first frame): one stem, two kinds."""
    import shutil

    from facesr.data.io import write_image
    from facesr.enhance.video import video_frames

    root.mkdir()
    shutil.copy(clip, root / "pan.mp4")
    write_image(root / "pan.jpg", next(iter(video_frames(clip))))
    return root


def test_folder_clips_are_restored_beside_its_photos(clip, enhancer, tmp_path):
    from facesr.enhance.runner import enhance_files
    from facesr.enhance.video import video_info

    folder = _photo_and_clip_folder(clip, tmp_path / "in")
    s = enhance_files(enhancer, folder, tmp_path / "out", progress=False, quiet=True)
    assert (s.images, s.videos, s.frames, s.failed) == (1, 1, 10, [])
    assert (tmp_path / "out" / "final" / "pan.jpg").is_file()
    assert video_info(tmp_path / "out" / "final" / "pan_mp4.mp4").frames == 10  # the stem taken by the photo
    # aligned crops: folders give images only (a clip is not an aligned face)
    s = enhance_files(enhancer, folder, tmp_path / "out_aligned", aligned=True, progress=False, quiet=True)
    assert (s.images, s.videos) == (1, 0)


def test_folder_clips_without_pyav_are_left_out_with_one_note(clip, enhancer, tmp_path, monkeypatch):
    import importlib.util
    import io

    from facesr.enhance.runner import enhance_files
    from facesr.errors import ImageReadError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "av" else real(name, *a))
    folder = _photo_and_clip_folder(clip, tmp_path / "in")
    err = io.StringIO()
    s = enhance_files(enhancer, folder, tmp_path / "out", progress=False, stream=err)
    assert (s.images, s.videos, s.failed) == (1, 0, [])
    notes = [ln for ln in err.getvalue().splitlines() if "clip(s)" in ln]
    assert notes == ["facesr: note: 1 clip(s) in the input folders left out: videos need PyAV: "
                     "pip install 'facesr[video]'"]
    (folder / "pan.jpg").unlink()
    with pytest.raises(ImageReadError, match="1 clip\\(s\\) there need PyAV"):
        enhance_files(enhancer, folder, tmp_path / "out2", progress=False, quiet=True)
