"""The ``privlearn`` command line: a thin layer over :func:`privlearn.audit.run_audit`."""

from __future__ import annotations

import argparse
import sys

from . import datasets

__all__ = ["main", "build_parser", "cli_words"]


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
    from .audit.config import OBJECTIVES

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
    audit.add_argument("--objective", default="simclr", choices=OBJECTIVES,
                       help="self-supervised objective of the contrastive family and of "
                            "Talos (default: %(default)s)")
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
    audit.add_argument("--attribute", default="auto",
                       help="digits only: the sensitive attribute, 'magnitude' (low 0-4 / high "
                            "5-9, independent of the parity task; the default) or 'digit' "
                            "(determines the task)")
    audit.add_argument("--repeats", type=int, default=1,
                       help="repeat the protocol with re-drawn seeds; intervals then span "
                            "seeds (default: %(default)s)")
    audit.add_argument("--talos-weight", type=float, default=None,
                       help="Talos's adversary weight λ judged by the findings (default: 1)")
    audit.add_argument("--talos-weights", type=_float_list, default=None,
                       help="comma-separated λ values of the trade-off sweep "
                            "(default: 0.5,1,2; 1 with --quick)")
    audit.add_argument("--label-only-records", type=int, default=None,
                       help="records attacked by the label-only attack (default: 150; 60 "
                            "with --quick)")
    audit.add_argument("--reference-models", type=int, default=None,
                       help="reference models per family for LiRA and RMIA, trained once "
                            "and shared (0 skips both; default: 2)")
    audit.add_argument("--n-boot", type=int, default=None,
                       help="bootstrap resamples of each interval (default: 1000)")
    audit.add_argument("--min-fraction-removed", type=float, default=None,
                       help="Talos's finding holds only if its interval of the fraction of "
                            "excess attribute leakage removed is at or above this "
                            "(default: 0.5)")
    audit.add_argument("--max-utility-cost", type=float, default=None,
                       help="... and its interval of the test-accuracy cost at or below this "
                            "(default: 0.05)")
    audit.add_argument("--torch-threads", type=int, default=None,
                       help="torch threads of every model fit, whatever --n-jobs is "
                            "(default: 1)")
    audit.add_argument("--overwrite", action="store_true",
                       help="replace a report of a different configuration in --out")
    audit.add_argument("--quick", action="store_true", help="a small budget for a first look")
    audit.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def _float_list(text):
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers such as 0.5,1,2, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


# run_audit's option names and the flags that set them, for error messages.
_OPTION_FLAGS = ("dataset", "root", "backbone", "epochs", "batch_size", "device", "seed",
                 "out", "attacks", "n_per_part", "image_size", "n_jobs", "attribute",
                 "repeats", "talos_weight", "talos_weights", "label_only_records", "n_boot",
                 "min_fraction_removed", "max_utility_cost", "torch_threads", "overwrite",
                 "label_only_max_iter", "confidence", "lr", "temperature", "reference_models",
                 "objective",
                 "encodermi_views")


def cli_words(message):
    """Rewrite Python option names in an error message as the CLI's flags
    (``root=`` and ``n_per_part must`` become ``--root`` and ``--n-per-part must``)."""
    import re

    for name in sorted(_OPTION_FLAGS, key=len, reverse=True):
        flag = "--" + name.replace("_", "-")
        message = re.sub(rf"(?<![\w-])`{name}`", flag, message)
        message = re.sub(rf"(?<![\w-]){name}=", flag + " ", message)
        message = re.sub(rf"^{name}(?= )", flag, message)
    return message


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "audit":
        return _audit(args, parser)
    parser.error(f"unknown command {args.command!r}")


def _audit(args, parser):
    from .audit import run_audit
    from .report import summary_table

    from .audit import AuditLockedError

    options = {name: getattr(args, name) for name in (
        "talos_weight", "talos_weights", "label_only_records", "n_boot", "reference_models",
        "min_fraction_removed", "max_utility_cost", "torch_threads", "objective")
        if getattr(args, name) is not None}
    attribute = None if args.attribute in ("none", "None") else args.attribute
    try:
        results = run_audit(
            args.dataset, root=args.root, backbone=args.backbone, epochs=args.epochs,
            batch_size=args.batch_size, device=args.device, seed=args.seed, out=args.out,
            attacks=args.attacks, quick=args.quick, n_per_part=args.n_per_part,
            image_size=args.image_size, progress=not args.no_progress, n_jobs=args.n_jobs,
            attribute=attribute, repeats=args.repeats, overwrite=args.overwrite, **options)
    except KeyboardInterrupt:
        print(f"\nprivlearn audit: interrupted. Finished models are checkpointed under "
              f"{args.out}/checkpoints; rerun the same command to resume.", file=sys.stderr)
        return 130
    except AuditLockedError as exc:
        print(f"privlearn audit: error: {exc}", file=sys.stderr)
        return 3
    except (ValueError, TypeError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        print(f"privlearn audit: error: {cli_words(str(exc))}\n"
              f"See 'privlearn audit --help' and the audit page of the docs "
              f"(docs/audit.rst).", file=sys.stderr)
        return 2
    print()
    print(summary_table(results))
    print(f"\nReport: {args.out}/report.md  (wall time {results['wall_seconds']:.0f} s; "
          f"findings with effects, 95% intervals and verdicts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
