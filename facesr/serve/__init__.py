"""``facesr serve``: a local web app for people who don't use a terminal.

Drop photos (or short clips) on the page, pick a model (every shipped model that restores photos, each
with one line on what it is for), the upscale and the restoration strength (``-w``); each file is
restored exactly as ``facesr enhance`` would (same code, same files), shown as a before/after comparison
of the whole photo with its face crops before and after, and offered for download (the result, or a zip
in the ``facesr enhance`` layout).

Why Starlette + uvicorn and a plain page rather than Gradio (the field's usual demo stack): the page
needs a file drop, three controls, a progress bar per file, a comparison slider and downloads; that is
about 300 lines of HTML and JavaScript that ship inside the package (so nothing is fetched from a CDN and
the app works offline), against Gradio's several hundred MB of dependencies and a front end we would not
control. The server is two small, well-kept libraries, imported only by this command.

Layout: :mod:`.jobs` (uploads, the job queue and the worker: no web framework), :mod:`.app` (HTTP
routes), ``static/`` (the page). Safety: it binds to 127.0.0.1 unless told otherwise; uploads are
size-limited, stored under a temporary folder by a sanitised name and deleted when the server stops;
files are served by looking names up in a job's result list, never by joining a requested path.
"""
from __future__ import annotations

__all__ = ["create_app", "serve"]


def create_app(*args, **kwargs):
    """See :func:`facesr.serve.app.create_app`."""
    from .app import create_app as _create

    return _create(*args, **kwargs)


def serve(host: str = "127.0.0.1", port: int = 7860, max_upload_mb: float = 50.0, device: str = "cpu",
          backend: str = "auto") -> None:
    """Run the web app with uvicorn until interrupted (Ctrl-C). Prints the address to open."""
    try:
        import uvicorn
    except ImportError:
        from ..errors import FacesrError

        raise FacesrError("facesr serve needs Starlette and uvicorn: pip install 'facesr[serve]'") from None
    from .app import create_app as _create
    from .jobs import JobStore

    store = JobStore(device=device, backend=backend)
    app = _create(store, max_upload_mb=max_upload_mb)
    print(f"facesr serve: open http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/ "
          f"(Ctrl-C stops it; uploads live in {store.root} until then)", flush=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        store.close()
