"""Audit an encoder trained elsewhere, from its files: a state_dict and a folder of PNGs.

1. A plain PyTorch loop (no privlearn) trains a small contrastive encoder
   (SimCLR's NT-Xent, random resized crops, flips and brightness/contrast jitter
   written out in torch) for 700 full-batch steps on 60 digits (8×8), long enough
   to memorise them.  It saves ``encoder.pt`` (its ``state_dict``), the 60
   training images and 60 images it never saw as PNG files in ``images/``, a
   ``manifest.csv`` (``path,label,attribute``; the attribute is "digit ≥ 5") and
   ``members.txt`` (the training images' file names).
2. ``privlearn audit-model`` audits it from those files: blind baseline,
   EncoderMI (and every other catalogued attack an encoder allows), attribute
   inference, ``record_risk.csv`` and the gallery of the most exposed members.
3. The same model through the Python entry, ``audit_model``, gives the same numbers.

About two minutes on a 2-core CPU.  ``python examples/audit_own_encoder.py [folder]``.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.datasets import load_digits
from torch import nn

torch.set_num_threads(1)


def make_encoder(width=32):
    """The network (a factory the audit imports as ``audit_own_encoder:make_encoder``)."""
    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(8 * width, 64))


def augment(x, gen):
    """A random resized crop (area 40-100%), a horizontal flip (p=0.5) and
    brightness/contrast jitter (p=0.8), independently per image, in plain torch."""
    n = len(x)
    u = torch.rand(n, 4, generator=gen)
    scale = (0.4 + 0.6 * u[:, 0]).sqrt()
    ratio = torch.exp((u[:, 1] - 0.5) * 2 * np.log(4 / 3)).sqrt()
    sx, sy = scale * ratio, scale / ratio
    tx = (1 - sx).clamp(min=0) * (2 * u[:, 2] - 1)
    ty = (1 - sy).clamp(min=0) * (2 * u[:, 3] - 1)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx * flip, tx, sy, ty
    grid = nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    x = nn.functional.grid_sample(x, grid, align_corners=False)
    brightness = 1 + 0.4 * (2 * torch.rand(n, 1, 1, 1, generator=gen) - 1)
    contrast = 1 + 0.4 * (2 * torch.rand(n, 1, 1, 1, generator=gen) - 1)
    mean = x.mean((1, 2, 3), keepdim=True) * brightness
    jittered = (x * brightness - mean) * contrast + mean
    jitter = torch.rand(n, 1, 1, 1, generator=gen) < 0.8
    return torch.where(jitter, jittered, x).clamp(0, 1)


def train(images, steps=700, seed=0):
    """SimCLR-style NT-Xent training (temperature 0.2), written out in plain PyTorch."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = make_encoder()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    x = torch.from_numpy(images).float() / 255
    n = len(x)
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    for _ in range(steps):
        z = nn.functional.normalize(net(torch.cat([augment(x, gen), augment(x, gen)])), dim=1)
        sim = z @ z.T / 0.2
        sim.fill_diagonal_(-1e9)
        loss = nn.functional.cross_entropy(sim, positives)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def save_files(folder, n_members=60, n_non_members=60, steps=700, seed=0):
    """Train the encoder and write encoder.pt, images/*.png, manifest.csv, members.txt."""
    folder = Path(folder)
    digits = load_digits()
    rng = np.random.RandomState(seed)
    idx = rng.permutation(len(digits.images))[:n_members + n_non_members]
    images = (digits.images[idx] * (255 / 16)).round().astype(np.uint8)[:, None]
    labels = digits.target[idx]
    member = rng.permutation(np.r_[np.ones(n_members, int), np.zeros(n_non_members, int)])
    net = train(images[member == 1], steps=steps, seed=seed)
    torch.save(net.state_dict(), folder / "encoder.pt")
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines, trained_on = ["path,label,attribute"], []
    for i, (img, y, m) in enumerate(zip(images, labels, member)):
        name = f"{i:03d}.png"
        Image.fromarray(img[0]).save(folder / "images" / name)
        lines.append(f"images/{name},{y},{int(y >= 5)}")
        if m:
            trained_on.append(name)
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    (folder / "members.txt").write_text("\n".join(trained_on) + "\n")
    return folder


def audit_cli(folder, out, extra=()):
    """``privlearn audit-model`` on the files (a subprocess, as a user would run it)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, "-m", "privlearn", "audit-model",
                    "--encoder", str(folder / "encoder.pt"),
                    "--factory", "audit_own_encoder:make_encoder",
                    "--data", str(folder / "manifest.csv"),
                    "--members", str(folder / "members.txt"),
                    "--out", str(out), *extra], check=True, env=env)
    return json.loads((Path(out) / "results.json").read_text())


def audit_python(folder, out=None, **options):
    """The same audit through the Python entry."""
    import privlearn as pl
    from privlearn.wrappers import load_module
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    encoder = pl.TorchEncoder(load_module(
        folder / "encoder.pt", factory="audit_own_encoder:make_encoder"))
    return pl.audit_model(encoder=encoder, data=pl.datasets.load_images(folder / "manifest.csv"),
                          members=folder / "members.txt", out=out, **options)


def same_numbers(a, b):
    """The findings' effects and intervals, and every attack's AUC, agree exactly."""
    def numbers(r):
        return ([(f["claim"], f["effect"], list(f["interval"]), f["verdict"])
                 for f in r["findings"]],
                {k: v.get("roc_auc") for k, v in r["attacks"].items()})
    return numbers(a) == numbers(b)


def main(folder=None):
    folder = Path(folder or tempfile.mkdtemp(prefix="own_encoder_"))
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    save_files(folder)
    print(f"trained (plain PyTorch) and saved in {time.perf_counter() - t0:.1f} s to {folder}")
    t0 = time.perf_counter()
    cli = audit_cli(folder, folder / "report")
    print(f"CLI audit: {time.perf_counter() - t0:.1f} s")
    results = audit_python(folder, folder / "report_python")
    print(f"Python entry gives the same numbers as the CLI: {same_numbers(cli, results)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
