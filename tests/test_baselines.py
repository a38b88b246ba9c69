"""SRCNN and EDSR-baseline as registry presets: parameter counts, shapes, conventions."""
import pytest
import torch

from facesr import build
from facesr.cli.models import count_params
from facesr.data.resize import resize
from facesr.models.baselines.arch import rgb_to_ycbcr, ycbcr_to_rgb

# SRCNN 9-1-5, 64/32 filters, RGB: 3*64*81 + 64 = 15,616; 64*32 + 32 = 2,080; 32*3*25 + 3 = 2,403 -> 20,099
# (Y only: 5,248 + 2,080 + 801 = 8,129). EDSR-baseline x4: head 3*64*9 + 64 = 1,792; 16 blocks x 2 convs
# (64*64*9 + 64 = 36,928) = 1,181,696; body conv 36,928; upsampler 2 x (64*256*9 + 256 = 147,712) = 295,424;
# tail 64*3*9 + 3 = 1,731 -> 1,517,571 (the mean shift is a buffer); x8 adds one upsampling step.
PARAMS = {"srcnn-x4": 20_099, "srcnn": 20_099, "edsr-x4": 1_517_571, "edsr": 1_665_283}


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameter_counts(name):
    assert count_params(name) == PARAMS[name]


def test_srcnn_y_only_count_and_colour_from_bicubic():
    net = build("srcnn-x4", channels=1)
    assert sum(p.numel() for p in net.parameters()) == 8_129
    x = torch.rand(4, 3, 7, 9)
    assert torch.allclose(ycbcr_to_rgb(rgb_to_ycbcr(x)), x, atol=1e-5)
    y = rgb_to_ycbcr(torch.tensor([1.0, 1.0, 1.0]).view(1, 3, 1, 1)).flatten()
    assert torch.allclose(y, torch.tensor([235 / 255, 128 / 255, 128 / 255]), atol=1e-4)
    # a network whose Y output equals its input (identity 1x1 chain) returns the bicubic upsampling
    net = build("srcnn-x4", channels=1, hr_size=32, f1=1, f3=1, n1=1, n2=1).eval()
    with torch.no_grad():
        for c in (net.conv1, net.conv2, net.conv3):
            c.weight.fill_(1.0)
            c.bias.zero_()
        lr = torch.rand(2, 3, 8, 8)
        want = resize(lr, 32, "bicubic")
        assert torch.allclose(net(lr), want.clamp(0, 1), atol=1e-4)


@pytest.mark.parametrize("name,lr,hr", [("srcnn-x4", 32, 128), ("srcnn", 16, 128), ("edsr-x4", 32, 128),
                                        ("edsr", 16, 128)])
def test_shapes_and_contract(name, lr, hr):
    net = build(name, **({"n_resblocks": 1} if name.startswith("edsr") else {})).eval()
    assert (net.lr_size, net.hr_size) == (lr, hr)
    with torch.no_grad():
        y = net(torch.rand(2, 3, lr, lr))
    assert y.shape == (2, 3, hr, hr) and float(y.min()) >= 0 and float(y.max()) <= 1
    with pytest.raises(ValueError):
        net(torch.rand(2, 3, lr + 1, lr + 1))


def test_settings_are_checked():
    for bad, msg in (({"scale": 3, "hr_size": 96}, "power of two"), ({"n_resblocks": -1}, "n_resblocks")):
        with pytest.raises(ValueError, match=msg):
            build("edsr-x4", **bad)
    for bad, msg in (({"channels": 2}, "channels"), ({"f1": 8}, "odd"), ({"padding_mode": "circle"}, "padding")):
        with pytest.raises(ValueError, match=msg):
            build("srcnn-x4", **bad)
    edsr = build("edsr-x4", mean_shift=False, n_resblocks=0)
    assert float(edsr.rgb_mean.abs().sum()) == 0.0 and "rgb_mean" not in edsr.state_dict()
