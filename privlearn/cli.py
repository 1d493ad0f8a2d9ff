"""The ``privlearn`` command line: a thin layer over :func:`privlearn.audit.run_audit`."""

from __future__ import annotations

import argparse
import sys

from . import datasets

__all__ = ["main", "build_parser", "cli_words"]


def _attack_list(text):
    from . import catalogue

    attacks = catalogue.names("attacks")  # at call time: plug-in attacks count
    names = [a.strip() for a in text.split(",") if a.strip()]
    if names == ["all"]:
        return list(attacks)
    unknown = [a for a in names if a not in attacks]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown attack(s) {', '.join(unknown) or '(none)'}; valid: {', '.join(attacks)}")
    return names


def _float_list(text):
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers such as 0.5,1,2, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def _audit_config():
    from .audit import config  # lazy: keeps `privlearn --help` free of the audit's imports
    return config


def _listing(section, kind=None):
    from . import catalogue

    return "; ".join(f"{n}: {s.doc}" if s.doc else n
                     for n, s in catalogue.section(section).items()
                     if kind is None or s.kind == kind)


#: The help of each :class:`~privlearn.audit.AuditConfig` field's flag
#: (``--name-with-dashes``): one entry per field, so no option lacks a flag (a test
#: checks it).  A callable is evaluated when the parser is built (catalogue listings).
_FLAG_HELP = {
    "dataset": lambda: (f"data set name: {', '.join(datasets.available())} (default: "
                        f"{datasets.DEFAULT_DATASET}, embedded)"),
    "root": "folder holding the data set's files",
    "attribute": ("digits only: the sensitive attribute, 'magnitude' (low 0-4 / high 5-9, "
                  "independent of the parity task; the default) or 'digit' (determines the "
                  "task)"),
    "backbone": lambda: f"encoder network (default: cnn). {_listing('backbones')}",
    "objective": lambda: ("self-supervised objective of the contrastive family and of Talos "
                          f"(default: simclr). {_listing('objectives')}"),
    "epochs": "training epochs of every model (default: 100; 15 with --quick)",
    "batch_size": "default: 128",
    "device": "torch device (default: cpu)",
    "seed": "default: 0",
    "repeats": ("repeat the protocol with re-drawn seeds; intervals then span seeds "
                "(default: 1)"),
    "attacks": lambda: ("comma-separated subset of the attacks, or 'all' (default: all). "
                        f"{_listing('attacks')}"),
    "n_per_part": "samples in each of the four parts (default: as many as possible)",
    "image_size": "resize images when loading",
    "temperature": "SimCLR's NT-Xent temperature (default: 0.5)",
    "lr": "learning rate of every model (default: 0.001)",
    "talos_weight": "Talos's adversary weight λ judged by the findings (default: 1)",
    "talos_weights": ("comma-separated λ values of the trade-off sweep (default: 0.5,1,2; "
                      "1 with --quick)"),
    "label_only_records": ("records attacked by the label-only attack (default: 150; 60 "
                           "with --quick)"),
    "label_only_max_iter": ("HopSkipJump iterations of the label-only attack (default: 5; "
                            "3 with --quick)"),
    "reference_models": ("reference models per family for LiRA and RMIA, trained once and "
                         "shared (0 skips both; default: 2)"),
    "encodermi_views": "augmented views per image for EncoderMI (default: 10)",
    "n_boot": "bootstrap resamples of each interval (default: 1000)",
    "confidence": "level of every interval (default: 0.95)",
    "seed_inflation": lambda: ("with one repeat, widen each record-level interval by this "
                               "factor to cover training randomness (measured seed spread; "
                               "1: bare bootstrap; default: "
                               f"{_audit_config().SEED_INFLATION:g})"),
    "min_fraction_removed": ("Talos's finding holds only if its interval of the fraction of "
                             "excess attribute leakage removed is at or above this "
                             "(default: 0.5)"),
    "max_utility_cost": ("... and its interval of the test-accuracy cost at or below this "
                         "(default: 0.05)"),
    "torch_threads": "torch threads of every model fit, whatever --n-jobs is (default: 1)",
    "quick": "a small budget for a first look",
    "n_jobs": "train models in this many processes (-1: all cores; default: 1)",
}
#: AuditConfig fields with no flag (internal).
_NO_FLAG = ("extra",)
#: Flags whose value is not the field's plain type.
_FLAG_TYPES = {"attacks": _attack_list, "talos_weights": _float_list}


