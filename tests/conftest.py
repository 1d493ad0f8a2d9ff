"""Shared fixtures: small real data, made once per session."""

import os

import numpy as np
import pytest
import torch

import privlearn as pl

# Two cores: keep torch from oversubscribing them during tests.
torch.set_num_threads(min(2, os.cpu_count() or 1))

FASHION_AVAILABLE = os.path.isdir("/usr/share/datasets/fashion-mnist")

# CI (.ci/run) sets PRIVLEARN_REQUIRE_ALL_TESTS=1: a module or test skipped because
# `pytest.importorskip` could not import a dependency then *fails*, naming it, so a
# dependency missing from the `test` extra cannot hide a whole module on a fresh machine.
REQUIRE_ALL_TESTS = os.environ.get("PRIVLEARN_REQUIRE_ALL_TESTS", "") not in ("", "0")
_MISSING_IMPORT = "could not import"


def _skip_reason(report):
    """The reason of a skipped report (collection or test), or ``""``."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr or "")


def _fail_missing_import(report):
    if REQUIRE_ALL_TESTS and report.skipped:
        reason = _skip_reason(report)
        if _MISSING_IMPORT in reason:
            report.outcome = "failed"
            report.longrepr = (f"PRIVLEARN_REQUIRE_ALL_TESTS is set and {report.nodeid} was "
                               f"skipped for a missing dependency ({reason}); add it to the "
                               "`test` extra in pyproject.toml")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_missing_import(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_missing_import(outcome.get_result())


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for a test: on a shared 2-core machine two threads per
    process oversubscribe the cores and slow small networks down many times.
    Use it module-wide with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's digits as a privlearn Bunch (task parity, attribute digit)."""
    return pl.datasets.load("digits")


@pytest.fixture(scope="session")
def digits_parts(digits):
    """The paper's four-way split of digits."""
    return pl.datasets.paper_split(digits, random_state=0)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
