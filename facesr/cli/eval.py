"""``facesr eval -m MODEL ... --data DIR ... [--protocol P ...] [-o DIR]``: PSNR/SSIM tables of models
and bicubic on test folders, one table per folder."""
from __future__ import annotations

from ..errors import FacesrError


def add_parser(sub):
    p = sub.add_parser("eval", help="evaluate models and bicubic on test folders")
    p.add_argument("-m", "--model", nargs="+", default=["default"])
    p.add_argument("--data", nargs="+", required=True, help="folders of HR faces (or with an HR/ sub-folder)")
    p.add_argument("--protocol", nargs="+", default=["facesr"], help="facesr, dic, sparnet, pfsr, kdfsr, ...")
    p.add_argument("-o", "--output", default="outputs/eval")
    p.add_argument("--max-images", type=int, default=0)
    p.add_argument("--no-bicubic", action="store_true")
    p.add_argument("--device", default="cpu")
    p.set_defaults(fn=run)
    return p


def run(args) -> int:
    from ..evaluation.evaluate import load_test_set, run_eval, save_results
    from ..inference.sr import resolve_model

    models = {m: resolve_model(m, args.device) for m in args.model}
    hr_sizes = sorted({int(n.hr_size) for n in models.values()})
    if len(hr_sizes) > 1:
        raise FacesrError(f"models with different HR sizes cannot share one table: {hr_sizes}; evaluate them "
                          f"separately")
    hr_size = hr_sizes[0] if hr_sizes else 128
    for d in args.data:
        test = load_test_set(d, hr_size=hr_size, max_images=args.max_images)
        print(f"{test.name}: {len(test.hr)} faces", flush=True)
        res = run_eval(models, test, args.protocol, include_bicubic=not args.no_bicubic, progress=True)
        saved = save_results(res, args.protocol, test.name, args.output)
        print(saved["markdown"])
    print(f"tables written to {args.output}")
    return 0
