"""The output folder: one audit at a time, atomic files, checkpoints, no silent overwrite.

- :class:`OutputLock`: ``out/.audit.lock`` is created with ``O_EXCL`` and holds the
  owner's pid, host and start time.  A second audit on the same folder is refused
  with a message naming the folder and the running audit; a lock left by a process
  that no longer runs on this host is taken over (also when its pid was reused: by
  this very process, as after a SIGKILL in a container, or by another process that
  started later), and so is an unreadable (torn) lock older than a minute.
- :func:`atomic_write_text`: a temporary file in the same folder, then
  ``os.replace``; readers never see a half-written ``results.json`` or ``report.md``.
- :func:`check_existing_report`: a folder whose ``results.json`` comes from a
  different configuration is refused (``--out`` elsewhere, or ``--overwrite``).
- :class:`Checkpoints`: trained models under ``out/checkpoints/models-<model key>/``
  (reused by configurations that differ only in attacks or judging), attack
  results and reference models under ``out/checkpoints/<configuration key>/``.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import joblib

__all__ = ["OutputLock", "AuditLockedError", "ReportExistsError", "atomic_write_text",
           "check_existing_report", "Checkpoints", "LOCK_NAME"]

LOCK_NAME = ".audit.lock"
#: An unreadable lock file older than this (seconds) is a torn write, not a live audit.
_TORN_LOCK_SECONDS = 60.0
#: Lock files this process holds (a lock naming our pid but not in here is stale).
_HELD = set()


class AuditLockedError(RuntimeError):
    """Another audit is writing to the same output folder."""


class ReportExistsError(ValueError):
    """The output folder holds the report of a different configuration."""


def _atomic_write(path, write, binary=False):
    """Call ``write(file)`` on a temporary file beside ``path``, then ``os.replace`` it
    onto ``path``; on any failure (Ctrl-C included) the temporary file is removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8")) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path, text):
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``."""
    return _atomic_write(path, lambda f: f.write(text))


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _process_start(pid):
    """When ``pid`` started (clock ticks since boot, Linux), or None if unknown."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _lock_is_stale(owner, path, host):
    """Whether the lock ``owner`` (its parsed file, or None) belongs to no live audit."""
    if owner is None:  # empty or torn: stale once it is clearly not being written
        try:
            return time.time() - path.stat().st_mtime > _TORN_LOCK_SECONDS
        except OSError:
            return False
    pid = owner.get("pid")
    if owner.get("host") != host or not isinstance(pid, int) or isinstance(pid, bool):
        return False
    if pid == os.getpid():
        return str(path.resolve()) not in _HELD
    if not _pid_alive(pid):
        return True
    started = owner.get("process_start")
    return isinstance(started, int) and _process_start(pid) not in (None, started)


class OutputLock:
    """An exclusive lock on an output folder (a context manager).

    Examples
    --------
    >>> import tempfile
    >>> from privlearn.audit.output import OutputLock
    >>> with tempfile.TemporaryDirectory() as folder, OutputLock(folder):
    ...     pass
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.held = False

    def _owner(self):
        try:
            owner = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return owner if isinstance(owner, dict) else None

    def acquire(self):
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                "process_start": _process_start(os.getpid())}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if _lock_is_stale(owner, self.path, info["host"]):
                    self.path.unlink(missing_ok=True)
                    continue
                who = ("an unreadable lock" if owner is None else
                       f"pid {owner.get('pid')} on {owner.get('host')}, started "
                       f"{owner.get('started')}")
                raise AuditLockedError(
                    f"another audit is writing to {str(self.folder)!r} ({who}). Wait for it "
                    f"to finish or choose another --out. If no audit is running, delete "
                    f"{str(self.path)!r}.") from None
            with os.fdopen(fd, "w") as f:
                json.dump(info, f)
            self.held = True
            _HELD.add(str(self.path.resolve()))
            return self
        raise AuditLockedError(f"could not lock {str(self.folder)!r}")  # pragma: no cover

    def release(self):
        if self.held:
            owner = self._owner()
            if owner is None or owner.get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
            _HELD.discard(str(self.path.resolve()))
            self.held = False

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def check_existing_report(out, cfg, overwrite=False):
    """Refuse to replace the report of a different configuration in ``out``."""
    path = Path(out) / "results.json"
    if overwrite or not path.exists():
        return
    try:
        previous = json.loads(path.read_text())
        previous_key = previous.get("report_key")
        previous_summary = previous.get("config_summary", "an earlier version")
    except (OSError, ValueError):
        previous_key, previous_summary = None, "an unreadable results.json"
    if previous_key != cfg.report_key():
        raise ReportExistsError(
            f"{str(out)!r} already holds the report of another configuration "
            f"({previous_summary}); this run is ({cfg.summary()}). Choose another --out, "
            f"or pass --overwrite to replace it (see the audit page of the docs).")


class Checkpoints:
    """Results stored under ``out/checkpoints/<config key>/``, written atomically."""

    def __init__(self, out, cfg, models=False):
        key = f"models-{cfg.model_key()}" if models else cfg.key()
        self.folder = Path(out) / "checkpoints" / key
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.folder / "config.json",
                          json.dumps(asdict(cfg), indent=2, default=str))

    def path(self, name):
        return self.folder / f"{name}.joblib"

    def has(self, name):
        return self.path(name).exists()

    def load(self, name):
        return joblib.load(self.path(name))

    def save(self, name, value):
        _atomic_write(self.path(name), lambda f: joblib.dump(value, f), binary=True)
        return value

    def get_or_compute(self, name, compute):
        """``(value, resumed)``: the stored value, or ``compute()`` stored."""
        if self.has(name):
            try:
                return self.load(name), True
            except Exception as exc:  # a torn or incompatible file: recompute it, and say so
                warnings.warn(f"checkpoint {self.path(name)} could not be read "
                              f"({type(exc).__name__}: {str(exc)[:120]}); recomputing it",
                              UserWarning, stacklevel=2)
        return self.save(name, compute()), False
