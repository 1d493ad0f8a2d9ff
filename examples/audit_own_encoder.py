"""Audit an encoder trained elsewhere, from its files: a state_dict and a folder of PNGs.

1. A plain PyTorch loop (no privlearn) trains a small contrastive encoder on 100
   digits (8×8) until it memorises them, and saves ``encoder.pt`` (its
   ``state_dict``), the 200 images (100 members, 100 non-members) as PNG files and
   a ``manifest.csv`` (``path,label,attribute,member``; the attribute is
   "digit ≥ 5").
2. ``privlearn audit-model`` audits it from those files (here through
   ``python -m privlearn.own_audit.cli``): blind baseline, EncoderMI, attribute
   inference, the record-risk CSV and the gallery.
3. The same audit through the Python entry, ``audit_model``, gives the same numbers.

Runs in about a minute or two on a 2-core CPU.
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


def make_encoder():
    """The network (a factory the audit imports as ``audit_own_encoder:make_encoder``)."""
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(256, 64))


def augment(x, gen):
    """Random 1-pixel shifts and pixel noise: two views of each image."""
    dx, dy = (int(v) for v in torch.randint(-1, 2, (2,), generator=gen))
    x = torch.roll(x, shifts=(dx, dy), dims=(2, 3))
    return (x + 0.1 * torch.randn(x.shape, generator=gen)).clamp(0, 1)


def train(images, epochs=300, seed=0):
    """SimCLR-style NT-Xent training, written out in plain PyTorch."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = make_encoder()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    x = torch.from_numpy(images).float() / 255
    for _ in range(epochs):
        z = nn.functional.normalize(net(torch.cat([augment(x, gen), augment(x, gen)])), dim=1)
        sim = z @ z.T / 0.2
        sim.fill_diagonal_(-1e9)
        n = len(x)
        target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
        loss = nn.functional.cross_entropy(sim, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


def main(folder=None):
    folder = Path(folder or tempfile.mkdtemp(prefix="own_encoder_"))
    digits = load_digits()
    rng = np.random.RandomState(0)
    idx = rng.permutation(len(digits.images))[:200]
    images = (digits.images[idx] * (255 / 16)).round().astype(np.uint8)[:, None]
    labels = digits.target[idx]
    member = np.r_[np.ones(100, int), np.zeros(100, int)]
    rng.shuffle(member)

    t0 = time.perf_counter()
    net = train(images[member == 1])
    torch.save(net.state_dict(), folder / "encoder.pt")
    (folder / "images").mkdir(exist_ok=True)
    lines = ["path,label,attribute,member"]
    for i, (img, y, m) in enumerate(zip(images, labels, member)):
        name = f"images/{i:03d}.png"
        Image.fromarray(img[0]).save(folder / name)
        lines.append(f"{name},{y},{int(y >= 5)},{m}")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    print(f"trained and saved in {time.perf_counter() - t0:.1f} s to {folder}")

    # The CLI, from the files only.
    t0 = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, "-m", "privlearn.own_audit.cli",
                    "--encoder", str(folder / "encoder.pt"),
                    "--factory", "audit_own_encoder:make_encoder",
                    "--data", str(folder / "manifest.csv"), "--members", "member",
                    "--out", str(folder / "report")], check=True, env=env)
    print(f"CLI audit: {time.perf_counter() - t0:.1f} s")

    # The same audit through the Python entry.
    from privlearn.datasets.images import load_images
    from privlearn.own_audit import audit_model
    from privlearn.wrappers import TorchEncoder, load_module
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    encoder = TorchEncoder(load_module(folder / "encoder.pt",
                                       factory="audit_own_encoder:make_encoder"))
    results = audit_model(encoder=encoder, data=load_images(folder / "manifest.csv"),
                          members="member", out=folder / "report_python")
    cli = json.loads((folder / "report" / "results.json").read_text())
    same = [f["effect"] for f in cli["findings"]] == [f["effect"] for f in results["findings"]]
    print(f"Python entry gives the same findings as the CLI: {same}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
