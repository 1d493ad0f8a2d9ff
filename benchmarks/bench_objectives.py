"""Each self-supervised objective: privlearn's epoch, its floor, and lightly's epoch.

For SimCLR, MoCo, BYOL, SimSiam and Barlow Twins, one run measures on the same
backbone ("cnn") and the same images:

- ``privlearn``: one training epoch of the estimator (``partial_fit``: uint8
  batches to float, batched two-view augmentation, the objective's step,
  optimizer step, momentum update; skorch's loop and history included);
- ``floor``: the same network's forward + loss + backward + optimizer step
  (+ momentum update) on views augmented beforehand, batch by batch -- what no
  implementation of the objective can avoid;
- ``lightly``: lightly's implementation of the objective (its projection and
  prediction heads, losses, ``update_momentum``, and its ``SimCLRTransform``
  views applied per image in a DataLoader, the way lightly trains) around a
  copy of the same backbone, one epoch.

Ratios: ``privlearn/floor`` (target: at most 1.10) and ``lightly/privlearn``
(target: above 1).  Epochs are interleaved after one warm-up epoch each, and
the fastest of ``--repeats`` is kept, so load from other processes affects all
three alike; the machine's load is printed.

Usage::

    python benchmarks/bench_objectives.py                       # Fashion-MNIST 28×28, 2048 images
    python benchmarks/bench_objectives.py --data digits --repeats 3
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import numpy as np
import torch
from PIL import Image

import privlearn as pl

ESTIMATORS = {"simclr": pl.SimCLR, "moco": pl.MoCo, "byol": pl.BYOL, "simsiam": pl.SimSiam,
              "barlow_twins": pl.BarlowTwins}


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def load_images(name, n):
    data = pl.datasets.load("fashion-mnist" if name == "fashion" else "digits")
    images = np.asarray(data.images[:n])
    return images if images.ndim == 4 else images[:, None]


# --------------------------------------------------------------------------- privlearn
def privlearn_parts(name, images, batch_size):
    est = ESTIMATORS[name](max_epochs=1, batch_size=batch_size, random_state=0).fit(images)

    def epoch():
        est.partial_fit(images)

    # the floor: the same network on views augmented beforehand
    with torch.no_grad():
        batches = [est.make_views(est.prepare_batch(torch.from_numpy(images[i:i + batch_size])))
                   for i in range(0, len(images), batch_size)]

    def floor():
        est._set_training(True)
        for views in batches:
            est.optimizer_.zero_grad()
            loss, _, _ = est.objective_.step(est, list(views), training=True)
            loss.backward()
            est.optimizer_.step()
            est.after_optimizer_step()

    return est, epoch, floor


# --------------------------------------------------------------------------- lightly
def lightly_epoch_fn(name, est, images, batch_size):
    from lightly.loss import BarlowTwinsLoss, NegativeCosineSimilarity, NTXentLoss
    from lightly.models.modules import heads
    from lightly.models.utils import deactivate_requires_grad, update_momentum
    from lightly.transforms import SimCLRTransform

    net = est.module_
    dim = net.feature_dim
    backbone = torch.nn.Sequential(copy.deepcopy(net.normalize), copy.deepcopy(net.backbone))
    if name == "simclr":
        head, criterion = heads.SimCLRProjectionHead(dim, dim, 128, batch_norm=False), \
            NTXentLoss(temperature=0.5)
    elif name == "moco":
        head = heads.MoCoProjectionHead(dim, dim, 128)
        criterion = NTXentLoss(temperature=0.2, memory_bank_size=(1024, 128))
    elif name == "byol":
        head = heads.BYOLProjectionHead(dim, 512, 128)
        predictor = heads.BYOLPredictionHead(128, 512, 128)
        criterion = NegativeCosineSimilarity()
    elif name == "simsiam":
        head = heads.SimSiamProjectionHead(dim, 128, 128)
        predictor = heads.SimSiamPredictionHead(128, 32, 128)
        criterion = NegativeCosineSimilarity()
    else:
        head = heads.BarlowTwinsProjectionHead(dim, 512, 512)
        criterion = BarlowTwinsLoss(lambda_param=0.0051)
    modules = torch.nn.ModuleDict({"backbone": backbone, "head": head})
    if name in ("byol", "simsiam"):
        modules["predictor"] = predictor
    if name in ("moco", "byol"):
        modules["momentum_backbone"] = copy.deepcopy(backbone)
        modules["momentum_head"] = copy.deepcopy(head)
        deactivate_requires_grad(modules["momentum_backbone"])
        deactivate_requires_grad(modules["momentum_head"])
    optimizer = torch.optim.Adam([p for p in modules.parameters() if p.requires_grad],
                                 lr=1e-3)

    size = images.shape[-1]
    transform = SimCLRTransform(input_size=size, normalize=None, gaussian_blur=0.5,
                                sigmas=(0.1, 2.0))
    pil = [Image.fromarray(image[0]) for image in images]

    class Views(torch.utils.data.Dataset):
        def __len__(self):
            return len(pil)

        def __getitem__(self, i):
            v1, v2 = transform(pil[i])
            return v1[:1], v2[:1]                 # grayscale: one channel

    loader = torch.utils.data.DataLoader(Views(), batch_size=batch_size, shuffle=True)

    def project(x):
        return modules["head"](modules["backbone"](x))

    def momentum_project(x):
        with torch.no_grad():
            return modules["momentum_head"](modules["momentum_backbone"](x))

    def epoch():
        modules.train()
        for x1, x2 in loader:
            if name in ("moco", "byol"):
                update_momentum(modules["backbone"], modules["momentum_backbone"], 0.99)
                update_momentum(modules["head"], modules["momentum_head"], 0.99)
            z1, z2 = project(x1), project(x2)
            if name == "simclr" or name == "barlow_twins":
                loss = criterion(z1, z2)
            elif name == "moco":
                loss = 0.5 * (criterion(z1, momentum_project(x2))
                              + criterion(z2, momentum_project(x1)))
            elif name == "byol":
                p1, p2 = modules["predictor"](z1), modules["predictor"](z2)
                loss = 0.5 * (criterion(p1, momentum_project(x2))
                              + criterion(p2, momentum_project(x1)))
            else:
                p1, p2 = modules["predictor"](z1), modules["predictor"](z2)
                loss = 0.5 * (criterion(p1, z2.detach()) + criterion(p2, z1.detach()))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return epoch


def bench(name, images, batch_size, repeats):
    est, epoch, floor = privlearn_parts(name, images, batch_size)
    lightly = lightly_epoch_fn(name, est, images, batch_size)
    for fn in (epoch, floor, lightly):                    # warm-up
        fn()
    times = {"privlearn": [], "floor": [], "lightly": []}
    for r in range(repeats):
        order = [("privlearn", epoch), ("floor", floor), ("lightly", lightly)]
        for key, fn in (order if r % 2 == 0 else order[::-1]):
            times[key].append(timed(fn))
    best = {key: min(values) for key, values in times.items()}
    return {"objective": name, **best, "privlearn/floor": best["privlearn"] / best["floor"],
            "lightly/privlearn": best["lightly"] / best["privlearn"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objectives", nargs="+", default=list(ESTIMATORS))
    parser.add_argument("--data", choices=["fashion", "digits"], default="fashion")
    parser.add_argument("--n-images", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    images = load_images(args.data, args.n_images)
    print(f"{args.data}: {len(images)} images {images.shape[1:]}, batch {args.batch_size}, "
          f"backbone cnn, {torch.get_num_threads()} thread(s), best of {args.repeats}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'objective':<14}{'privlearn s':>12}{'floor s':>9}{'lightly s':>11}"
          f"{'privlearn/floor':>17}{'lightly/privlearn':>19}")
    rows = []
    for name in args.objectives:
        r = bench(name, images, args.batch_size, args.repeats)
        rows.append(r)
        print(f"{name:<14}{r['privlearn']:>12.3f}{r['floor']:>9.3f}{r['lightly']:>11.3f}"
              f"{r['privlearn/floor']:>17.2f}{r['lightly/privlearn']:>19.2f}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return rows


if __name__ == "__main__":
    main()
