"""facesr.losses: registry, pixel, GAN, VGG perceptual/Gram, face-prior, distillation losses."""
import hashlib
import json
import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from facesr.errors import ConfigError
from facesr.losses import LOSSES, PIXEL_LOSSES, build_loss, feature_matching, gradient_penalty, kl_normal
from facesr.losses.gan import GANLoss
from facesr.losses.perceptual import PRESETS, VGGFeatures, gram_matrix

KINDS = {"image", "heatmap", "attention", "feature", "gan"}
# torchvision's conv positions in vgg16().features / vgg19().features
TV_CONVS = {"vgg16": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
            "vgg19": [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]}


# ---------------------------------------------------------------- registry
def test_import_does_not_load_torch():
    code = "import sys, facesr.losses; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_registry_contents_and_kinds():
    assert {"l1", "mse", "charbonnier", "gan", "gradient_penalty", "feature_matching", "perceptual", "gram",
            "heatmap", "attention", "feature_l1", "output_l1"} <= set(LOSSES)
    for name, cls in LOSSES.items():
        assert cls.kind in KINDS, name
        assert cls.name == name


def test_build_loss_specs_and_describe():
    m, w = build_loss("l1", 10)
    assert w == 10.0 and m.kind == "image" and m.describe() == {"name": "l1"}
    m, w = build_loss("charbonnier", {"eps": 0.01})
    assert w == 1.0 and m.eps == 0.01 and m.describe() == {"name": "charbonnier", "eps": 0.01}
    m, w = build_loss("gan", {"weight": 0.1, "kind": "wgan", "drift": 0.001})
    assert w == 0.1 and m.gan_kind == "wgan" and m.kind == "gan"
    # every loss builds with defaults (VGG ones need a fallback here), is JSON-describable, has empty state
    for name in LOSSES:
        spec = {"fallback": "off"} if name in ("perceptual", "gram") else 1
        m, _ = build_loss(name, spec)
        d = m.describe()
        assert d["name"] == name
        json.dumps(d)
        assert m.state_dict() == {} and list(m.parameters()) == []


def test_registry_errors():
    with pytest.raises(ConfigError, match=r"unknown loss 'percetual' \(did you mean perceptual\?\); known: .*l1"):
        build_loss("percetual", 1)
    with pytest.raises(ConfigError, match=r"has no option 'layer' \(did you mean layers\?\); valid: weight, preset"):
        build_loss("perceptual", {"layer": ["relu1_2"]})
    with pytest.raises(ConfigError, match="weight must be a number"):
        build_loss("l1", {"weight": "ten"})
    with pytest.raises(ConfigError, match="weight must be a number"):
        build_loss("l1", True)
    with pytest.raises(ConfigError, match="GAN kind must be one of hinge, wgan, nonsaturating, lsgan"):
        build_loss("gan", {"kind": "wasserstein"})
    with pytest.raises(ConfigError, match="eps must be > 0"):
        build_loss("charbonnier", {"eps": 0})
    with pytest.raises(ConfigError, match="criterion must be l1 or mse"):
        build_loss("perceptual", {"criterion": "l3", "fallback": "off"})
    with pytest.raises(ConfigError, match=r"vgg19 has no layer 'relu5_5' \(did you mean"):
        build_loss("perceptual", {"layers": ["relu5_5"], "fallback": "off"})


# ---------------------------------------------------------------- pixel
def test_pixel_values():
    sr = torch.tensor([0.0, 1.0, 2.0, 3.0])
    hr = torch.ones(4)
    assert set(PIXEL_LOSSES) == {"l1", "mse", "charbonnier"}
    assert PIXEL_LOSSES["l1"](sr, hr).item() == pytest.approx(1.0)
    assert PIXEL_LOSSES["mse"](sr, hr).item() == pytest.approx(1.5)
    want = sum(math.sqrt(d * d + 1e-6) for d in (1, 0, 1, 2)) / 4
    assert PIXEL_LOSSES["charbonnier"](sr, hr).item() == pytest.approx(want, rel=1e-6)
    for name in ("l1", "mse", "charbonnier"):
        assert build_loss(name, 1)[0](sr, hr).item() == pytest.approx(PIXEL_LOSSES[name](sr, hr).item())
    assert build_loss("charbonnier", {"eps": 0.5})[0](sr, sr).item() == pytest.approx(0.5)


