import csv


import facesr
from facesr.checkpoint import save_model
from facesr.evaluation.benchmark import run_benchmark
from facesr.evaluation.cost import count_flops, count_params

from conftest import HELEN, TINY_SPARNET


def test_flops_of_one_conv_and_the_resize_matmuls():
    m = facesr.build("sparnet", **TINY_SPARNET)
    f = count_flops(m)
    head = 2 * 128 * 128 * 3 * 4 * 9  # 3->4 conv at 128 px, 2 FLOPs per MAC
    assert f > head
    assert count_params(m) == sum(p.numel() for p in m.parameters())


def test_benchmark_writes_tables_grids_and_attention(tmp_path, face_folder):
    m = facesr.build("sparnet", **TINY_SPARNET).eval()
    p = save_model(m, tmp_path / "tiny.safetensors", m.facesr_meta)
    data = HELEN if HELEN.exists() else face_folder / "person_0"
    res = run_benchmark([str(p)], [str(data)], tmp_path / "out", max_images=4, face=True,
                        progress=False, command="facesr benchmark ...")
    out = tmp_path / "out"
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["method"] for r in rows] == ["Bicubic", str(p)]
    assert float(rows[0]["psnr"]) > 10 and rows[1]["params"] == str(count_params(m))
    md = (out / "results.md").read_text()
    assert md.startswith("```\nfacesr benchmark") and "| Bicubic |" in md
    assert list(out.glob("grid_*.png")) and list(out.glob("attention_*.png"))
    if not any("skipped" in n for n in res["notes"] if "landmark" in n):
        assert rows[0]["auc10"] != "" and 0 <= float(rows[0]["auc10"]) <= 100
        assert -1 <= float(rows[1]["identity"]) <= 1


def test_benchmark_models_with_different_lr_sizes_and_syntheses(tmp_path, face_folder):
    """One table: an x8 bicubic model, an x4 one and an x8 one trained on PFSR's bilinear cascade, each
    given LR made its own way, with a bicubic baseline per LR synthesis."""
    paths = []
    for name, kw, deg in (("x8", {}, None), ("x4", {"lr_size": 32}, None),
                          ("cascade", {}, {"kind": "bilinear_cascade"})):
        m = facesr.build("sparnet", **TINY_SPARNET, **kw).eval()
        meta = {**m.facesr_meta, **({"degradation": deg} if deg else {})}
        paths.append(str(save_model(m, tmp_path / f"{name}.safetensors", meta)))
    run_benchmark(paths, [str(face_folder / "person_1")], tmp_path / "out", face=False, cost=False,
                  progress=False)
    rows = list(csv.DictReader(open(tmp_path / "out" / "results.csv")))
    got = [(r["method"], r["lr"]) for r in rows]
    assert got == [("Bicubic (PIL bicubic 128->16)", "PIL bicubic 128->16"),
                   ("Bicubic (PIL bicubic 128->32)", "PIL bicubic 128->32"),
                   ("Bicubic (bilinear_cascade)", "PIL bilinear cascade 128->64->32->16"),
                   (paths[0], "PIL bicubic 128->16"), (paths[1], "PIL bicubic 128->32"),
                   (paths[2], "PIL bilinear cascade 128->64->32->16")]
    psnr = {r["method"]: float(r["psnr"]) for r in rows}
    assert psnr["Bicubic (PIL bicubic 128->32)"] > psnr["Bicubic (PIL bicubic 128->16)"] + 1
    assert "| Bicubic (bilinear_cascade) | PIL bilinear cascade 128->64->32->16 |" in \
        (tmp_path / "out" / "results.md").read_text()


def test_grid_labels_are_shortened_to_their_column():
    from PIL import Image, ImageDraw

    from facesr.inference.visual import fit_label

    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    path = "runs/pfsr_lfw_t2_pixel_wgan/final.safetensors"
    short = fit_label(path, 126)
    assert draw.textlength(short) <= 126 and short.endswith("pixel_wgan/final")  # run and file survive
    assert fit_label("pfsr-lite", 126) == "pfsr-lite"  # labels that fit are left alone
    word = "a_model_name_far_too_long_for_one_column_of_the_grid"
    assert draw.textlength(fit_label(word, 60)) <= 60 and fit_label(word, 60).endswith("grid")


def test_plots_without_cost_skip_the_cost_plot(tmp_path):
    """--no-cost on two folders: no GFLOPs to plot (was a matplotlib log-scale traceback)."""
    import pytest

    pytest.importorskip("matplotlib")
    from facesr.evaluation.benchmark import _plots

    rows = [{"dataset": ds, "method": m, "psnr": p, "gflops": None}
            for ds in ("a", "b") for m, p in (("Bicubic", 22.0), ("x", 24.0))]
    made = _plots(rows, {"a": {"x": [23.0, 25.0]}, "b": {"x": [24.0]}}, tmp_path)
    assert made == ["psnr_hist_a.png", "psnr_hist_b.png"]
    assert not (tmp_path / "psnr_vs_gflops.png").exists() and (tmp_path / "psnr_hist_b.png").is_file()
    rows[1]["gflops"] = 1.5
    assert "psnr_vs_gflops.png" in _plots(rows, {}, tmp_path)
