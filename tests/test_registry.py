"""Every preset builds, and its LR synthesis, face crop and bundled config resolve; model packages are found
by the registry itself."""
import subprocess
import sys

import numpy as np
import pytest

import facesr
from facesr import registry
from facesr.data.degrade import make_degradation
from facesr.enhance.align import CROP_SPECS, apply_affine, crop_transform

PRESETS = [p.name for p in registry.list_presets()]


def _landmarks(cx=200.0, cy=180.0, d=40.0) -> np.ndarray:
    """68 points of an upright face: eye rings (36-47), nose tip (30), mouth corners (48, 54), the rest on
    an ellipse around them."""
    L = np.stack([cx + 0.9 * d * np.cos(np.arange(68.0)), cy + 0.5 * d + d * np.sin(np.arange(68.0))], 1)
    ang = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    for k in range(6):
        L[36 + k] = (cx - d / 2 + 0.1 * d * np.cos(ang[k]), cy + 0.1 * d * np.sin(ang[k]))
        L[42 + k] = (cx + d / 2 + 0.1 * d * np.cos(ang[k]), cy + 0.1 * d * np.sin(ang[k]))
    L[30] = (cx, cy + 0.55 * d)
    L[48], L[54] = (cx - 0.4 * d, cy + 1.05 * d), (cx + 0.4 * d, cy + 1.05 * d)
    return L


def test_every_model_package_is_found_and_no_central_list():
    assert PRESETS and "facesr.models.sparnet" in registry.model_packages()
    assert not any(m.endswith((".common", ".perturb")) for m in registry.model_packages())


@pytest.mark.parametrize("name", PRESETS)
def test_preset_builds_and_its_synthesis_crop_and_config_resolve(name):
    from facesr.models.common import SRModel

    p = registry.get_preset(name)
    model = facesr.build(name)
    assert model.facesr_meta["preset"] == name
    if isinstance(model, SRModel):  # (a GAN recipe's discriminator is a preset too, without LR/HR sizes)
        assert (model.lr_size, model.hr_size) == (p.lr_size, p.hr_size)

    # LR synthesis: a face at the preset's HR size becomes one at its LR size
    deg = make_degradation(p.degradation, lr_size=p.lr_size)
    hr = np.random.default_rng(0).integers(0, 256, (p.hr_size, p.hr_size, 3), dtype=np.uint8)
    assert deg(hr, np.random.default_rng(1)).shape == (p.lr_size, p.lr_size, 3)

    # face crop: a known spec (name or dict) that maps a face's eyes into the crop
    assert isinstance(p.crop, dict) or p.crop in CROP_SPECS
    L = _landmarks()
    eyes = apply_affine(crop_transform(L, p.crop, p.hr_size), L[36:48].mean(0, keepdims=True))[0]
    assert np.all((eyes > 0) & (eyes < p.hr_size))

    # bundled config: loads and trains this preset
    if p.config:
        from facesr.training.config import load_config

        assert load_config(p.config)["model"]["name"] == name


def test_every_bundled_config_loads_and_names_a_preset():
    """Configs not attached to a preset (ablations, variants) are checked too: schema, recipe, model."""
    from facesr.registry import get_preset
    from facesr.training.config import CONFIG_DIR, load_config

    names = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    assert {"sparnethd_lite", "sparnethd_lite_l1", "sparnethd_lite_vgg", "sparnethd_lite_gan",
            "sparnethd_lite_full"} <= set(names)
    for n in names:
        cfg = load_config(n)
        get_preset(cfg["model"]["name"])
    # the lite ablation rows differ from the shipped recipe only in their losses and budget
    rows = {n: load_config(n) for n in ("sparnethd_lite_l1", "sparnethd_lite_vgg", "sparnethd_lite_gan",
                                        "sparnethd_lite_full")}
    assert rows["sparnethd_lite_l1"]["recipe"] == rows["sparnethd_lite_vgg"]["recipe"] == "sr"
    assert rows["sparnethd_lite_full"]["recipe"] == rows["sparnethd_lite_gan"]["recipe"] == "gan"
    assert rows["sparnethd_lite_gan"]["train"]["losses"]["perceptual"]["fallback"] == "off"
    assert "perceptual" not in rows["sparnethd_lite_l1"]["train"]["losses"]
    assert rows["sparnethd_lite_vgg"]["train"]["losses"]["perceptual"]["fallback"] == "random"
    assert len({r["train"]["steps"] for r in rows.values()}) == 1
    # the shipped model's config is the L1 row with its own optimiser settings and budget, on the same data
    ship, l1 = load_config("sparnethd_lite"), rows["sparnethd_lite_l1"]
    assert ship["recipe"] == "sr" and ship["train"]["losses"] == l1["train"]["losses"] == {"l1": 100.0}
    assert ship["data"] == l1["data"] and ship["model"]["name"] == l1["model"]["name"]
    assert all(r["model"]["init"] == "sparnethd-lite" for r in rows.values())  # fine-tuned from the shipped model


def test_lookup_imports_no_torch():
    code = ("import sys, facesr.registry as r; r.list_presets(); r.get_preset('default'); "
            "assert 'torch' not in sys.modules, 'torch imported by the registry'; "
            "from facesr.cli import main; main(['models']); "
            "assert 'torch' not in sys.modules, 'torch imported by facesr models'")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "sparnet-tiny (default)" in res.stdout


def test_sub_packages_register_themselves(tmp_path, monkeypatch):
    """A new package under facesr/models registers on the first lookup; plain modules there are not
    imported."""
    import facesr.models

    pkg = tmp_path / "toypaper"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from facesr.registry import Preset, register_arch, register_preset\n"
        "register_arch('toy-arch')(lambda **kw: None)\n"
        "register_preset(Preset('toy-preset', 'toy-arch', description='registered by its package'))\n")
    (tmp_path / "toyhelper.py").write_text("raise RuntimeError('a helper module was imported')\n")
    for full in [m for m in registry.model_packages() if m in sys.modules]:  # imported afresh, then restored
        monkeypatch.setattr(facesr.models, full.rsplit(".", 1)[1], sys.modules[full])
        monkeypatch.delitem(sys.modules, full)
    monkeypatch.setattr(facesr.models, "__path__", [*facesr.models.__path__, str(tmp_path)])
    monkeypatch.setattr(registry, "_ARCHS", {})
    monkeypatch.setattr(registry, "_PRESETS", {})
    monkeypatch.setattr(registry, "_ALIASES", {})
    monkeypatch.setattr(registry, "_loaded", False)
    try:
        assert "facesr.models.toypaper" in registry.model_packages()
        assert registry.get_preset("toy-preset").description == "registered by its package"
        assert "sparnet" in [p.name for p in registry.list_presets()]  # the real packages registered again
        assert "facesr.models.toyhelper" not in sys.modules
    finally:
        sys.modules.pop("facesr.models.toypaper", None)
        if hasattr(facesr.models, "toypaper"):
            delattr(facesr.models, "toypaper")