# ---------------------------------------------------------------- GAN
R = torch.tensor([2.0, -0.5])
FK = torch.tensor([0.5, -3.0])


def sp(x):
    return math.log1p(math.exp(x))


@pytest.mark.parametrize("kind,d_want,g_want", [
    ("hinge", 0.5 * (0.75 + 0.75), 1.25),
    ("wgan", -1.25 - 0.75, 1.25),
    ("nonsaturating", (sp(-2) + sp(0.5)) / 2 + (sp(0.5) + sp(-3)) / 2, (sp(-0.5) + sp(3)) / 2),
    ("lsgan", 0.5 * ((1 + 2.25) / 2 + (0.25 + 9) / 2), (0.25 + 16) / 2),
])
def test_gan_values(kind, d_want, g_want):
    g = GANLoss(kind)
    assert g.d_loss(R, FK).item() == pytest.approx(d_want, rel=1e-6)
    assert g.g_loss(FK).item() == pytest.approx(g_want, rel=1e-6)
    assert g(FK).item() == pytest.approx(g_want, rel=1e-6)


def test_wgan_drift():
    g = GANLoss("wgan", drift=0.001)
    assert g.d_loss(R, FK).item() == pytest.approx(-2.0 + 0.001 * (4 + 0.25) / 2, rel=1e-6)


def test_gan_multiscale_average():
    r2, f2 = torch.tensor([[0.3, -2.0]]), torch.tensor([[1.5, 0.1]])
    feat = torch.randn(2, 3)
    for kind in ("hinge", "wgan", "nonsaturating", "lsgan"):
        g = GANLoss(kind)
        want_d = (g.d_loss(R, FK) + g.d_loss(r2, f2)) / 2
        want_g = (g.g_loss(FK) + g.g_loss(f2)) / 2
        # scale 1 a plain tensor, scale 2 a feature list ending in the logits
        assert g.d_loss([R, [feat, r2]], [FK, [feat, f2]]).item() == pytest.approx(want_d.item(), rel=1e-6)
        assert g.g_loss([FK, [feat, feat, f2]]).item() == pytest.approx(want_g.item(), rel=1e-6)
    with pytest.raises(ValueError, match="2 and 1 discriminator scales"):
        GANLoss("hinge").d_loss([R, R], [FK])


def _linear_critic(w):
    return lambda x: (x * w).sum(dim=(1, 2, 3))


@pytest.mark.parametrize("scale", [3.0, 0.2])
def test_gradient_penalty_linear_critic(scale):
    torch.manual_seed(0)
    w = torch.randn(1, 3, 4, 4)
    w = (w / w.norm() * scale).requires_grad_(True)
    real, fake = torch.rand(5, 3, 4, 4), torch.rand(5, 3, 4, 4)
    gp = gradient_penalty(_linear_critic(w), real, fake, weight=10.0)
    assert gp.item() == pytest.approx(10 * (scale - 1) ** 2, rel=1e-5)
    # create_graph: the penalty back-propagates into the critic: d/dw 10(|w|-1)^2 = 20(|w|-1) w/|w|
    gp.backward()
    torch.testing.assert_close(w.grad, 20 * (scale - 1) * w.detach() / scale, rtol=1e-4, atol=1e-6)
    one = gradient_penalty(_linear_critic(w), real, fake, weight=10.0, one_sided=True)
    assert one.item() == pytest.approx(10 * max(scale - 1, 0) ** 2, rel=1e-5, abs=1e-9)
    m, wt = build_loss("gradient_penalty", 10)
    assert wt == 10 and m(_linear_critic(w), real, fake).item() == pytest.approx((scale - 1) ** 2, rel=1e-5)


def test_gradient_penalty_multiscale():
    w1, w2 = torch.full((1, 3, 4, 4), 0.5), torch.full((1, 3, 4, 4), 0.1)  # norms 3.464.., 0.6928..
    real, fake = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)

    def d_fn(x):
        return [_linear_critic(w1)(x), [x * 0, _linear_critic(w2)(x)]]

    want = ((w1.norm().item() - 1) ** 2 + (w2.norm().item() - 1) ** 2) / 2
    assert gradient_penalty(d_fn, real, fake, weight=1.0).item() == pytest.approx(want, rel=1e-5)


