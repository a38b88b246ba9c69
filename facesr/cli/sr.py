"""``facesr sr -i IN -o OUT [-m MODEL]``: super-resolve face crops (a file or a folder).

Every output name is chosen before any work: names are unique (a second ``a`` gets its input's
extension added, ``a_png``, then a counter), stay inside ``-o``, and never resolve to an input (such a
run is refused). Exit status 0 when every file was written, 1 when any file failed (one line each on
stderr), 2 for errors that stop the run (one line).
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ConfigError, FacesrError
from .common import add_backend_argument, check_device, check_output_folder, pos_int

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
LARGE_INPUT_FACTOR = 4  # an input side above this many times the model's LR size draws a warning


def add_parser(sub):
    p = sub.add_parser("sr", help="super-resolve face crops (a file or a folder)")
    p.add_argument("-i", "--input", required=True, nargs="+",
                   help="face crop image file(s) and/or folder(s) of them")
    p.add_argument("-o", "--output", required=True, help="output folder (or file, for one input file)")
    p.add_argument("-m", "--model", default="default", help="registry name or .safetensors file")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default cpu)")
    p.add_argument("--recursive", action="store_true", help="also search sub-folders of folder inputs")
    p.add_argument("--compare", action="store_true", help="also write NAME_cmp.png: LR | bicubic | SR")
    p.add_argument("--ext", default=None, help="output extension, png or .png, jpg, ... (default: the input's)")
    p.add_argument("--batch-size", type=pos_int, default=16, help="faces per model batch (default 16)")
    add_backend_argument(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary line")
    p.set_defaults(fn=run)
    return p


def plan_outputs(files, roots, out: Path, ext: str | None, compare: bool,
                 say=None) -> list[tuple[Path, Path, Path | None]]:
    """``(input, output, comparison or None)`` per file, every name unique (compared case-insensitively,
    comparison images included): the file's path relative to its root in ``roots`` (one per file: the
    input folder it was found in, or None for a file given by name), ``NAME.EXT``, else
    ``NAME_<input ext>.EXT``, else a counter. ``ext``:
    the output extension (``.png``), None for the input's own (``.png`` with one ``say`` note when
    facesr cannot write the input's format)."""
    from ..data.io import WRITE_EXTENSIONS

    plan, used, noted = [], set(), set()
    for f, in_root in zip(files, roots):
        rel = f.relative_to(in_root) if in_root is not None else Path(f.name)
        e = ext
        if e is None:
            e = f.suffix if f.suffix.lower() in WRITE_EXTENSIONS else ".png"
            if e != f.suffix and f.suffix.lower() not in noted:
                noted.add(f.suffix.lower())
                if say is not None:
                    say(f"facesr: note: facesr cannot write {f.suffix or 'extension-less'} files: "
                        f"writing .png instead")
        base = stem = rel.with_suffix("").as_posix() if rel.suffix else rel.as_posix()

        def names(s):
            return [s + e] + ([s + "_cmp.png"] if compare else [])

        k = 2
        while any(n.lower() in used for n in names(stem)):
            if stem == base:
                stem = f"{base}_{f.suffix.lstrip('.').lower() or 'noext'}"
            else:
                stem, k = f"{base}_{f.suffix.lstrip('.').lower() or 'noext'}_{k}", k + 1
        used.update(n.lower() for n in names(stem))
        plan.append((f, out / (stem + e), out / (stem + "_cmp.png") if compare else None))
    return plan


def run(args) -> int:
    from PIL import Image

    from ..data.io import list_images, output_ext, read_image, write_image
    from ..data.resize import pil_resize
    from ..deploy import inference_model
    from ..fsutil import real
    from ..inference.sr import resolve_model, super_resolve, to_lr
    from ..inference.visual import comparison_grid

    def say(msg: str) -> None:
        (bar.write(msg, file=sys.stderr) if bar is not None else print(msg, file=sys.stderr))

    bar = None
    device = check_device(args.device)
    ext = output_ext(args.ext) if args.ext is not None else None
    sources = [Path(x) for x in args.input]
    failed = 0

    def skipped(p, why):
        nonlocal failed
        failed += 1
        say(f"facesr: skipped '{p}': {why}")

    out_arg = Path(args.output)
    single_file_out = (len(sources) == 1 and sources[0].is_file() and not out_arg.is_dir()
                       and out_arg.suffix.lower() in set(IMAGE_SUFFIXES) | set(Image.registered_extensions()))
    if single_file_out:
        output_ext(out_arg.suffix, "-o")  # refuse an output file facesr cannot write, before any work
    else:
        check_output_folder(out_arg)
    files, roots = [], []
    for src in sources:
        found = list_images(src, recursive=args.recursive, on_skip=skipped)
        files += found
        roots += [src if src.is_dir() else None] * len(found)
    if not files:
        raise FacesrError(f"no images found in {', '.join(map(str, sources))}")
    out_dir = out_arg.parent if single_file_out else out_arg
    if single_file_out:
        plan = [(files[0], out_arg, out_arg.with_name(out_arg.stem + "_cmp.png") if args.compare else None)]
    else:
        plan = plan_outputs(files, roots, out_dir, ext, args.compare, say)
    inputs = {real(f): f for f in files}
    for _, dst, cmp in plan:
        for p in (dst, cmp):
            if p is not None and real(p) in inputs:
                raise ConfigError(f"the output '{p}' would replace the input '{inputs[real(p)]}': "
                                  f"choose another -o" + ("" if single_file_out else " or --ext"))

    model = inference_model(resolve_model(args.model, device), args.backend)
    lr_size = int(model.lr_size)
    done = 0
    warned_large = False
    bs = max(1, int(args.batch_size))
    if len(plan) > 1 and not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(plan), desc="super-resolving", unit="img", dynamic_ncols=True)
    for start in range(0, len(plan), bs):  # batches of faces through the model; a bad file skips alone
        batch = []
        for f, dst, cmp in plan[start:start + bs]:
            try:
                batch.append((f, dst, cmp, read_image(f)))
            except FacesrError as e:
                failed += 1
                say(f"facesr: skipped {f}: {e}")
        for f, _, _, img in batch:
            if not warned_large and max(img.shape[:2]) > LARGE_INPUT_FACTOR * lr_size:
                warned_large = True
                say(f"facesr: warning: '{f}' is {img.shape[1]}x{img.shape[0]} px, much larger than the model's "
                    f"{lr_size} px input: it is shrunk to {lr_size} px first, so the {model.hr_size} px result "
                    f"holds less detail than the input (sr is for tiny faces; for larger faces use "
                    f"`facesr enhance` on the photo, which keeps a large face's own detail, or a face "
                    f"restoration model)")
        srs = super_resolve([b[3] for b in batch], model, batch_size=bs) if batch else []
        for (f, dst, cmp, img), sr in zip(batch, srs):
            try:
                write_image(dst, sr)
                if cmp is not None:
                    lr = to_lr(img, lr_size)
                    h, w = img.shape[:2]
                    first = "input (LR)" if (h, w) == (lr_size, lr_size) else f"input {w}x{h} -> LR {lr_size}px"
                    grid = comparison_grid([[lr, pil_resize(lr, model.hr_size, "bicubic"), sr]],
                                           [first, "bicubic", "facesr"], cell=model.hr_size)
                    write_image(cmp, grid)
                done += 1
            except FacesrError as e:
                failed += 1
                say(f"facesr: skipped {f}: {e}")
        if bar is not None:
            bar.update(len(plan[start:start + bs]))
    if bar is not None:
        bar.close()
    if not args.quiet:
        print(f"{done} image(s) written to {out_dir}" + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0