def _flag_type(annotation):
    """The argparse type of a dataclass field (annotations are strings here)."""
    head = str(annotation).split("|")[0].strip()
    return {"bool": bool, "int": int, "float": float}.get(head, str)


def build_parser():
    from dataclasses import fields

    from . import catalogue
    from .audit.config import AuditConfig

    parser = argparse.ArgumentParser(
        prog="privlearn",
        description="Measure the privacy risks of contrastive learning (He & Zhang, CCS 2021).")
    sub = parser.add_subparsers(dest="command", required=True)
    audit = sub.add_parser(
        "audit", help="run the paper's protocol and write a report",
        description="Train target and shadow models (contrastive, supervised, Talos), run "
                    "every attack, and write report.md, results.json and ROC plots. Rerunning "
                    "the same command resumes from checkpoints under --out.")
    # One flag per AuditConfig field.  Choices and listings read the catalogue when
    # the parser is built (plug-ins registered before count); --attacks at parse time.
    choices = {"backbone": catalogue.names("backbones"),
               "objective": catalogue.names("objectives")}
    for f in fields(AuditConfig):
        if f.name in _NO_FLAG:
            continue
        help_ = _FLAG_HELP[f.name]
        help_ = help_() if callable(help_) else help_
        flag = "--" + f.name.replace("_", "-")
        kind = _flag_type(f.type)
        if kind is bool:
            audit.add_argument(flag, action="store_true", default=None, help=help_)
        else:
            audit.add_argument(flag, type=_FLAG_TYPES.get(f.name, kind), default=None,
                               choices=choices.get(f.name), help=help_)
    audit.add_argument("--out", default="audit-report",
                       help="output folder (default: %(default)s)")
    audit.add_argument("--overwrite", action="store_true",
                       help="replace a report of a different configuration in --out")
    audit.add_argument("--no-progress", action="store_true", help="hide progress bars")
    from .audit.compare import add_subparser as add_compare
    from .own_audit.cli import add_subparser as add_audit_model

    add_audit_model(sub)
    add_compare(sub)
    return parser


def _option_flags():
    """run_audit's option names that have a flag (for :func:`cli_words`)."""
    from dataclasses import fields

    from .audit.config import AuditConfig

    return tuple(f.name for f in fields(AuditConfig) if f.name not in _NO_FLAG) + (
        "out", "overwrite")


def cli_words(message):
    """Rewrite Python option names in an error message as the CLI's flags
    (``root=`` and ``n_per_part must`` become ``--root`` and ``--n-per-part must``)."""
    import re

    for name in sorted(_option_flags(), key=len, reverse=True):
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
    if hasattr(args, "func"):  # audit-model, compare
        return args.func(args)
    parser.error(f"unknown command {args.command!r}")


def _audit(args, parser):
    from dataclasses import fields

    from .audit import AuditLockedError, run_audit
    from .audit.config import AuditConfig
    from .report import summary_table

    # every AuditConfig flag given on the command line (None: the audit's default)
    options = {f.name: getattr(args, f.name) for f in fields(AuditConfig)
               if f.name not in _NO_FLAG and getattr(args, f.name) is not None}
    attribute = options.pop("attribute", "auto")
    options["attribute"] = None if attribute in ("none", "None") else attribute
    options.setdefault("quick", False)
    try:
        results = run_audit(out=args.out, progress=not args.no_progress,
                            overwrite=args.overwrite, **options)
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
          f"findings with effects, {results['config']['confidence']:.0%} intervals and "
          f"verdicts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
