"""The ``facesr`` command line.

    facesr models                                  list registry models
    facesr sr -i IN -o OUT [-m MODEL]              super-resolve face crops (file or folder)
    facesr enhance -i PHOTO -o OUT [-s 2]          detect, align, super-resolve and paste back every face
    facesr demo [-o DIR]                           super-resolve the bundled sample face
    facesr train -c CONFIG [--resume] [key=value ...]
    facesr data -c CONFIG                          build a config's decoded data caches
    facesr eval -m MODEL --data DIR [DIR ...] [--protocol P ...] [-o DIR]
    facesr benchmark -m MODEL [MODEL ...] --data DIR [DIR ...] [--protocol P] [-o DIR]
    facesr export -m MODEL -o FILE.onnx            ONNX export checked against ONNX Runtime

Errors a user can fix are printed as one line (``facesr: error: ...``) with exit status 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import FacesrError

ASSETS = Path(__file__).resolve().parent / "assets"
SAMPLE_LR = ASSETS / "sample_face_lr16.png"
SAMPLE_HR = ASSETS / "sample_face_hr128.png"
SAMPLE_PHOTO = ASSETS / "sample_photo_small.png"  # NASA public-domain astronaut photo (scikit-image), 112 px


def _progress(it, total=None, desc="", unit="it", enabled=True):
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc=desc, unit=unit, dynamic_ncols=True)


# ---------------------------------------------------------------- models
def cmd_models(args) -> int:
    from .registry import list_aliases, list_presets, weights_path

    presets = list_presets()
    aliases = list_aliases()
    rows = []
    for p in presets:
        w = weights_path(p)
        shipped = "yes" if (w is not None and w.is_file()) else "-"
        params = ""
        if args.params:
            from .registry import build

            params = f"{sum(t.numel() for t in build(p.name).parameters()):,}"
        al = ",".join(a for a, t in aliases.items() if t == p.name)
        rows.append((p.name + (f" ({al})" if al else ""), p.arch, f"{p.lr_size}->{p.hr_size}", shipped, params,
                     p.description))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print(f"{'name':<{w0}}  {'arch':<{w1}} {'size':<9} {'weights':<7} {'params' if args.params else '':<11} description")
    for r in rows:
        print(f"{r[0]:<{w0}}  {r[1]:<{w1}} {r[2]:<9} {r[3]:<7} {r[4]:<11} {r[5]}")
    return 0


# ---------------------------------------------------------------- sr
def _out_path(src: Path, in_root: Path | None, out: Path, ext: str | None) -> Path:
    rel = src.relative_to(in_root) if in_root is not None else Path(src.name)
    p = out / rel
    return p.with_suffix(ext) if ext else p


def cmd_sr(args) -> int:
    from .data.io import list_images, read_image, write_image
    from .data.resize import pil_resize
    from .inference.sr import resolve_model, super_resolve, to_lr
    from .inference.visual import comparison_grid

    src = Path(args.input)
    files = list_images(src, recursive=args.recursive)
    if not files:
        raise FacesrError(f"no images found in {src}")
    from .inference.runtime import inference_model

    model = inference_model(resolve_model(args.model, args.device), args.backend)
    single_file_out = src.is_file() and Path(args.output).suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp",
                                                                            ".webp", ".tif", ".tiff")
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
                dst = Path(args.output) if single_file_out else _out_path(f, in_root, out_dir, args.ext)
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


def cmd_demo(args) -> int:
    """Enhance the bundled small photo (x4), then super-resolve the bundled 16x16 face with a comparison."""
    from .inference.enhance import enhance_paths

    summary = enhance_paths([SAMPLE_PHOTO], Path(args.output) / "enhance", model=args.model, upscale=4,
                            device=args.device, progress=False)
    print(f"enhanced {SAMPLE_PHOTO.name} (x4): {summary.faces} face(s) restored -> "
          f"{Path(args.output) / 'enhance' / 'final'}")
    return _demo_face(args)


def _demo_face(args) -> int:
    from .data.io import read_image, write_image
    from .data.resize import pil_resize
    from .inference.sr import resolve_model, super_resolve
    from .inference.visual import comparison_grid

    out = Path(args.output)
    model = resolve_model(args.model, args.device)
    lr = read_image(SAMPLE_LR)
    hr = read_image(SAMPLE_HR) if SAMPLE_HR.is_file() else None
    sr = super_resolve([lr], model)[0]
    write_image(out / "sample_sr.png", sr)
    row = [lr, pil_resize(lr, model.hr_size, "bicubic"), sr] + ([hr] if hr is not None else [])
    grid = comparison_grid([row], ["LR 16x16", "bicubic", f"facesr ({args.model})", "original"][:len(row)],
                           cell=model.hr_size)
    write_image(out / "sample_comparison.png", grid)
    msg = f"wrote {out / 'sample_sr.png'} and {out / 'sample_comparison.png'}"
    if hr is not None:
        from .metrics import evaluate

        m_b = evaluate([row[1]], [hr])
        m_s = evaluate([sr], [hr])
        msg += (f"\nPSNR/SSIM vs the original ({'facesr'} protocol): bicubic {m_b['psnr']:.2f} dB/{m_b['ssim']:.3f}, "
                f"{args.model} {m_s['psnr']:.2f} dB/{m_s['ssim']:.3f}")
    print(msg)
    return 0


# ---------------------------------------------------------------- train / data
def cmd_train(args) -> int:
    from .training.config import load_config
    from .training.trainer import make_trainer

    cfg = load_config(args.config, args.overrides)
    from .training.distributed import shutdown

    tr = make_trainer(cfg, resume=args.resume, progress=not args.quiet)
    res = tr.fit(steps=args.steps)
    shutdown(tr.dist)
    if not tr.dist.is_main:
        return 0
    print(f"run {tr.run_dir}: step {tr.step}" + (f", val PSNR {res['psnr']:.3f} dB SSIM {res['ssim']:.4f}"
                                                 if res else ""))
    return 0


def cmd_data(args) -> int:
    from .registry import get_preset
    from .training.config import load_config
    from .data.sources import hr_array

    cfg = load_config(args.config, args.overrides)
    hr_size = get_preset(cfg["model"]["name"]).hr_size
    for part in ("train", "val"):
        d = cfg["data"][part]
        if d.get("root") or d.get("cache"):
            arr = hr_array(d, hr_size, progress=True)
            print(f"{part}: {len(arr)} faces of {arr.shape[1]}x{arr.shape[2]} -> {d.get('cache') or '(no cache)'}")
    return 0


def cmd_plot(args) -> int:
    from pathlib import Path

    import yaml

    from .training.plots import plot_log

    run = Path(args.input)
    bs = args.batch_size
    cfg_file = (run if run.is_dir() else run.parent) / "config.yaml"
    if bs is None and cfg_file.is_file():  # the run's own config: count images seen on the top axis
        bs = (yaml.safe_load(cfg_file.read_text()) or {}).get("train", {}).get("batch_size")
    out = plot_log(run, args.output, title=args.title or run.name, batch_size=bs)
    print(f"wrote {out}")
    return 0


# ---------------------------------------------------------------- eval
def cmd_eval(args) -> int:
    from .evaluation.evaluate import load_test_set, run_eval, save_results
    from .inference.sr import resolve_model

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


# ---------------------------------------------------------------- benchmark
def cmd_benchmark(args) -> int:
    import shlex

    from .evaluation.benchmark import run_benchmark

    command = "facesr benchmark " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if args.record_command else None
    res = run_benchmark(args.model, args.data, args.output, protocol=args.protocol, face=not args.no_face,
                        cost=not args.no_cost, max_images=args.max_images, device=args.device, command=command)
    print(res["markdown"])
    print(f"results, grids, attention maps and plots written to {args.output}")
    return 0


# ---------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="facesr", description="Face super-resolution toolkit")
    ap.add_argument("--version", action="version", version=f"facesr {__import__('facesr').__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("models", help="list registry models")
    p.add_argument("--params", action="store_true", help="also count parameters (builds every model)")
    p.set_defaults(fn=cmd_models)

    from .inference.enhance_cli import _pos_int, add_backend_argument

    p = sub.add_parser("sr", help="super-resolve face crops (a file or a folder)")
    p.add_argument("-i", "--input", required=True)
    p.add_argument("-o", "--output", required=True, help="output folder (or file, for one input file)")
    p.add_argument("-m", "--model", default="default", help="registry name or .safetensors file")
    p.add_argument("--device", default="cpu")
    p.add_argument("--recursive", action="store_true")
    p.add_argument("--compare", action="store_true", help="also write NAME_cmp.png: LR | bicubic | SR")
    p.add_argument("--ext", default=None, help="output extension, e.g. .png (default: same as input)")
    p.add_argument("--batch-size", type=_pos_int, default=16, help="faces per model batch (default 16)")
    add_backend_argument(p)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(fn=cmd_sr)

    p = sub.add_parser("demo", help="super-resolve the bundled sample face and write a comparison")
    p.add_argument("-o", "--output", default="demo_out")
    p.add_argument("-m", "--model", default="default")
    p.add_argument("--device", default="cpu")
    p.set_defaults(fn=cmd_demo)

    p = sub.add_parser("train", help="train from a YAML config")
    p.add_argument("-c", "--config", required=True, help="config file or bundled config name")
    p.add_argument("--resume", action="store_true", help="continue the run in OUTPUT_DIR/NAME")
    p.add_argument("--steps", type=int, default=None, help="stop after this many more steps")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.steps=500")
    p.set_defaults(fn=cmd_train)

    p = sub.add_parser("plot", help="plot a training run's loss curve and validation PSNR")
    p.add_argument("-i", "--input", required=True, help="run folder (runs/NAME) or its log.jsonl")
    p.add_argument("-o", "--output", required=True, help="PNG file to write")
    p.add_argument("--title", default=None)
    p.add_argument("--batch-size", type=_pos_int, default=None,
                   help="global batch, to count images seen (default: from the run's config.yaml)")
    p.set_defaults(fn=cmd_plot)

    p = sub.add_parser("data", help="build the decoded data caches a config uses")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("overrides", nargs="*")
    p.set_defaults(fn=cmd_data)

    p = sub.add_parser("eval", help="evaluate models and bicubic on test folders")
    p.add_argument("-m", "--model", nargs="+", default=["default"])
    p.add_argument("--data", nargs="+", required=True, help="folders of HR faces (or with an HR/ sub-folder)")
    p.add_argument("--protocol", nargs="+", default=["facesr"], help="facesr, dic, sparnet, pfsr, kdfsr, ...")
    p.add_argument("-o", "--output", default="outputs/eval")
    p.add_argument("--max-images", type=int, default=0)
    p.add_argument("--no-bicubic", action="store_true")
    p.add_argument("--device", default="cpu")
    p.set_defaults(fn=cmd_eval)

    p = sub.add_parser("benchmark", help="all methods on one protocol: table, grids, attention maps, plots")
    p.add_argument("-m", "--model", nargs="+", default=["default"])
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--protocol", default="facesr")
    p.add_argument("-o", "--output", default="outputs/benchmark")
    p.add_argument("--max-images", type=int, default=0)
    p.add_argument("--no-face", action="store_true", help="skip landmark/identity metrics (dlib)")
    p.add_argument("--no-cost", action="store_true", help="skip params/FLOPs/latency/memory")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-record-command", dest="record_command", action="store_false")
    p.set_defaults(fn=cmd_benchmark)

    from .inference.enhance_cli import add_enhance_parser
    from .inference.export_cli import add_export_parser

    add_enhance_parser(sub)
    add_export_parser(sub)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except FacesrError as e:
        print(f"facesr: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("facesr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
