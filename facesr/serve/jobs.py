"""The work behind ``facesr serve``: uploads become jobs, one worker thread runs them in order.

Contract:

* Every file a job reads or writes lies under its own folder ``ROOT/<id>/`` (``ROOT``: a fresh temporary
  folder per :class:`JobStore`, removed by :meth:`JobStore.close`). The uploaded bytes go to
  ``input/<safe name>``, where the safe name keeps only ``[A-Za-z0-9._-]`` of the upload's name; the
  results are written by the same code as ``facesr enhance`` (:func:`facesr.enhance.enhance_files`, and
  :func:`facesr.enhance.video.enhance_video` for clips) into ``out/``, so they are the files the CLI
  writes for the same settings.
* Jobs run one at a time, in submission order, on one worker thread: a second upload while one runs
  waits in the queue (its status says so) and neither result can touch the other's files. Loaded models
  are kept (one per name) and shared by later jobs.
* A job ends ``done`` (its files listed in :attr:`Job.files`) or ``error`` with one line, the same line
  ``facesr enhance`` prints for that file, with the upload's name in place of the temporary path.
* Nothing here imports a web framework: :mod:`facesr.serve.app` puts HTTP in front of it.
"""
from __future__ import annotations

import io
import os
import queue
import re
import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Job", "JobStore", "ModelInfo", "shipped_models", "safe_name", "MAX_JOBS"]

MAX_JOBS = 200  # finished jobs kept (oldest deleted first, files included)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str, default: str = "upload") -> str:
    """A file name from an upload's (client-chosen) name that cannot leave its folder: the last path
    component, characters outside ``[A-Za-z0-9._-]`` replaced by ``_``, no leading dots, at most 100
    characters (the extension kept); ``default`` when nothing is left."""
    base = re.split(r"[\\/]", str(name or ""))[-1]
    base = _SAFE.sub("_", base).lstrip(".")
    if len(base) > 100:
        stem, dot, ext = base.rpartition(".")
        base = (stem[:90] + dot + ext[:9]) if dot and len(ext) < 10 else base[:100]
    return base if base.strip("._-") else default


@dataclass(frozen=True)
class ModelInfo:
    """A shipped model that can enhance photos, as the page lists it."""

    name: str
    use: str  # one plain line: what to pick it for
    kind: str  # "restore" (input size = output size) or "x8"-style "sr"
    size: str  # e.g. "128->128"
    default: bool


def shipped_models() -> list[ModelInfo]:
    """Every registry preset that ships weights and can restore photos (an SR or restoration model that
    needs only the face: no teacher, landmark network, discriminator or degradation model), the enhance
    default first. Decided from the presets alone (nothing is loaded)."""
    from ..enhance import DEFAULT_MODEL
    from ..registry import list_presets, weights_path

    out = []
    for p in list_presets():
        w = weights_path(p)
        if not p.use or w is None or not w.is_file():
            continue
        kind = "restore" if p.lr_size == p.hr_size else "sr"
        out.append(ModelInfo(p.name, p.use, kind, f"{p.lr_size}->{p.hr_size}", p.name == DEFAULT_MODEL))
    return sorted(out, key=lambda m: (not m.default, m.kind != "restore", m.name))


@dataclass
class Job:
    """One uploaded file and what became of it. ``status``: queued, running, done or error."""

    id: str
    name: str  # the safe name (shown to the user, used in output names)
    kind: str  # "image" or "video"
    options: dict
    folder: Path
    status: str = "queued"
    progress: float = 0.0  # 0..1 (videos: frames done / frames; photos: 0 until done)
    message: str = ""  # the error line, or a note (e.g. no face found)
    files: dict = field(default_factory=dict)  # role -> list of paths relative to folder
    created: float = field(default_factory=time.time)
    seconds: float = 0.0

    @property
    def input_path(self) -> Path:
        return self.folder / "input" / self.name

    @property
    def out(self) -> Path:
        return self.folder / "out"

    def public(self) -> dict:
        """What the page is told about this job (no server paths)."""
        return {"id": self.id, "name": self.name, "kind": self.kind, "options": dict(self.options),
                "status": self.status, "progress": round(self.progress, 4), "message": self.message,
                "files": {k: list(v) for k, v in self.files.items()}, "seconds": round(self.seconds, 2)}


