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