def test_feature_matching_two_scales():
    torch.manual_seed(1)
    r11, r12, r21 = torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4), torch.randn(2, 4, 4, 4)
    f11, f12, f21 = (torch.randn_like(t).requires_grad_(True) for t in (r11, r12, r21))
    for t in (r11, r12, r21):
        t.requires_grad_(True)
    logit = torch.zeros(2, 1, 2, 2)
    real = [[r11, r12, logit], [r21, logit]]
    fake = [[f11, f12, logit], [f21, logit]]
    l1 = lambda a, b: (a - b).abs().mean().item()  # noqa: E731
    want = ((l1(f11, r11) + l1(f12, r12)) + l1(f21, r21)) / 2
    got = feature_matching(real, fake)
    assert got.item() == pytest.approx(want, rel=1e-6)
    got.backward()
    assert r11.grad is None and r21.grad is None and f11.grad is not None
    assert build_loss("feature_matching", 10)[0](real, fake).item() == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match="intermediate features"):
        feature_matching([R], [FK])


# ---------------------------------------------------------------- VGG
def _torchvision_state(arch, seed):
    """A random VGG saved the way torchvision does: features.N.* plus classifier.* keys."""
    net = VGGFeatures(arch, None, weights=None, seed=seed)
    sd = {f"features.{k}": v.clone() for k, v in net.features.state_dict().items()}
    sd["classifier.0.weight"] = torch.randn(8, 4)
    sd["classifier.0.bias"] = torch.randn(8)
    return sd


@pytest.fixture(scope="module")
def vgg_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("torch_home")
    ck = root / "hub" / "checkpoints"
    ck.mkdir(parents=True)
    sds = {}
    for arch, fname in (("vgg16", "vgg16-397923af.pth"), ("vgg19", "vgg19-dcbb9e9d.pth")):
        sds[arch] = _torchvision_state(arch, seed=123)
        torch.save(sds[arch], ck / fname)
    return root, sds


@pytest.fixture
def torch_home(vgg_files, monkeypatch):
    root, sds = vgg_files
    monkeypatch.setenv("TORCH_HOME", str(root))
    return root, sds


@pytest.fixture
def empty_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


def test_vgg_parameter_counts_and_names():
    for arch, n in (("vgg19", 20_024_384), ("vgg16", 14_714_688)):
        net = VGGFeatures(arch)
        assert sum(p.numel() for p in net.parameters()) == n
        assert len(net.features) == (37 if arch == "vgg19" else 31)
        keys = {f"features.{i}.{s}" for i in TV_CONVS[arch] for s in ("weight", "bias")}
        assert set(net.state_dict()) == keys
        assert all(not p.requires_grad for p in net.parameters())


def test_vgg_feature_shapes_and_truncation():
    x = torch.rand(2, 3, 64, 64)
    net = VGGFeatures("vgg19", PRESETS["sparnethd"]["layers"], normalize=True)
    out = net(x)
    assert list(out) == ["conv1_2", "conv2_2", "conv3_4", "conv4_4", "conv5_4"]
    assert [tuple(v.shape) for v in out.values()] == [(2, 64, 64, 64), (2, 128, 32, 32), (2, 256, 16, 16),
                                                      (2, 512, 8, 8), (2, 512, 4, 4)]
    assert len(net.features) == 35  # stops at conv5_4
    v16 = VGGFeatures("vgg16", PRESETS["pfsr"]["layers"])
    assert len(v16.features) == 23  # relu4_3
    shapes = [tuple(v.shape) for v in v16(x).values()]
    assert shapes == [(2, 64, 64, 64), (2, 128, 32, 32), (2, 256, 16, 16), (2, 512, 8, 8)]
    # pre-ReLU vs post-ReLU of the same weights
    pre = VGGFeatures("vgg16", ["relu1_2"], pre_relu=True, seed=3)(x)["conv1_2"]
    post = VGGFeatures("vgg16", ["conv1_2"], pre_relu=False, seed=3)(x)["relu1_2"]
    assert (pre < 0).any()
    torch.testing.assert_close(post, F.relu(pre))


