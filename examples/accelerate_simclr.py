"""SimCLR (or Talos) on several GPUs or machines with Hugging Face Accelerate.

Every process runs this whole script; ``accelerate launch`` starts them and sets up
the process group.  Each process trains on its share of every epoch's batches,
NT-Xent contrasts each view with the views of *all* processes, and the main process
scores a linear probe on the representations and saves the weights.

One machine, all its GPUs, bf16::

    accelerate launch --multi_gpu --num_processes 4 --mixed_precision bf16 \\
        examples/accelerate_simclr.py --backbone resnet18 --epochs 100

Two machines with 8 GPUs each (run on both, ``--machine_rank`` 0 and 1)::

    accelerate launch --multi_gpu --num_machines 2 --num_processes 16 \\
        --machine_rank 0 --main_process_ip 10.0.0.1 --main_process_port 29500 \\
        examples/accelerate_simclr.py --backbone resnet50 --epochs 100

Or answer ``accelerate config`` once and run ``accelerate launch
examples/accelerate_simclr.py``.  Without GPUs it runs on the CPU, in one process
(``python examples/accelerate_simclr.py``) or in two (``accelerate launch --cpu
--num_processes 2 examples/accelerate_simclr.py``), in a few seconds.

Note that ``--batch-size`` is per process: P processes train with an effective
batch of P × batch size images (2 × that many views), so scale the learning rate
accordingly if you change P.
"""

import argparse
import hashlib
import json
import os

import numpy as np
from accelerate import Accelerator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import privlearn as pl
from privlearn.distributed import AcceleratedSimCLR, AcceleratedTalos


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="digits",
                        help="a privlearn data set name (default: digits)")
    parser.add_argument("--backbone", default="cnn")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128, help="per process")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--talos", type=float, default=None, metavar="LAMBDA",
                        help="train Talos with this adversary weight instead of SimCLR")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--out", default=None,
                        help="directory for params.pt and a summary (main process)")
    return parser.parse_args()


def weights_digest(model):
    """A short hash of the trained weights, to check that the processes agree.

    (BatchNorm's running statistics are left out: every process keeps its own.)
    """
    digest = hashlib.sha256()
    modules = [model.module_] + ([model.adversary_] if hasattr(model, "adversary_") else [])
    for module in modules:
        for parameter in module.parameters():
            digest.update(parameter.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def main():
    args = parse_args()
    accelerator = Accelerator()       # configured by `accelerate launch`
    data = pl.datasets.load(args.dataset)
    X_train, X_test, y_train, y_test, s_train, _ = train_test_split(
        data.images, data.target,
        data.sensitive if data.sensitive is not None else data.target,
        test_size=0.3, stratify=data.target, random_state=0)

    common = dict(accelerator=accelerator, backbone=args.backbone, max_epochs=args.epochs,
                  batch_size=args.batch_size, lr=args.lr, channels_last=args.channels_last,
                  random_state=0, verbose=1)
    if args.talos is None:
        model = AcceleratedSimCLR(**common).fit(X_train)
    else:
        model = AcceleratedTalos(adversary_weight=args.talos, **common)
        model.fit(X_train, sensitive_features=s_train)

    # Every process gets all representations (transform gathers them).
    H_train, H_test = model.transform(X_train), model.transform(X_test)
    digest = weights_digest(model)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, f"rank{accelerator.process_index}.json"), "w") as f:
            json.dump({"weights": digest, "n_train_repr": len(H_train)}, f)
    if args.out:      # every process calls it (it synchronises); the main one writes
        model.save_params(f_params=os.path.join(args.out, "params.pt"))
    if accelerator.is_main_process:
        probe = LogisticRegression(max_iter=2000).fit(H_train, y_train)
        summary = {"processes": accelerator.num_processes,
                   "mixed_precision": accelerator.mixed_precision,
                   "device": str(accelerator.device),
                   "final_train_loss": float(model.history_[-1, "train_loss"]),
                   "probe_accuracy": float(probe.score(H_test, y_test)),
                   "finite": bool(np.isfinite(H_train).all())}
        print(json.dumps(summary))
        if args.out:
            with open(os.path.join(args.out, "summary.json"), "w") as f:
                json.dump(summary, f)
            np.savez(os.path.join(args.out, "probe.npz"), images=X_test[:32], h=H_test[:32])
    accelerator.end_training()

if __name__ == "__main__":
    main()