class JobStore:
    """Jobs, their folders and the worker that runs them (see the module docstring).

    ``device``, ``backend``: as for ``facesr enhance``. ``root``: where job folders go (default: a new
    temporary folder, removed by :meth:`close`)."""

    def __init__(self, device: str = "cpu", backend: str = "auto", root: str | os.PathLike | None = None):
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="facesr-serve-") if root is None else root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.device, self.backend = device, backend
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._nets: dict[str, object] = {}
        self._worker = threading.Thread(target=self._run, name="facesr-serve-worker", daemon=True)
        self._worker.start()

    # ---------------------------------------------------------------- submitting
    def new_job(self, filename: str, options: dict) -> Job:
        """A queued-to-be job with its folder made; the caller writes :attr:`Job.input_path`, then
        :meth:`submit`\\s it (or :meth:`discard`\\s it when the upload failed)."""
        from ..enhance.video import is_video

        name = safe_name(filename)
        jid = uuid.uuid4().hex
        folder = self.root / jid
        (folder / "input").mkdir(parents=True)
        job = Job(jid, name, "video" if is_video(name) else "image", dict(options), folder)
        return job

    def submit(self, job: Job) -> Job:
        with self._lock:
            self.jobs[job.id] = job
            self._prune()
        self._queue.put(job.id)
        return job

    def discard(self, job: Job) -> None:
        shutil.rmtree(job.folder, ignore_errors=True)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self.jobs.get(job_id)

    def position(self, job: Job) -> int:
        """How many queued or running jobs were submitted before ``job``."""
        with self._lock:
            return sum(1 for j in self.jobs.values()
                       if j.status in ("queued", "running") and j.created < job.created and j.id != job.id)

    def delete(self, job_id: str) -> bool:
        """Forget a finished job and delete its files; False for an unknown or unfinished one."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None or job.status not in ("done", "error"):
                return False
            del self.jobs[job_id]
        shutil.rmtree(job.folder, ignore_errors=True)
        return True

    def _prune(self) -> None:
        finished = sorted((j for j in self.jobs.values() if j.status in ("done", "error")), key=lambda j: j.created)
        for j in finished[:max(0, len(self.jobs) - MAX_JOBS)]:
            del self.jobs[j.id]
            shutil.rmtree(j.folder, ignore_errors=True)

    # ---------------------------------------------------------------- results
    def file(self, job: Job, rel: str) -> Path | None:
        """The path of one of ``job``'s listed files (``rel`` as in :attr:`Job.files` or the input's
        ``input/NAME``), or None: names are looked up, never joined, so no request leaves the folder."""
        listed = {p for v in job.files.values() for p in v} | {f"input/{job.name}"}
        return job.folder / rel if rel in listed else None

    def zip_bytes(self, job: Job) -> bytes:
        """Every result file of ``job`` in a zip, in the ``facesr enhance`` layout (``final/...``)."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for rel in sorted({p for v in job.files.values() for p in v}):
                z.write(job.folder / rel, Path(rel).relative_to("out").as_posix())
        return buf.getvalue()

    # ---------------------------------------------------------------- the worker
    def net(self, name: str):
        """The loaded model ``name`` (loaded once, then shared), behind the store's back-end."""
        from ..enhance.restore import load_model

        if name not in self._nets:
            self._nets[name] = load_model(name, self.device, self.backend)
        return self._nets[name]

    def _run(self) -> None:
        while True:
            jid = self._queue.get()
            if jid is None:
                return
            job = self.get(jid)
            if job is None:
                continue
            job.status = "running"
            t0 = time.perf_counter()
            try:
                self._work(job)
            except Exception as e:  # one line for the page, as the CLI would print it
                from ..enhance.runner import one_line

                job.message = one_line(e).replace(str(job.input_path), job.name)
                job.status = "error"
            else:
                job.status = "error" if job.message and not job.files else "done"
            job.seconds = time.perf_counter() - t0

    def _work(self, job: Job) -> None:
        from ..enhance import FaceEnhancer

        o = job.options
        enhancer = FaceEnhancer(self.net(o["model"]), upscale=o["upscale"], weight=o["weight"], device=self.device)
        if job.kind == "video":
            from ..enhance.video import enhance_video

            def tick(done: int, total: int) -> None:
                job.progress = done / total if total else 0.0

            enhance_video(enhancer, job.input_path, job.out, progress=False, on_frame=tick)
            job.progress = 1.0
            self._collect(job)
            return
        from ..enhance import enhance_files

        summary = enhance_files(enhancer, [job.input_path], job.out, progress=False, quiet=True,
                                stream=io.StringIO())
        if summary.failed:
            job.message = summary.failed[0][1].replace(str(job.input_path), job.name)
            return
        job.progress = 1.0
        if summary.no_face:
            job.message = "no face found: the photo was upscaled as a whole"
        self._collect(job)

    def _collect(self, job: Job) -> None:
        files: dict[str, list[str]] = {}
        for role in ("final", "cropped_faces", "restored_faces", "cmp"):
            d = job.out / role
            if d.is_dir():
                files[role] = sorted(p.relative_to(job.folder).as_posix() for p in d.iterdir()
                                     if p.is_file() and not p.name.startswith("."))
        job.files = files

    def close(self) -> None:
        """Stop the worker (after the running job) and delete the job folders this store made."""
        self._queue.put(None)
        self._worker.join(timeout=60)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)