def test_vgg_loads_auto_and_path(torch_home, tmp_path):
    root, sds = torch_home
    m, w = build_loss("perceptual", {"weight": 0.01, "preset": "pfsr"})
    assert w == 0.01
    torch.testing.assert_close(m.net.features[0].weight, sds["vgg16"]["features.0.weight"])
    torch.testing.assert_close(m.net.features[21].bias, sds["vgg16"]["features.21.bias"])
    path = root / "hub" / "checkpoints" / "vgg16-397923af.pth"
    used = m.describe()["weights_used"]
    assert used["file"] == "vgg16-397923af.pth"
    assert used["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    m19, _ = build_loss("perceptual", 1)  # default preset sparnethd: vgg19
    torch.testing.assert_close(m19.net.features[34].weight, sds["vgg19"]["features.34.weight"])
    # explicit path: .pth and .safetensors
    from safetensors.torch import save_file

    st = tmp_path / "my_vgg16.safetensors"
    save_file({k: v.contiguous() for k, v in sds["vgg16"].items()}, str(st))
    for p in (path, st):
        g, _ = build_loss("gram", {"preset": "pfsr", "weights": str(p)})
        torch.testing.assert_close(g.net.features[2].weight, sds["vgg16"]["features.2.weight"])
        assert g.describe()["weights_used"]["file"] == p.name


def test_vgg_wrong_file(torch_home, tmp_path):
    root, _ = torch_home
    bad = tmp_path / "junk.pth"
    bad.write_text("not a checkpoint\n")
    with pytest.raises(ConfigError, match="cannot read VGG weights") as e:
        build_loss("perceptual", {"weights": str(bad), "fallback": "random"})  # a bad file never falls back
    assert "\n" not in str(e.value)
    v16 = root / "hub" / "checkpoints" / "vgg16-397923af.pth"
    with pytest.raises(ConfigError, match="not a torchvision vgg19 state dict") as e:
        build_loss("perceptual", {"weights": str(v16)})
    assert "\n" not in str(e.value)
    half = tmp_path / "half.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, half)
    with pytest.raises(ConfigError, match=r"missing features.0.bias"):
        build_loss("perceptual", {"preset": "pfsr", "weights": str(half)})


def test_vgg_fallbacks(empty_home):
    with pytest.raises(ConfigError) as e:
        build_loss("perceptual", {"preset": "pfsr"})
    msg = str(e.value)
    assert "\n" not in msg and str(empty_home / "hub" / "checkpoints" / "vgg16-397923af.pth") in msg
    assert "fallback: off" in msg and "fallback: random" in msg
    with pytest.raises(ConfigError, match="no vgg19 weights at /no/such.pth"):
        build_loss("gram", {"weights": "/no/such.pth"})

    off, _ = build_loss("perceptual", {"fallback": "off"})
    assert not off.enabled and off.net is None
    sr = torch.rand(1, 3, 32, 32, requires_grad=True)
    v = off(sr, torch.rand(1, 3, 32, 32))
    assert v.item() == 0.0 and v.requires_grad
    v.backward()
    assert torch.equal(sr.grad, torch.zeros_like(sr))
    assert off.describe()["weights_used"]["fallback"] == "off"
    assert "no file" in off.describe()["weights_used"]["reason"]

    a, _ = build_loss("perceptual", {"preset": "pfsr", "fallback": "random"})
    b, _ = build_loss("perceptual", {"preset": "pfsr", "fallback": "random"})
    c, _ = build_loss("perceptual", {"preset": "pfsr", "fallback": "random", "fallback_seed": 1})
    assert a.describe()["weights_used"]["fallback"] == "random(seed=0)"
    assert c.describe()["weights_used"]["fallback"] == "random(seed=1)"
    x, y = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    assert a(x, y).item() == b(x, y).item() != c(x, y).item()


def test_perceptual_values_gradients_and_device(empty_home):
    torch.manual_seed(0)
    m, _ = build_loss("perceptual", {"preset": "pfsr", "fallback": "random"})
    hr = torch.rand(2, 3, 64, 64)
    assert m(hr, hr.clone()).item() == 0.0
    sr = (hr + 0.1 * torch.randn_like(hr)).requires_grad_(True)
    val = m(sr, hr)
    fs, fh = m.net(sr.detach()), m.net(hr)
    want = sum(F.mse_loss(fs[n], fh[n]) for n in PRESETS["pfsr"]["layers"])
    assert val.item() > 0 and val.item() == pytest.approx(want.item(), rel=1e-5)
    val.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in m.net.parameters())
    # layer weights and criterion overrides
    m2, _ = build_loss("perceptual", {"preset": "pfsr", "fallback": "random", "criterion": "l1",
                                      "layer_weights": {"relu1_2": 2.0, "relu4_3": 0.0}})
    want2 = 2 * F.l1_loss(fs["relu1_2"], fh["relu1_2"]) + F.l1_loss(fs["relu2_2"], fh["relu2_2"]) + \
        F.l1_loss(fs["relu3_3"], fh["relu3_3"])
    assert m2(sr.detach(), hr).item() == pytest.approx(want2.item(), rel=1e-5)
    # not in the state dict, still moved by .to(); train() keeps the VGG frozen in eval mode
    assert m.state_dict() == {} and list(m.parameters()) == []
    m.train()
    assert not m.net.training
    m.to(torch.float64)
    assert m.net.features[0].weight.dtype == torch.float64 and m.net.mean.dtype == torch.float64
    assert m(hr.double(), hr.double() * 0.5).dtype == torch.float32  # criterion in float32
    m.float()
    assert m.net.features[0].weight.dtype == torch.float32


