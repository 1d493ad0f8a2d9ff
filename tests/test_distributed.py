"""Accelerate (one process, and two CPU processes over gloo), the cross-process
NT-Xent gradient, per-fit checkpoints, and model selection on a dask cluster."""

import json
import os
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score, cross_validate
from sklearn.pipeline import make_pipeline
from skorch.callbacks import Checkpoint

import privlearn as pl
from privlearn.distributed import (AcceleratedSimCLR, AcceleratedSupervisedClassifier,
                                   AcceleratedTalos, PerFitCheckpoint,
                                   nt_xent_across_processes)
from privlearn.losses import nt_xent

accelerate = pytest.importorskip("accelerate")

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(max_epochs=2, batch_size=64, random_state=0)


@pytest.fixture(scope="module")
def accelerator():
    # One Accelerator per process (accelerate keeps its state in a singleton).
    return accelerate.Accelerator(cpu=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def torch_threads(n):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --- the mixin path on one process equals the plain path ----------------------------
def test_accelerated_simclr_trains_and_transforms_like_simclr(digits, accelerator):
    X = digits.images[:128]
    plain = pl.SimCLR(**FAST).fit(X)
    accelerated = AcceleratedSimCLR(accelerator=accelerator, **FAST).fit(X)
    np.testing.assert_allclose(accelerated.history_[:, "train_loss"],
                               plain.history_[:, "train_loss"], rtol=1e-6)
    np.testing.assert_allclose(accelerated.transform(X), plain.transform(X),
                               rtol=1e-5, atol=1e-6)
    assert accelerated.get_feature_names_out()[0] == "acceleratedsimclr0"
    assert accelerated.criterion_.gather is False          # one process: local negatives


def test_accelerated_talos_and_supervised_match_their_plain_versions(digits, accelerator):
    X, y, s = digits.images[:128], digits.target[:128], digits.sensitive[:128]
    plain = pl.Talos(adversary_weight=1.0, **FAST).fit(X, sensitive_features=s)
    accelerated = AcceleratedTalos(accelerator=accelerator, adversary_weight=1.0, **FAST)
    accelerated.fit(X, sensitive_features=s)
    for key in ("train_loss", "adversary_acc"):
        np.testing.assert_allclose(accelerated.history_[:, key], plain.history_[:, key],
                                   rtol=1e-6)
    np.testing.assert_allclose(accelerated.transform(X), plain.transform(X), atol=1e-6)

    clf = pl.SupervisedClassifier(**FAST).fit(X, y)
    accelerated_clf = AcceleratedSupervisedClassifier(accelerator=accelerator, **FAST)
    accelerated_clf.fit(X, y)
    np.testing.assert_allclose(accelerated_clf.predict_proba(X), clf.predict_proba(X),
                               atol=1e-6)


def test_accelerated_estimators_clone_and_check_their_parameters(digits, accelerator):
    model = AcceleratedSimCLR(accelerator=accelerator, temperature=0.3, **FAST)
    params = model.get_params()
    assert "_wrapped_with_accelerator" not in params and params["temperature"] == 0.3
    copy = clone(model)
    assert type(copy) is AcceleratedSimCLR and copy.accelerator is not None
    with pytest.raises(ValueError, match="mixed precision on the accelerator"):
        AcceleratedSimCLR(accelerator=accelerator, precision="bf16", **FAST).fit(
            digits.images[:64])


def test_accelerated_talos_refuses_fp16_and_accumulation(digits):
    from types import SimpleNamespace

    X, s = digits.images[:64], digits.sensitive[:64]
    for settings in ({"mixed_precision": "fp16", "gradient_accumulation_steps": 1},
                     {"mixed_precision": "no", "gradient_accumulation_steps": 2}):
        talos = AcceleratedTalos(accelerator=SimpleNamespace(**settings), **FAST)
        with pytest.raises(ValueError, match="not supported"):
            talos.fit(X, sensitive_features=s)
        assert not talos.initialized_


def test_accelerated_simclr_is_quiet_unless_verbose(digits, accelerator, capsys):
    AcceleratedSimCLR(accelerator=accelerator, **FAST).fit(digits.images[:64])
    assert "train_loss" not in capsys.readouterr().out
    AcceleratedSimCLR(accelerator=accelerator, verbose=1, **FAST).fit(digits.images[:64])
    assert "train_loss" in capsys.readouterr().out


# --- NT-Xent across two real processes (gloo) ----------------------------------------
def _gather_worker(rank, world, port, sizes, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    try:
        gen = torch.Generator().manual_seed(0)
        m = sum(sizes)
        z1, z2 = torch.randn(m, 6, generator=gen), torch.randn(m, 6, generator=gen)
        start = sum(sizes[:rank])
        part = slice(start, start + sizes[rank])
        local1 = z1[part].clone().requires_grad_()
        local2 = z2[part].clone().requires_grad_()
        # Each process's loss weighted by its share, as DDP's averaging does for
        # equal shares: the sum over processes is NT-Xent on the whole batch.
        loss = nt_xent_across_processes(local1, local2, 0.5) * sizes[rank] / m
        loss.backward()
        torch.save({"loss": loss.detach(), "g1": local1.grad, "g2": local2.grad},
                   os.path.join(out, f"rank{rank}.pt"))
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("sizes", [(3, 5)])
def test_two_processes_get_the_whole_batch_loss_and_gradient(sizes, tmp_path):
    torch.multiprocessing.spawn(_gather_worker, args=(2, free_port(), sizes, str(tmp_path)),
                                nprocs=2)
    parts = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    gen = torch.Generator().manual_seed(0)
    m = sum(sizes)
    z1 = torch.randn(m, 6, generator=gen).requires_grad_()
    z2 = torch.randn(m, 6, generator=gen).requires_grad_()
    ref = nt_xent(z1, z2, 0.5)
    ref.backward()
    assert torch.allclose(sum(p["loss"] for p in parts), ref, atol=1e-6)
    assert torch.allclose(torch.cat([p["g1"] for p in parts]), z1.grad, atol=1e-6)
    assert torch.allclose(torch.cat([p["g2"] for p in parts]), z2.grad, atol=1e-6)


@pytest.mark.slow
def test_example_on_two_cpu_processes_keeps_them_in_step(tmp_path):
    # Talos with bf16 on two gloo processes: the processes must end with the same
    # encoder and adversary weights, and transform must gather every sample.
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "ACCELERATE_MIXED_PRECISION": "bf16",
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", str(free_port()), str(ROOT / "examples" / "accelerate_simclr.py"),
           "--epochs", "1", "--talos", "1.0", "--out", str(tmp_path)]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["mixed_precision"] == "bf16"
    assert summary["finite"] and summary["probe_accuracy"] > 0.5
    assert ranks[0]["weights"] == ranks[1]["weights"]
    assert ranks[0]["n_train_repr"] == ranks[1]["n_train_repr"] == 1257
    # The saved parameters load into a plain Talos, which then gives the
    # representations the two processes computed (both under bf16 autocast).
    probe = np.load(tmp_path / "probe.npz")
    talos = pl.Talos(max_epochs=0, precision="bf16", random_state=0)
    talos.fit(probe["images"], sensitive_features=np.arange(32) % 2)
    talos.load_params(f_params=tmp_path / "params.pt")
    np.testing.assert_allclose(talos.transform(probe["images"]), probe["h"],
                               atol=0.02 * np.abs(probe["h"]).max())


# --- checkpoints of parallel fits ----------------------------------------------------
def test_per_fit_checkpoint_gives_each_fit_its_own_directory(digits, tmp_path):
    X = digits.images[:96]
    checkpoint = PerFitCheckpoint(dirname=str(tmp_path), monitor="train_loss_best",
                                  load_best=True)
    first = pl.SimCLR(callbacks=[checkpoint], **FAST)
    second = clone(first)
    assert second.callbacks[0].get_params()["dirname"] == str(tmp_path)
    first.fit(X)
    second.fit(X)
    dirs = {dict(net.callbacks_)["PerFitCheckpoint"].fit_dirname_ for net in (first, second)}
    assert len(dirs) == 2 and all(Path(d, "params.pt").is_file() for d in dirs)
    assert not (tmp_path / "params.pt").exists()
    # partial_fit continues in the same directory; clone starts a new one.
    cb = dict(first.callbacks_)["PerFitCheckpoint"]
    before = cb.fit_dirname_
    first.partial_fit(X)
    assert cb.fit_dirname_ == before
    assert "fit_dirname_" not in clone(first).callbacks[0].__dict__
    # The checkpoint restores this fit's weights.
    restored = pl.SimCLR(callbacks=[clone(checkpoint)], **FAST).fit(X[:64])
    restored.load_params(checkpoint=cb)
    np.testing.assert_allclose(restored.transform(X), first.transform(X), atol=1e-6)


def pipeline(checkpoint=None):
    encoder = pl.SimCLR(max_epochs=1, batch_size=32, random_state=0,
                        callbacks=None if checkpoint is None else [checkpoint])
    return make_pipeline(encoder, LogisticRegression(max_iter=500))


GRID = {"simclr__temperature": [0.2, 0.5]}


def test_plain_checkpoint_collides_across_the_fits_of_a_search(digits, tmp_path):
    # Why PerFitCheckpoint exists: the clones of a search share one directory,
    # so every fold's checkpoint but the last is overwritten.
    X, y = digits.images[:96], digits.target[:96]
    plain = Checkpoint(dirname=str(tmp_path), monitor="train_loss_best")
    folds = cross_validate(pipeline(plain), X, y, cv=2, return_estimator=True)["estimator"]
    saved = torch.load(tmp_path / "params.pt", weights_only=True)

    def same(model):
        state = model[0].module_.state_dict()
        return all(torch.equal(state[k], saved[k]) for k in saved)

    assert [same(model) for model in folds] == [False, True]


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("dask.distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_grid_search_on_a_dask_cluster_equals_the_sequential_run(digits, tmp_path,
                                                                 dask_client):
    import joblib
    from dask.distributed import get_task_stream

    X, y = digits.images[:160], digits.target[:160]
    # The workers run torch on one thread each (dask sets OMP_NUM_THREADS=1).
    assert set(dask_client.run(torch.get_num_threads).values()) == {1}
    with torch_threads(1):
        sequential = GridSearchCV(pipeline(PerFitCheckpoint(dirname=str(tmp_path / "seq"),
                                                            monitor="train_loss_best")),
                                  GRID, cv=2).fit(X, y)
        sequential_cv = cross_val_score(pipeline(), X, y, cv=2)

    checkpoint = PerFitCheckpoint(dirname=str(tmp_path / "dask"), monitor="train_loss_best")
    with get_task_stream(dask_client) as tasks, joblib.parallel_config(backend="dask"):
        search = GridSearchCV(pipeline(checkpoint), GRID, cv=2, n_jobs=-1).fit(X, y)
        scores = cross_val_score(pipeline(), X, y, cv=2, n_jobs=-1)
    assert len(tasks.data) >= 4 and len({t["worker"] for t in tasks.data}) == 2

    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        np.testing.assert_allclose(search.cv_results_[key], sequential.cv_results_[key],
                                   atol=1e-12)
    np.testing.assert_allclose(scores, sequential_cv, atol=1e-12)
    assert search.best_params_ == sequential.best_params_
    np.testing.assert_allclose(search.best_estimator_[0].transform(X[:8]),
                               sequential.best_estimator_[0].transform(X[:8]), atol=1e-5)
    # 2 candidates × 2 folds on the workers + the refit here: 5 directories, no clash.
    fits = [d for d in (tmp_path / "dask").iterdir() if (d / "params.pt").is_file()]
    assert len(fits) == 5


# --- every objective trains with its own loss under Accelerate ----------------------
def test_accelerated_talos_trains_byol_with_byols_loss(digits, accelerator):
    from privlearn.losses import NormalizedMSELoss
    X, s = digits.images[:128], digits.sensitive[:128]
    fast = dict(max_epochs=1, batch_size=64, random_state=0, adversary_weight=0.0)
    plain = pl.Talos(objective="byol", **fast).fit(X, sensitive_features=s)
    accelerated = AcceleratedTalos(accelerator=accelerator, objective="byol", **fast)
    accelerated.fit(X, sensitive_features=s)
    assert type(accelerated.criterion_) is NormalizedMSELoss
    np.testing.assert_allclose(accelerated.history[:, "train_loss"],
                               plain.history[:, "train_loss"], rtol=1e-5)


def test_accelerated_talos_refuses_nt_xent_for_another_objective(digits, accelerator):
    from privlearn.distributed import DistributedNTXentLoss
    talos = AcceleratedTalos(accelerator=accelerator, objective="byol",
                             criterion=DistributedNTXentLoss, max_epochs=1, batch_size=64)
    with pytest.raises(ValueError, match="criterion.*byol"):
        talos.fit(digits.images[:64], sensitive_features=digits.sensitive[:64])
    assert not talos.history          # refused before any epoch


def _objectives_worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(world), ACCELERATE_USE_CPU="true")
    torch.set_num_threads(1)
    acc = accelerate.Accelerator(cpu=True)
    data = pl.datasets.load("digits")
    X, s = data.images[:64], data.sensitive[:64]
    result = {}
    from privlearn import catalogue
    for objective in catalogue.OBJECTIVES:
        extra = {"queue_size": 32} if objective == "moco" else {}
        talos = AcceleratedTalos(accelerator=acc, objective=objective, max_epochs=1,
                                 batch_size=16, random_state=0, adversary_weight=0.5, **extra)
        talos.fit(X, sensitive_features=s)
        net = talos._network()
        result[objective] = {
            "criterion": type(talos.criterion_).__name__,
            "gather": getattr(talos.criterion_, "gather", None),
            "loss": float(talos.history[-1, "train_loss"]),
            "weights": float(sum(p.double().sum() for p in net.parameters())),
            "queue": float(net.queue.double().sum()) if hasattr(net, "queue") else None}
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(result, f)
    acc.wait_for_everyone()
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_processes_train_every_objective_with_its_own_loss(tmp_path):
    torch.multiprocessing.spawn(_objectives_worker, args=(2, free_port(), str(tmp_path)),
                                nprocs=2)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    expected = {"simclr": "NTXentLoss", "moco": "InfoNCELoss", "byol": "NormalizedMSELoss",
                "simsiam": "NegativeCosineLoss", "barlow_twins": "BarlowTwinsLoss"}
    for objective, loss in expected.items():
        for rank in ranks:
            assert rank[objective]["criterion"] == loss
            assert np.isfinite(rank[objective]["loss"])
        # DDP keeps the encoders equal; the gathered queue keeps MoCo's queues equal.
        assert ranks[0][objective]["weights"] == pytest.approx(ranks[1][objective]["weights"])
        assert ranks[0][objective]["queue"] == ranks[1][objective]["queue"]
    assert ranks[0]["simclr"]["gather"] is True and ranks[0]["barlow_twins"]["gather"] is True
