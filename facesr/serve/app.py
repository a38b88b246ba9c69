"""The HTTP side of ``facesr serve``: a Starlette app in front of a :class:`~facesr.serve.jobs.JobStore`.

Routes (all JSON unless said otherwise):

* ``GET /``: the page (``static/index.html``; its script and style are served from ``/static``, nothing
  comes from elsewhere, so the app works offline).
* ``GET /api/models``: the shipped models that enhance photos (:func:`~facesr.serve.jobs.shipped_models`)
  and the option ranges.
* ``POST /api/jobs?name=FILE&model=M&upscale=S&weight=W``: the request body is the file's bytes (no
  multipart: one file per request, so one bad file fails alone). Over ``max_upload_bytes``: 413 and
  nothing kept. Bad options: 400 with one line. Returns the job (202).
* ``GET /api/jobs/ID``: the job's status, progress, message, queue position and result file names.
* ``GET /api/jobs/ID/file/REL``: one of the job's listed files (or its input); anything else is 404.
* ``GET /api/jobs/ID/zip``: the job's results in the ``facesr enhance`` layout.
* ``DELETE /api/jobs/ID``: forget a finished job and delete its files.

Errors are ``{"error": "one line"}`` with a 4xx status.
"""
from __future__ import annotations

import math
from pathlib import Path

__all__ = ["create_app", "DEFAULT_MAX_UPLOAD_MB", "UPSCALE_RANGE"]

DEFAULT_MAX_UPLOAD_MB = 50
UPSCALE_RANGE = (1.0, 8.0)
STATIC = Path(__file__).with_name("static")


def _options(params, models: dict) -> dict:
    """The job options from the query ``params``, checked; raises ValueError with one line."""
    from ..enhance import DEFAULT_MODEL

    model = params.get("model") or DEFAULT_MODEL
    if model not in models:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(models)}")
    try:
        upscale = float(params.get("upscale", 2))
        weight = float(params.get("weight", 1))
    except ValueError:
        raise ValueError("upscale and weight must be numbers") from None
    lo, hi = UPSCALE_RANGE
    if not (math.isfinite(upscale) and lo <= upscale <= hi):
        raise ValueError(f"upscale must be between {lo:g} and {hi:g}, got {upscale:g}")
    if not (math.isfinite(weight) and 0.0 <= weight <= 1.0):
        raise ValueError(f"weight (restoration strength) must be between 0 and 1, got {weight:g}")
    return {"model": model, "upscale": upscale, "weight": weight}


def create_app(store=None, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB):
    """The Starlette app. ``store``: a :class:`~facesr.serve.jobs.JobStore` (default: a new one, closed
    when the app shuts down). Needs ``pip install 'facesr[serve]'``."""
    try:
        from starlette.applications import Starlette
        from starlette.responses import FileResponse, JSONResponse, Response
        from starlette.routing import Mount, Route
        from starlette.staticfiles import StaticFiles
    except ImportError:
        from ..errors import FacesrError

        raise FacesrError("facesr serve needs Starlette and uvicorn: pip install 'facesr[serve]'") from None
    import contextlib

    from .jobs import JobStore, shipped_models

    own = store is None
    store = store if store is not None else JobStore()
    models = {m.name: m for m in shipped_models()}
    limit = int(max_upload_mb * 1024 * 1024)

    def error(msg: str, status: int = 400):
        return JSONResponse({"error": msg}, status_code=status)

    def job_json(job):
        d = job.public()
        d["queue_position"] = store.position(job) if job.status == "queued" else 0
        return d

    async def index(request):
        return FileResponse(STATIC / "index.html", media_type="text/html")

    async def api_models(request):
        from ..enhance.video import VIDEO_EXTENSIONS
        from ..data.io import IMAGE_EXTENSIONS

        return JSONResponse({
            "models": [m.__dict__ for m in models.values()],
            "upscale": {"min": UPSCALE_RANGE[0], "max": UPSCALE_RANGE[1], "default": 2},
            "weight": {"min": 0, "max": 1, "default": 1},
            "max_upload_mb": max_upload_mb,
            "extensions": sorted(IMAGE_EXTENSIONS) + sorted(VIDEO_EXTENSIONS),
        })

    async def create_job(request):
        try:
            opts = _options(request.query_params, models)
        except ValueError as e:
            return error(str(e))
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > limit:
            # read (and drop) a moderately larger body first, so that the client gets the answer instead of
            # a reset connection; a far larger one is cut off
            if int(size) <= 4 * limit:
                async for _ in request.stream():
                    pass
            return error(f"the file is larger than the {max_upload_mb:g} MB upload limit", 413)
        job = store.new_job(request.query_params.get("name", "upload"), opts)
        n = 0
        try:
            with open(job.input_path, "wb") as f:
                async for chunk in request.stream():
                    n += len(chunk)
                    if n > limit:
                        raise OverflowError
                    f.write(chunk)
        except OverflowError:
            store.discard(job)
            return error(f"the file is larger than the {max_upload_mb:g} MB upload limit", 413)
        except Exception:  # the client went away mid-upload
            store.discard(job)
            raise
        if n == 0:
            store.discard(job)
            return error(f"'{job.name}' is empty (0 bytes)")
        store.submit(job)
        return JSONResponse(job_json(job), status_code=202)

    def find(request):
        return store.get(request.path_params["job_id"])

    async def get_job(request):
        job = find(request)
        return error("no such job", 404) if job is None else JSONResponse(job_json(job))

    async def get_file(request):
        job = find(request)
        path = store.file(job, request.path_params["rel"]) if job is not None else None
        if path is None or not path.is_file():
            return error("no such file", 404)
        return FileResponse(path, headers={"Cache-Control": "no-store"})

    async def get_zip(request):
        job = find(request)
        if job is None or job.status != "done":
            return error("no finished job with this id", 404)
        stem = Path(job.name).stem or "facesr"
        return Response(store.zip_bytes(job), media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{stem}_facesr.zip"'})

    async def delete_job(request):
        ok = store.delete(request.path_params["job_id"])
        return JSONResponse({"deleted": ok}, status_code=200 if ok else 404)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        if own:
            store.close()

    routes = [
        Route("/", index),
        Route("/api/models", api_models),
        Route("/api/jobs", create_job, methods=["POST"]),
        Route("/api/jobs/{job_id}", get_job),
        Route("/api/jobs/{job_id}", delete_job, methods=["DELETE"]),
        Route("/api/jobs/{job_id}/file/{rel:path}", get_file),
        Route("/api/jobs/{job_id}/zip", get_zip),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.store = store
    return app
