"""``facesr serve [--host 127.0.0.1] [--port 7860] [--max-upload-mb 50]``: the local web app
(:mod:`facesr.serve`): drop photos or short clips, pick a model, upscale and strength, compare, download."""
from __future__ import annotations

from .common import add_backend_argument, positive_float


def add_parser(sub):
    p = sub.add_parser("serve", help="a local web app: drop photos or clips, compare before/after, download",
                       description="Start facesr's web app on this machine (works offline; nothing is sent "
                                   "anywhere). Uploads are processed one at a time, as `facesr enhance` "
                                   "would, in a temporary folder deleted when the server stops. Needs "
                                   "pip install 'facesr[serve]' (and 'facesr[video]' for clips).")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens it to "
                        "your network, with no password)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--max-upload-mb", type=positive_float, default=50.0,
                   help="largest file accepted, in MB (default 50)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default cpu)")
    add_backend_argument(p)
    p.set_defaults(fn=run)
    return p


def run(args) -> int:
    from ..serve import serve
    from .common import check_device

    if not 1 <= args.port <= 65535:
        from ..errors import ConfigError

        raise ConfigError(f"--port must be between 1 and 65535, got {args.port}")
    serve(host=args.host, port=args.port, max_upload_mb=args.max_upload_mb, device=check_device(args.device),
          backend=args.backend)
    return 0
