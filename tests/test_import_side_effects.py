"""Importing privlearn touches no network and writes no files; data loaders write
only under the ``root`` they are given.

Each check runs in a fresh interpreter whose ``HOME``, ``TMPDIR``, cache folders
and working directory are empty temporary folders, with every network entry point
of :mod:`socket` replaced by one that records the attempt and raises.  The folders
are compared file by file (path, size, modification time) before and after.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]

# Prepended to every child script: refuse and record any network access.
NO_NETWORK = textwrap.dedent("""
    import socket, sys
    ATTEMPTS = []

    def _refuse(what):
        def refuse(*args, **kwargs):
            ATTEMPTS.append(what)
            raise OSError(f"network access during the test: {what}")
        return refuse

    _socket_init = socket.socket.__init__

    def _init(self, family=-1, *args, **kwargs):
        if family in (socket.AF_INET, socket.AF_INET6):
            _refuse("socket")()
        _socket_init(self, family, *args, **kwargs)

    socket.socket.__init__ = _init
    for _name in ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex"):
        setattr(socket, _name, _refuse(_name))
""")


def _snapshot(folder, skip=None):
    """Every file under ``folder`` (except under ``skip``): path -> (size, mtime)."""
    out = {}
    for path in Path(folder).rglob("*"):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        stat = path.lstat()
        out[str(path.relative_to(folder))] = (stat.st_size, stat.st_mtime_ns)
    return out


def _run_isolated(tmp_path, script, *, skip=None, timeout=240):
    """Run ``script`` in a fresh interpreter with an empty home, cwd and temp folder.

    Returns the script's JSON output and the files added or changed under
    ``tmp_path`` (outside ``skip``).
    """
    home, cwd, tmpdir = (tmp_path / name for name in ("home", "cwd", "tmp"))
    for folder in (home, cwd, tmpdir):
        folder.mkdir(exist_ok=True)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("XDG_", "TORCH_", "MPL", "HF_", "SKLEARN_"))}
    env.update(HOME=str(home), TMPDIR=str(tmpdir), PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])))
    before = _snapshot(tmp_path, skip)
    result = subprocess.run([sys.executable, "-c", NO_NETWORK + textwrap.dedent(script)],
                            cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    after = _snapshot(tmp_path, skip)
    changed = sorted(path for path in after if before.get(path) != after[path])
    return json.loads(result.stdout.strip().splitlines()[-1]), changed


def test_import_touches_no_network_and_writes_nothing(tmp_path):
    report, changed = _run_isolated(tmp_path, """
        import json
        import privlearn
        torch_on_import = "torch" in sys.modules
        for name in privlearn.__all__:          # every lazy public name and submodule
            getattr(privlearn, name)
        from privlearn import cli
        cli.build_parser()
        print(json.dumps({"attempts": ATTEMPTS, "torch_on_import": torch_on_import,
                          "torch_later": "torch" in sys.modules}))
    """)
    assert report["attempts"] == []
    assert not report["torch_on_import"], "`import privlearn` imports torch eagerly"
    assert report["torch_later"]               # the lazy names did load the models
    assert changed == [], f"import wrote files: {changed}"


def test_the_network_guard_works(tmp_path):
    """The same guard does catch a connection attempt (so the test above can fail)."""
    report, _ = _run_isolated(tmp_path, """
        import json, urllib.request
        try:
            urllib.request.urlopen("http://example.com", timeout=1)
        except OSError:
            pass
        print(json.dumps({"attempts": ATTEMPTS}))
    """)
    assert report["attempts"]


def _write_fixture_data(root):
    """Tiny UTKFace, Places and CIFAR-10 folders in their on-disk formats."""
    import pickle

    faces = root / "UTKFace"
    faces.mkdir(parents=True)
    for k, name in enumerate(["25_0_0_20170101.jpg", "31_1_1_20170102.jpg",
                              "40_0_2_20170103.jpg", "52_1_3_20170104.jpg"]):
        Image.fromarray(np.full((16, 16, 3), 50 * k, np.uint8)).save(faces / name)
    for rel in ("k/kitchen/1.jpg", "k/kitchen/2.jpg", "b/beach/1.jpg"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((20, 20, 3), 99, np.uint8)).save(root / rel)
    (root / "index.txt").write_text("k/kitchen/1.jpg 0 0\nk/kitchen/2.jpg 0 0\n"
                                    "b/beach/1.jpg 1 1\n")
    base = root / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(base / name, "wb") as fh:
            pickle.dump({"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8),
                         "labels": [0, 1]}, fh)
    with open(base / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, fh)


def test_data_loaders_write_only_under_root(tmp_path):
    root = tmp_path / "data"
    _write_fixture_data(root)
    root_before = _snapshot(root)
    report, changed = _run_isolated(tmp_path, f"""
        import json, os
        import privlearn as pl
        root = {str(root)!r}
        sizes = {{}}
        sizes["digits"] = len(pl.datasets.load("digits").images)
        if os.path.isdir("/usr/share/datasets/fashion-mnist"):
            sizes["fashion-mnist"] = len(pl.datasets.load("fashion-mnist",
                                                          split="test").images)
        sizes["utkface"] = len(pl.datasets.load("utkface", root=root, image_size=8).images)
        sizes["places"] = len(pl.datasets.load("places", root=root, image_size=8).images)
        parts = pl.datasets.paper_split(pl.datasets.load("digits"), random_state=0)
        pl.membership_set(parts.target_train, parts.target_test)
        torchvision_before = "torchvision" in sys.modules
        # torchvision checks every CIFAR file against the official MD5; tiny
        # fixture files cannot match it (the loader itself runs unpatched).
        import torchvision.datasets.utils as tv_utils
        tv_utils.check_md5 = lambda *args, **kwargs: True
        sizes["cifar10"] = len(pl.datasets.load("cifar10", root=root).images)
        print(json.dumps({{"attempts": ATTEMPTS, "sizes": sizes,
                          "torchvision_before": torchvision_before}}))
    """, skip=root)
    assert report["attempts"] == []
    assert report["sizes"]["utkface"] == 4 and report["sizes"]["places"] == 3
    assert report["sizes"]["cifar10"] == 12 and report["sizes"]["digits"] == 1797
    # Importing torchvision (the CIFAR-10 / STL-10 / CelebA loaders are torchvision's)
    # imports torch._dynamo, which creates its empty cache folder in the temp
    # folder: torch's doing, not a loader's.  Nothing else may appear.
    assert not report["torchvision_before"], "a PIL-based loader imported torchvision"
    torch_cache = [path for path in changed if path.startswith("tmp/torchinductor_")]
    assert all(not (tmp_path / path).is_file() for path in torch_cache)
    outside = [path for path in changed if path not in ("tmp", *torch_cache)]
    assert outside == [], f"a loader wrote outside its root: {outside}"
    # The user's files under root are left as they were (new files there are allowed).
    root_after = _snapshot(root)
    assert all(root_after.get(path) == stamp for path, stamp in root_before.items())


@pytest.mark.parametrize("module", ["privlearn.datasets", "privlearn.records"])
def test_light_modules_do_not_import_torch(module, tmp_path):
    report, _ = _run_isolated(tmp_path, f"""
        import json, importlib
        importlib.import_module({module!r})
        print(json.dumps({{"torch": "torch" in sys.modules}}))
    """)
    assert not report["torch"]
