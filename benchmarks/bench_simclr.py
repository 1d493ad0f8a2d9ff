"""SimCLR's overhead over its backbone: step time ratio and throughput.

For each backbone, one run reports

- ``ratio``: the time of a full SimCLR training step on a batch of N images
  (uint8 → float, two augmented views, backbone, projection head, NT-Xent,
  backward, Adam step) divided by the time of the bare backbone's forward and
  backward pass on the same 2N (already augmented) float images.  Target: at
  most 1.15 -- the backbone is the wall on a CPU; the rest is the library.
- ``images/s``: images (and views) per second through the SimCLR step.
- a breakdown of the step: augmentation, head + loss, optimizer, and
  ``1 + parts/bare``, the ratio those parts alone predict (steadier than the
  measured ratio when the machine is shared: one ResNet step takes seconds and
  varies by ±10% from run to run).

SimCLR and bare steps are interleaved (in alternating order) after one warm-up
step each, and the fastest of each is kept (as ``timeit`` does), so load from
other processes affects both alike.

Usage::

    python benchmarks/bench_simclr.py                      # cnn and resnet18, 32×32 RGB, N=256
    python benchmarks/bench_simclr.py --backbones cnn --batch-size 128 --steps 5
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import privlearn as pl

#: Timed steps per backbone when --steps is not given (resnet18's small stem
#: runs at ~30 images/s fwd+bwd on two cores, so one step of 512 views takes ~15 s).
DEFAULT_STEPS = {"cnn": 10, "resnet18": 1, "resnet50": 1, "mobilenet_v2": 1}


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench(backbone, batch_size, image_size, channels, steps, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(batch_size, channels, image_size, image_size),
                          dtype=np.uint8)
    net = pl.SimCLR(backbone=backbone, batch_size=batch_size, max_epochs=0,
                    random_state=seed).fit(images)        # initialises only
    batch = (torch.from_numpy(images), torch.zeros(batch_size, dtype=torch.long))
    backbone_module = net.module_.backbone
    with torch.no_grad():
        views = torch.cat(net.make_views(net.prepare_batch(batch[0])))

    def simclr_step():
        net._set_training(True)
        net.train_step(batch)

    with torch.no_grad():
        # a dense upstream gradient, like a real loss gives (``.sum()`` would
        # give a stride-0 one, which takes other kernels)
        upstream = torch.randn(len(views), net.module_.feature_dim)

    def bare_step():
        backbone_module.train()
        backbone_module.zero_grad()
        backbone_module(views).backward(upstream)

    simclr_step(), bare_step()                             # warm-up
    simclr_times, bare_times = [], []
    for step in range(steps):
        # alternate the order (ABBA), so neither step always follows the other
        if step % 2:
            bare_times.append(timed(bare_step))
        simclr_times.append(timed(simclr_step))
        if not step % 2:
            bare_times.append(timed(bare_step))
    simclr_time = min(simclr_times)
    bare_time = min(bare_times)

    # breakdown of the non-backbone parts
    with torch.no_grad():
        augment = min(timed(lambda: net.make_views(net.prepare_batch(batch[0])))
                      for _ in range(5))
    h = backbone_module(views).detach().requires_grad_()

    def head_and_loss():
        z = net.module_.projector(h)
        net.get_loss((h, z)).backward()

    head = min(timed(head_and_loss) for _ in range(5))
    optimizer = min(timed(net.optimizer_.step) for _ in range(5))
    return {
        "backbone": backbone, "simclr_step_s": simclr_time, "bare_fwd_bwd_s": bare_time,
        "ratio": simclr_time / bare_time, "images_per_s": batch_size / simclr_time,
        "views_per_s": 2 * batch_size / simclr_time, "augment_s": augment,
        "head_loss_s": head, "optimizer_s": optimizer,
        "parts_ratio": 1 + (augment + head + optimizer) / bare_time,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbones", nargs="+", default=["cnn", "resnet18"])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps per backbone (default: 10 for cnn, 1 otherwise)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"SimCLR step vs bare backbone fwd+bwd: {args.channels}×{args.image_size}×"
          f"{args.image_size}, N={args.batch_size} (2N={2 * args.batch_size} views), "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    header = (f"{'backbone':<13}{'step s':>9}{'bare s':>9}{'ratio':>7}{'img/s':>8}"
              f"{'views/s':>9}{'augment s':>11}{'head+loss s':>13}{'optim s':>9}"
              f"{'1+parts/bare':>14}")
    print(header)
    rows = []
    for backbone in args.backbones:
        steps = args.steps or DEFAULT_STEPS.get(backbone, 1)
        r = bench(backbone, args.batch_size, args.image_size, args.channels, steps)
        rows.append(r)
        print(f"{r['backbone']:<13}{r['simclr_step_s']:>9.3f}{r['bare_fwd_bwd_s']:>9.3f}"
              f"{r['ratio']:>7.2f}{r['images_per_s']:>8.0f}{r['views_per_s']:>9.0f}"
              f"{r['augment_s']:>11.4f}{r['head_loss_s']:>13.4f}{r['optimizer_s']:>9.4f}"
              f"{r['parts_ratio']:>14.3f}",
              flush=True)
    return rows


if __name__ == "__main__":
    main()
