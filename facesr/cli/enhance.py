"""``facesr enhance -i PHOTO_OR_FOLDER -o OUTDIR [-m MODEL] [-s UPSCALE] [options]``: super-resolve every
face in photos and paste them back.

Exit status: 0 when every file was enhanced (photos without a face count as done), 1 when any file
failed (each failure is one line on stderr), 2 for errors that stop the run (reported by :func:`main`).
"""
from __future__ import annotations

from .common import add_backend_argument, check_device, nonneg_int, pos_int, positive_float, unit_float


def run(args) -> int:
    from ..enhance import enhance_paths

    device = check_device(args.device)
    from ..enhance import DEFAULT_MODEL

    summary = enhance_paths(
        args.input, args.output, model=args.model or DEFAULT_MODEL, upscale=args.upscale, recursive=args.recursive,
        skip_existing=args.skip_existing, ext=args.ext, suffix=args.suffix,
        only_center_face=args.only_center_face, min_face_size=args.min_face_size,
        det_threshold=args.det_threshold, det_upsample=args.det_upsample, cnn=args.cnn, aligned=args.aligned,
        color_match=not args.no_color_match, draw_box=args.draw_box, device=device,
        batch_size=args.batch_size, fusion=not args.no_fusion, backend=args.backend, progress=not args.quiet,
        quiet=args.quiet, weight=args.weight, small_model=args.small_model, small_below=args.small_below,
        smooth=not args.no_smooth)
    if not args.quiet:
        print(summary.line())
    return 0 if summary.ok else 1


def add_parser(sub):
    """Register ``enhance`` on an ``argparse`` sub-parser collection; returns its parser."""
    p = sub.add_parser(
        "enhance", help="super-resolve every face in photos and paste them back (file or folder; clips too)",
        description="Detect faces (dlib), crop them the way the model was trained, super-resolve them and "
                    "paste them back into the upscaled photo. Writes OUT/cropped_faces, OUT/restored_faces, "
                    "OUT/cmp and OUT/final. A video file (.mp4 .mov .m4v .mkv .avi .webm), named with -i or in "
                    "a folder, is restored frame by frame into OUT/final/NAME.mp4 with its frame rate and audio "
                    "(needs facesr[video]). Needs pip install 'facesr[faces]'.")
    p.add_argument("-i", "--input", required=True, nargs="+", help="image file(s) or folder(s)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("-m", "--model", default=None,
                   help="registry name or .safetensors model file (default: sparnethd-lite, the blind restoration "
                        "model for real photos; -m default: the x8 model for tiny clean faces)")
    p.add_argument("-s", "--upscale", type=positive_float, default=2.0,
                   help="upscaling factor of the whole photo (default 2)")
    p.add_argument("-w", "--weight", type=unit_float, default=1.0,
                   help="restoration strength in [0, 1]: each face is w * restored + (1 - w) * the photo's own "
                        "(default 1; lower keeps more of the photo, e.g. for faithful identity)")
    p.add_argument("--small-model", default=None, metavar="MODEL",
                   help="with a restoration model (-m sparnethd-lite): an x8 model that tiny faces go through "
                        "first (e.g. default)")
    p.add_argument("--small-below", type=positive_float, default=None, metavar="PX",
                   help="faces whose crop is below this many pixels use --small-model (default 1.5 x its input)")
    p.add_argument("--recursive", action="store_true", help="also search sub-folders")
    p.add_argument("--only-center-face", action="store_true", help="restore only the face nearest the centre")
    p.add_argument("--min-face-size", type=nonneg_int, default=0, metavar="PX",
                   help="ignore faces whose box is smaller than PX input pixels")
    p.add_argument("--det-threshold", type=float, default=0.0,
                   help="detector score threshold (default 0; raise it, e.g. 0.3, against false detections)")
    p.add_argument("--det-upsample", type=nonneg_int, default=None,
                   help="times the detector doubles the image first (default: 2 for photos up to 640 px, "
                        "finding faces from ~20 px; else 1, faces from ~40 px)")
    p.add_argument("--cnn", action="store_true", help="dlib's CNN detector (robust to pose, much slower)")
    p.add_argument("--aligned", action="store_true", help="inputs are already face crops: just super-resolve")
    p.add_argument("--draw-box", action="store_true", help="draw the detected boxes on final/ images")
    p.add_argument("--ext", default="auto",
                   help="final/ image extension: auto (as input), png or .png, jpg, ...")
    p.add_argument("--suffix", default=None,
                   help="suffix added to restored faces and final images (no / or ..)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default cpu)")
    add_backend_argument(p)
    p.add_argument("--batch-size", type=pos_int, default=16, help="faces per model batch (default 16)")
    p.add_argument("--skip-existing", action="store_true",
                   help="skip photos (and clips) whose final/ output exists; an interrupted clip continues "
                        "from its last finished 2-second segment")
    p.add_argument("--no-smooth", action="store_true",
                   help="videos: align each frame's faces as detected (no landmark smoothing over time)")
    p.add_argument("--no-color-match", action="store_true", help="paste restored faces without colour matching")
    p.add_argument("--no-fusion", action="store_true",
                   help="paste the model output for every face; by default faces larger than the model's input "
                        "keep the detail the photo has (model detail added above it) and faces at least the "
                        "model's output size are left as they are")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, notes or summary")
    p.set_defaults(fn=run)
    return p
