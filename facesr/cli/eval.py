"""``facesr eval -m MODEL ... -i DIR ... [--protocol P ...] [-o DIR]``: PSNR/SSIM tables of models and
bicubic on test folders, one table per folder."""
from __future__ import annotations

from ..errors import FacesrError
from .common import add_scoring_inputs, check_device, nonneg_int

DEVICE_HELP = "torch device to run the models on: cpu (default), cuda, cuda:N, mps or auto"


def add_parser(sub):
    p = sub.add_parser("eval", help="evaluate models and bicubic on test folders (PSNR/SSIM tables)",
                       description="Score models and the bicubic baseline on folders of HR faces. Each model "
                                   "gets LR faces made by its own LR synthesis; one table per folder (a line "
                                   "per method, PSNR/SSIM per protocol), printed and written to -o as .md, "
                                   ".csv and .json.")
    add_scoring_inputs(p, "one PSNR/SSIM column pair each", "outputs/eval",
                       "folder for the tables (default outputs/eval)")
    p.add_argument("--max-images", type=nonneg_int, default=0, metavar="N",
                   help="score only the first N faces of each folder (file-name order; default 0: all)")
    p.add_argument("--no-bicubic", action="store_true", help="leave the bicubic baseline rows out")
    p.add_argument("--device", default="cpu", help=DEVICE_HELP)
    p.add_argument("-q", "--quiet", action="store_true", help="no per-folder lines or progress bars: tables only")
    p.set_defaults(fn=run)
    return p


def run(args) -> int:
    from ..evaluation.evaluate import load_test_set, run_eval, save_results
    from ..inference.sr import resolve_model

    progress = not args.quiet
    device = check_device(args.device)
    models = {m: resolve_model(m, device) for m in args.model}
    hr_sizes = sorted({int(n.hr_size) for n in models.values()})
    if len(hr_sizes) > 1:
        raise FacesrError(f"models with different HR sizes cannot share one table: {hr_sizes}; evaluate them "
                          f"separately")
    hr_size = hr_sizes[0] if hr_sizes else 128
    for d in args.data:
        test = load_test_set(d, hr_size=hr_size, max_images=args.max_images, progress=progress)
        if progress:
            print(f"{test.name}: {len(test.hr)} faces, {len(models)} model(s), "
                  f"protocol(s) {', '.join(args.protocol)}", flush=True)
        res = run_eval(models, test, args.protocol, include_bicubic=not args.no_bicubic, progress=progress)
        saved = save_results(res, args.protocol, test.name, args.output)
        print(saved["markdown"], flush=True)
    if progress:
        print(f"tables written to {args.output}")
    return 0
