"""Deprecated: the defense evaluation moved to :mod:`privlearn.defenses`.

``privlearn.tradeoff.compare_defenses`` (and every other name this module had)
still works and warns ``DeprecationWarning``; import from
:mod:`privlearn.defenses` instead:

=============================  ======================================
old                            new
=============================  ======================================
tradeoff.privacy_utility_curve  defenses.privacy_utility_curve
tradeoff.plot_privacy_utility   defenses.plot_privacy_utility
tradeoff.compare_defenses       defenses.compare_defenses
tradeoff.defense_table          defenses.defense_table
tradeoff.plot_defenses          defenses.plot_defenses
=============================  ======================================
"""

import sys
import warnings
from importlib import import_module

#: old name -> the module of privlearn.defenses that defines it now
_MOVED = {"privacy_utility_curve": "tradeoff", "plot_privacy_utility": "tradeoff",
          "compare_defenses": "compare", "defense_table": "compare",
          "plot_defenses": "compare",
          # private helpers some callers reached for
          "_talos_step": "tradeoff", "_check_weights": "tradeoff",
          "_defended_model": "compare", "_sensitive_fit_params": "compare",
          "_epsilon": "compare"}

__all__ = [name for name in _MOVED if not name.startswith("_")]


def __getattr__(name):
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # privlearn's own lazy re-export (``privlearn.compare_defenses``) is not
    # deprecated: no warning when the root package resolves the name.
    if sys._getframe(1).f_globals.get("__name__") != "privlearn":
        warnings.warn(f"privlearn.tradeoff.{name} is deprecated; import it from "
                      f"privlearn.defenses", DeprecationWarning, stacklevel=2)
    return getattr(import_module(f"privlearn.defenses.{_MOVED[name]}"), name)


def __dir__():
    return sorted(set(globals()) | set(__all__))