def test_gram(empty_home):
    f = torch.tensor([[[[1.0, 2.0], [0.0, -1.0]], [[3.0, 0.0], [1.0, 1.0]]]])  # 1 x 2 x 2 x 2
    g = gram_matrix(f)
    want = torch.tensor([[[1 + 4 + 0 + 1, 3 + 0 + 0 - 1], [2, 9 + 0 + 1 + 1]]]) / 8.0
    torch.testing.assert_close(g, want)
    m, _ = build_loss("gram", {"preset": "pfsr", "fallback": "random", "layers": ["relu1_2", "relu2_2"]})
    hr = torch.rand(1, 3, 32, 32)
    sr = torch.rand(1, 3, 32, 32, requires_grad=True)
    assert m(hr, hr).item() == 0.0
    fs, fh = m.net(sr.detach()), m.net(hr)
    want = sum(F.mse_loss(gram_matrix(fs[n]), gram_matrix(fh[n])) for n in ("relu1_2", "relu2_2"))
    v = m(sr, hr)
    assert v.item() > 0 and v.item() == pytest.approx(want.item(), rel=1e-5)
    v.backward()
    assert sr.grad.abs().sum() > 0
    assert m.describe()["layers"] == ["relu1_2", "relu2_2"] and "criterion" not in m.describe()


def test_gram_highpass_and_batch_mean(empty_home):
    from facesr.losses.perceptual import binomial_highpass

    # the high-pass of a constant image is zero, of a linear ramp zero away from the (reflected) edges
    assert binomial_highpass(torch.full((1, 3, 8, 8), 0.7)).abs().max() < 1e-6
    ramp = torch.arange(16.0).view(1, 1, 1, 16).expand(1, 3, 16, 16) / 16
    assert binomial_highpass(ramp)[..., 2:-2].abs().max() < 1e-6
    opts = {"preset": "pfsr", "fallback": "random", "layers": ["relu1_1"]}
    hp, _ = build_loss("gram", {**opts, "highpass": True})
    # two flat faces of different colours: the same (empty) texture for the high-pass term, not for the plain one
    a, b = torch.full((2, 3, 16, 16), 0.2), torch.full((2, 3, 16, 16), 0.8)
    plain, _ = build_loss("gram", opts)
    assert hp(a, b).item() == 0.0 and plain(a, b).item() > 0
    # batch_mean: the Gram matrices' batch means are compared, so swapping the batch order changes nothing,
    # and it equals the per-pair term for a batch of one
    bm, _ = build_loss("gram", {**opts, "batch_mean": True})
    x, y = torch.rand(4, 3, 16, 16), torch.rand(4, 3, 16, 16)
    assert bm(x, y).item() == pytest.approx(bm(x, y.flip(0)).item(), rel=1e-5)
    assert plain(x, y).item() != pytest.approx(plain(x, y.flip(0)).item(), rel=1e-3)
    assert bm(x[:1], y[:1]).item() == pytest.approx(plain(x[:1], y[:1]).item(), rel=1e-5)
    fs, fh = bm.net(x), bm.net(y)
    want = F.mse_loss(gram_matrix(fs["relu1_1"]).mean(0), gram_matrix(fh["relu1_1"]).mean(0))
    assert bm(x, y).item() == pytest.approx(want.item(), rel=1e-5)
    assert bm.describe()["batch_mean"] is True and hp.describe()["highpass"] is True
    with pytest.raises(Exception, match="highpass"):
        build_loss("gram", {**opts, "highpass": "yes"})


