"""What PFSR's distilled FAN sees and gives: faces at 64 px (PFSR's step-2 targets), the teacher's and the
network's 68 landmarks, and the network's heatmaps as PFSR's attention loss uses them.

    python docs/make_fan_grid.py -o docs/fan_grid.png                      # the bundled face, 3 sizes
    python docs/make_fan_grid.py -i ../shared/data/helen_test50_fsrnet/HR -n 6 -o outputs/fan_helen.png

Without -i: the bundled public-domain face (NASA astronaut photo) at 64, 128 px and (for contrast) as a
16 px face upsampled bicubically to 64 px; with -i, the first N faces of a folder at 64 px (research data:
keep such grids out of the repository). Columns: face | teacher (dlib, the face seen at 256 px, as in
training) | network (``-m``, default the shipped ``fan-distilled``; argmax + local centroid) | attention
map (channel-wise max of the network's heatmaps, min-max normalised: PFSR's M) | that map over the face.
Needs facesr[faces] (dlib).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SAMPLE = Path(__file__).resolve().parents[1] / "facesr" / "assets" / "sample_face_hr128.png"


def attention_map(net, face: np.ndarray) -> np.ndarray:
    """PFSR's attention weights M of a uint8 face: channel max of the heatmaps, min-max to [0, 1]."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(face.transpose(2, 0, 1), np.float32)[None] / 255.0)
    with torch.no_grad():
        m = net(x)[0].amax(0)
    m = (m - m.min()) / (m.max() - m.min()).clamp_min(1e-8)
    return m.numpy()


def dots(face: np.ndarray, lm: np.ndarray, colour) -> np.ndarray:
    img = face.copy()
    r = max(0, face.shape[0] // 64 - 1)
    for x, y in np.round(lm).astype(int):
        img[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1] = colour
    return img


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-i", "--input", default=None, help="a folder of aligned faces (default: the bundled face)")
    ap.add_argument("-n", type=int, default=6)
    ap.add_argument("-m", "--model", default="fan-distilled", help="registry name or model file")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()

    import facesr
    from facesr.data.degrade import make_degradation
    from facesr.data.io import list_images, read_image, write_image
    from facesr.data.resize import pil_resize
    from facesr.inference.visual import comparison_grid
    from facesr.priors.landmarks import annotate_faces, decode_radius, network_landmarks

    from facesr.checkpoint import read_meta
    from facesr.registry import model_file

    net = facesr.load(args.model).eval()
    meta = read_meta(model_file(args.model))
    sigma = float(((meta.get("provenance") or {}).get("heatmap") or {}).get("sigma", 1.75))
    radius = decode_radius(sigma)
    if args.input:
        hr = [pil_resize(read_image(f), 128, "bicubic") for f in list_images(args.input)[: args.n]]
        faces = [(make_degradation({"kind": "bilinear_cascade"}, lr_size=64)(f), "64 px") for f in hr]
    else:
        hr = read_image(SAMPLE)
        faces = [(make_degradation({"kind": "bilinear_cascade"}, lr_size=64)(hr), "64 px"), (hr, "128 px"),
                 (pil_resize(make_degradation({"kind": "bilinear_cascade"}, lr_size=16)(hr), 64, "bicubic"),
                  "16 px, bicubic to 64")]
    rows = []
    for face, _ in faces:
        s = face.shape[0]
        lm_t = (annotate_faces(pil_resize(face, 256, "bilinear")[None])[0][0] + 0.5) * (s / 256.0) - 0.5
        lm_n = network_landmarks(net, face[None], radius)[0]
        m = attention_map(net, face)
        heat = (m * 255).astype(np.uint8)
        over = (face * (0.25 + 0.75 * m[..., None])).astype(np.uint8)
        rows.append([face, dots(face, lm_t, (0, 255, 0)), dots(face, lm_n, (255, 0, 0)),
                     np.stack([heat] * 3, -1), over])
    grid = comparison_grid(rows, ["face", "teacher (dlib)", "distilled FAN", "attention map M", "M over face"],
                           cell=128)
    write_image(args.output, grid)
    print(f"wrote {args.output}: {', '.join(lab for _, lab in faces)}")


if __name__ == "__main__":
    main()
