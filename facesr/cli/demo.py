"""``facesr demo [-o DIR]``: enhance the bundled small photo (x4), then super-resolve the bundled 16x16
face and write a comparison with bicubic and the original."""
from __future__ import annotations

from pathlib import Path

from .common import SAMPLE_HR, SAMPLE_LR, SAMPLE_PHOTO
from .eval import DEVICE_HELP


def add_parser(sub):
    p = sub.add_parser("demo", help="enhance the bundled sample photo (x4) and super-resolve the bundled face",
                       description="Try facesr on its bundled samples: enhance the small sample photo x4 "
                                   "(detect, align, super-resolve and paste back its face: OUT/enhance/, as "
                                   "`facesr enhance` does; needs dlib), then super-resolve the bundled 16x16 "
                                   "face and write OUT/sample_sr.png and OUT/sample_comparison.png (LR | bicubic "
                                   "| facesr | original), with PSNR/SSIM against the original.")
    p.add_argument("-o", "--output", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("-m", "--model", default="default",
                   help="model for the 16x16 face: registry name or .safetensors file (default: default)")
    p.add_argument("--enhance-model", default=None,
                   help="model for the photo (default: enhance's, facesr.enhance.DEFAULT_MODEL)")
    p.add_argument("--device", default="cpu", help=DEVICE_HELP)
    p.set_defaults(fn=run)
    return p


def run(args) -> int:
    from ..enhance import DEFAULT_MODEL, enhance_paths
    from .common import check_device

    args.device = check_device(args.device)
    summary = enhance_paths([SAMPLE_PHOTO], Path(args.output) / "enhance", model=args.enhance_model or DEFAULT_MODEL,
                            upscale=4,
                            device=args.device, progress=False)
    print(f"enhanced {SAMPLE_PHOTO.name} (x4): {summary.faces} face(s) restored -> "
          f"{Path(args.output) / 'enhance' / 'final'}")
    return demo_face(args.output, args.model, args.device)


def demo_face(output, model_name: str, device: str) -> int:
    """Super-resolve the bundled 16x16 face into ``output``: ``sample_sr.png`` and ``sample_comparison.png``."""
    from ..data.io import read_image, write_image
    from ..data.resize import pil_resize
    from ..inference.sr import resolve_model, super_resolve
    from ..inference.visual import comparison_grid

    out = Path(output)
    model = resolve_model(model_name, device)
    lr = read_image(SAMPLE_LR)
    hr = read_image(SAMPLE_HR) if SAMPLE_HR.is_file() else None
    sr = super_resolve([lr], model)[0]
    write_image(out / "sample_sr.png", sr)
    row = [lr, pil_resize(lr, model.hr_size, "bicubic"), sr] + ([hr] if hr is not None else [])
    grid = comparison_grid([row], ["LR 16x16", "bicubic", f"facesr ({model_name})", "original"][:len(row)],
                           cell=model.hr_size)
    write_image(out / "sample_comparison.png", grid)
    msg = f"wrote {out / 'sample_sr.png'} and {out / 'sample_comparison.png'}"
    if hr is not None:
        from ..metrics import evaluate

        m_b = evaluate([row[1]], [hr])
        m_s = evaluate([sr], [hr])
        msg += (f"\nPSNR/SSIM vs the original (facesr protocol): bicubic {m_b['psnr']:.2f} dB/{m_b['ssim']:.3f}, "
                f"{model_name} {m_s['psnr']:.2f} dB/{m_s['ssim']:.3f}")
    print(msg)
    return 0