# ---------------------------------------------------------------- face priors
def test_heatmap_loss_hand():
    sr = torch.tensor([[[[0.0, 2.0], [4.0, 2.0]], [[1.0, 3.0], [0.0, 0.0]]]])  # min 0, max 4
    hr = torch.tensor([[[[1.0, 1.0], [3.0, 1.0]], [[1.0, 2.0], [1.0, 1.0]]]])  # min 1, max 3
    nsr = [0, .5, 1, .5, .25, .75, 0, 0]
    nhr = [0, 0, 1, 0, 0, .5, 0, 0]
    want = sum((a - b) ** 2 for a, b in zip(nsr, nhr)) / 8
    m, _ = build_loss("heatmap", 50)
    assert m.kind == "heatmap"
    assert m(sr, hr).item() == pytest.approx(want)
    # per-sample normalisation: scaling one sample changes nothing
    two_sr, two_hr = torch.cat([sr, 7 * sr]), torch.cat([hr, hr + 5])
    assert m(two_sr, two_hr).item() == pytest.approx(want)


def test_attention_loss_hand():
    m, _ = build_loss("attention", 500)
    assert m.kind == "attention"
    heat = torch.tensor([[[[0.0, 2.0], [1.0, 0.0]], [[1.0, 0.0], [3.0, 1.0]]]])  # max over C: [[1,2],[3,1]]
    M = torch.tensor([[0.0, 0.5], [1.0, 0.0]])                                 # min-max -> this
    sr = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]).repeat(1, 3, 1, 1)
    hr = torch.zeros_like(sr)
    hr[:, 1] = 1.0
    diff = (sr - hr).abs()
    want = (M * diff).mean().item()  # = mean over 3 channels of (0*d00 + .5*d01 + 1*d10 + 0*d11) / 4
    assert want == pytest.approx((0.5 * 2 + 3 + 0.5 * 1 + 2 + 0.5 * 2 + 3) / 12)
    assert m(sr, hr, heat).item() == pytest.approx(want)
    # heatmaps at 2x2 for a 4x4 image: bilinear (align_corners=False) columns 0, .25, .75, 1
    heat = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
    sr4 = torch.ones(1, 3, 4, 4)
    assert m(sr4, torch.zeros_like(sr4), heat).item() == pytest.approx(0.5)
    sr4[..., 0] = 5.0  # zero attention on the first column
    assert m(sr4, torch.zeros_like(sr4), heat).item() == pytest.approx(0.5)


# ---------------------------------------------------------------- distillation, KL
def test_distillation():
    s = [torch.zeros(2, 3, requires_grad=True), torch.ones(1, 4, requires_grad=True)]
    t = [torch.full((2, 3), 2.0, requires_grad=True), torch.full((1, 4), -1.0, requires_grad=True)]
    m, w = build_loss("feature_l1", 10)
    assert m.kind == "feature" and w == 10
    v = m(s, t)
    assert v.item() == pytest.approx((2 + 2) / 2)
    v.backward()
    assert t[0].grad is None and s[0].grad is not None
    with pytest.raises(ValueError, match="equally many"):
        m(s, t[:1])
    o, _ = build_loss("output_l1", 0.1)
    a, b = torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([0.0, 4.0], requires_grad=True)
    o(a, b).backward()
    assert o(a, b).item() == pytest.approx(1.5) and b.grad is None and a.grad is not None


def test_kl_normal():
    assert kl_normal(torch.zeros(3, 5), torch.zeros(3, 5)).item() == 0.0
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    lv = torch.tensor([[0.0, 0.0], [math.log(2.0), 0.0]])
    # sample 1: 0.5*1 ; sample 2: -0.5*(1 + ln2 - 2) = 0.5*(1 - ln2)
    assert kl_normal(mu, lv).item() == pytest.approx((0.5 + 0.5 * (1 - math.log(2))) / 2)
