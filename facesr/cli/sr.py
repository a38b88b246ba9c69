"""``facesr sr -i IN -o OUT [-m MODEL]``: super-resolve face crops (a file or a folder).

Exit status 0 when every file was written, 1 when any file failed (one line each on stderr).
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import FacesrError
from .common import add_backend_argument, pos_int

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def add_parser(sub):
    p = sub.add_parser("sr", help="super-resolve face crops (a file or a folder)")
    p.add_argument("-i", "--input", required=True)
    p.add_argument("-o", "--output", required=True, help="output folder (or file, for one input file)")
    p.add_argument("-m", "--model", default="default", help="registry name or .safetensors file")
    p.add_argument("--device", default="cpu")
    p.add_argument("--recursive", action="store_true")
    p.add_argument("--compare", action="store_true", help="also write NAME_cmp.png: LR | bicubic | SR")
    p.add_argument("--ext", default=None, help="output extension, e.g. .png (default: same as input)")
    p.add_argument("--batch-size", type=pos_int, default=16, help="faces per model batch (default 16)")
    add_backend_argument(p)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(fn=run)
    return p


def out_path(src: Path, in_root: Path | None, out: Path, ext: str | None) -> Path:
    """Where the output of ``src`` goes: its path relative to ``in_root`` (or its name) under ``out``."""
    rel = src.relative_to(in_root) if in_root is not None else Path(src.name)
    p = out / rel
    return p.with_suffix(ext) if ext else p


def run(args) -> int:
    from ..data.io import list_images, read_image, write_image
    from ..data.resize import pil_resize
    from ..deploy import inference_model
    from ..inference.sr import resolve_model, super_resolve, to_lr
    from ..inference.visual import comparison_grid

    src = Path(args.input)
    files = list_images(src, recursive=args.recursive)
    if not files:
        raise FacesrError(f"no images found in {src}")
    model = inference_model(resolve_model(args.model, args.device), args.backend)
    single_file_out = src.is_file() and Path(args.output).suffix.lower() in IMAGE_SUFFIXES
    out_dir = Path(args.output).parent if single_file_out else Path(args.output)
    in_root = src if src.is_dir() else None
    done = failed = 0
    bs = max(1, int(args.batch_size))
    bar = None
    if len(files) > 1 and not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(files), desc="super-resolving", unit="img", dynamic_ncols=True)
    for start in range(0, len(files), bs):  # batches of faces through the model; a bad file skips alone
        batch = []
        for f in files[start:start + bs]:
            try:
                batch.append((f, read_image(f)))
            except FacesrError as e:
                failed += 1
                print(f"facesr: skipped {f}: {e}", file=sys.stderr)
        srs = super_resolve([img for _, img in batch], model, batch_size=bs) if batch else []
        for (f, img), sr in zip(batch, srs):
            try:
                dst = Path(args.output) if single_file_out else out_path(f, in_root, out_dir, args.ext)
                write_image(dst, sr)
                if args.compare:
                    lr = to_lr(img, model.lr_size)
                    grid = comparison_grid([[lr, pil_resize(lr, model.hr_size, "bicubic"), sr]],
                                           ["input (LR)", "bicubic", "facesr"], cell=model.hr_size)
                    write_image(dst.with_name(dst.stem + "_cmp.png"), grid)
                done += 1
            except FacesrError as e:
                failed += 1
                print(f"facesr: skipped {f}: {e}", file=sys.stderr)
        if bar is not None:
            bar.update(len(files[start:start + bs]))
    if bar is not None:
        bar.close()
    if not args.quiet:
        print(f"{done} image(s) written to {out_dir}" + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0
