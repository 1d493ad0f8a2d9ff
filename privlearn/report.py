"""Compatibility module: the audit's report now lives in :mod:`privlearn.audit.report`.

``privlearn.report`` re-exports the same names (public and the private helpers
older code used), so ``from privlearn.report import readme_table`` keeps
working; new code should import from :mod:`privlearn.audit.report`.
"""

from __future__ import annotations

from .audit import report as _report
from .audit.report import *  # noqa: F401,F403
from .audit.report import __all__  # noqa: F401

# private helpers that code outside the package has used
_f, _ci, _family, _attack, _jsonable = (_report._f, _report._ci, _report._family,
                                        _report._attack, _report._jsonable)


def __getattr__(name):
    # any other name of the moved module (e.g. a private helper)
    try:
        return getattr(_report, name)
    except AttributeError:
        raise AttributeError(f"module 'privlearn.report' has no attribute {name!r}") from None
