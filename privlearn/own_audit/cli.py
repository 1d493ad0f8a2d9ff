"""``privlearn audit-model``: audit a model file on a folder or manifest of images.

``privlearn audit-model --encoder model.pt --arch cnn --data images/ --members members.txt
--out report/`` (registered in :mod:`privlearn.cli`; ``python -m privlearn.own_audit.cli``
runs the same command on its own).  The attacks are those of
:data:`privlearn.catalogue.ATTACKS` that the files given allow (see
:func:`privlearn.own_audit.planned_attacks`).
"""

from __future__ import annotations

import argparse
import sys


def add_subparser(subparsers):
    """Register ``audit-model`` on an ``argparse`` subparsers object; returns the parser."""
    p = subparsers.add_parser(
        "audit-model", help="audit your own encoder or classifier on your own images",
        description="Audit a trained encoder and/or classifier (state_dict, TorchScript "
                    "or factory) on an ImageFolder tree or a CSV manifest.")
    _arguments(p)
    p.set_defaults(func=run)
    return p


def _arguments(p):
    p.add_argument("--encoder", help="encoder file: state_dict (.pt) or TorchScript")
    p.add_argument("--classifier", help="classifier file (logits out)")
    p.add_argument("--arch", help="architecture of a state_dict: a privlearn backbone "
                                  "(cnn, resnet18, ...) or a torchvision model name")
    p.add_argument("--factory", help="'package.module:function' building the network")
    p.add_argument("--num-classes", type=int, help="output classes of a torchvision --arch")
    p.add_argument("--data", required=True, help="image folder (one sub-folder per class) "
                                                 "or CSV manifest (path,label[,attribute][,member])")
    p.add_argument("--members", default="member",
                   help="'member' (the manifest column, default) or a file listing the "
                        "members' file names or paths, one per line")
    p.add_argument("--image-size", type=int, help="resize every image to this size")
    p.add_argument("--mode", choices=["L", "RGB"], help="convert images to grey or colour")
    p.add_argument("--out", required=True, help="output folder for the report")
    p.add_argument("--attacks", help="comma-separated attack names (default: all allowed)")
    p.add_argument("--cv", type=int, default=5)
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--n-views", type=int, default=10)
    p.add_argument("--random-state", type=int, default=0)


def run(args):
    """Run the audit described by parsed ``args``; prints the findings, returns 0."""
    from ..datasets.images import load_images
    from ..wrappers import TorchClassifier, load_module
    from . import audit_model
    from .report import findings_lines
    if not args.encoder and not args.classifier:
        raise SystemExit("audit-model: give --encoder and/or --classifier")
    try:
        data = load_images(args.data, image_size=args.image_size, mode=args.mode)
        shape = data.images.shape
        kw = dict(arch=args.arch, factory=args.factory, in_channels=shape[1],
                  image_size=shape[2])
        encoder = load_module(args.encoder, **kw) if args.encoder else None
        classifier = None
        if args.classifier:
            import numpy as np
            classifier = TorchClassifier(load_module(args.classifier, num_classes=args.num_classes,
                                                     **kw), classes=np.unique(data.target))
        results = audit_model(encoder=encoder, classifier=classifier, data=data,
                              members=args.members, out=args.out,
                              attacks=args.attacks.split(",") if args.attacks else None,
                              cv=args.cv, n_boot=args.n_boot, n_views=args.n_views,
                              random_state=args.random_state)
    except (ValueError, TypeError) as exc:
        raise SystemExit(f"audit-model: {exc}") from exc
    print("\n".join(findings_lines(results)))
    print(f"report: {args.out}/report.md ({results['seconds']:.1f} s)")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="privlearn audit-model")
    _arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
