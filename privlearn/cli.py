"""The ``privlearn`` command line: a thin layer over :func:`privlearn.audit.run_audit`."""

from __future__ import annotations

import argparse
import sys

from . import datasets

__all__ = ["main", "build_parser"]


def _attack_list(text):
    from .audit import ATTACKS

    names = [a.strip() for a in text.split(",") if a.strip()]
    if names == ["all"]:
        return list(ATTACKS)
    unknown = [a for a in names if a not in ATTACKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown attack(s) {', '.join(unknown) or '(none)'}; valid: {', '.join(ATTACKS)}")
    return names


def build_parser():
    from .audit import ATTACKS, BACKBONES

    parser = argparse.ArgumentParser(
        prog="privlearn",
        description="Measure the privacy risks of contrastive learning (He & Zhang, CCS 2021).")
    sub = parser.add_subparsers(dest="command", required=True)
    audit = sub.add_parser(
        "audit", help="run the paper's protocol and write a report",
        description="Train target and shadow models (contrastive, supervised, Talos), run "
                    "every attack, and write report.md, results.json and ROC plots. Rerunning "
                    "the same command resumes from checkpoints under --out.")
    audit.add_argument("--dataset", default=datasets.DEFAULT_DATASET,
                       help=f"data set name: {', '.join(datasets.available())} "
                            f"(default: %(default)s, embedded)")
    audit.add_argument("--root", default=None, help="folder holding the data set's files")
    audit.add_argument("--backbone", default="cnn", choices=BACKBONES,
                       help="encoder network (default: %(default)s)")
    audit.add_argument("--epochs", type=int, default=None,
                       help="training epochs of every model (default: 100; 15 with --quick)")
    audit.add_argument("--batch-size", type=int, default=128, help="default: %(default)s")
    audit.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    audit.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    audit.add_argument("--out", default="audit-report", help="output folder (default: %(default)s)")
    audit.add_argument("--attacks", type=_attack_list, default=None,
                       help=f"comma-separated subset of {','.join(ATTACKS)} (default: all)")
    audit.add_argument("--n-per-part", type=int, default=None,
                       help="samples in each of the four parts (default: as many as possible)")
    audit.add_argument("--image-size", type=int, default=None, help="resize images when loading")
    audit.add_argument("--n-jobs", type=int, default=1,
                       help="train models in this many processes (-1: all cores; default: 1)")
    audit.add_argument("--quick", action="store_true", help="a small budget for a first look")
    audit.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "audit":
        return _audit(args, parser)
    parser.error(f"unknown command {args.command!r}")


def _audit(args, parser):
    from .audit import run_audit
    from .report import summary_table

    try:
        results = run_audit(
            args.dataset, root=args.root, backbone=args.backbone, epochs=args.epochs,
            batch_size=args.batch_size, device=args.device, seed=args.seed, out=args.out,
            attacks=args.attacks, quick=args.quick, n_per_part=args.n_per_part,
            image_size=args.image_size, progress=not args.no_progress, n_jobs=args.n_jobs)
    except KeyboardInterrupt:
        print(f"\nprivlearn audit: interrupted. Finished models are checkpointed under "
              f"{args.out}/checkpoints; rerun the same command to resume.", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        print(f"privlearn audit: error: {exc}", file=sys.stderr)
        return 2
    print()
    print(summary_table(results))
    print(f"\nReport: {args.out}/report.md  ({results['wall_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
