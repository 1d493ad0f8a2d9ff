"""Train N models of one recipe in one vectorised pass (``torch.func`` + ``vmap``).

Reference models (LiRA, RMIA), shadows and seed repeats are N copies of one
recipe, differing only in ``random_state`` and training subset.  On a small
network a training step costs per-call overhead more than arithmetic, so N
small steps cost about N times one step; :func:`fit_ensemble` stacks the N
networks' parameters and buffers (``torch.func.stack_module_state``) and runs
one ``vmap``-ed ``functional_call`` per step: one forward and one backward for
all N models.  ``vmap`` over ``conv2d`` is itself lowered to a grouped
convolution, so this is the "grouped convolutions" design without a hand-built
wide module, and it works for every network of the recipes.

What stays per model
--------------------
- initial weights: each estimator is initialised by its own ``fit`` with
  ``max_epochs=0`` (its own seed, its own subset's normalisation statistics,
  ``classes_``), so the starting point is exactly the one a solo fit has;
- batches: each model walks through its own shuffled stream of its own subset
  (its own ``numpy`` generator seeded by its ``random_state``);
- augmentations (SimCLR): every image of every model's batch gets its own random
  crop, colour and blur, drawn in one batched call over all N models' batches (one
  call instead of N: on a GPU each call is a handful of small kernel launches) from
  one ``torch.Generator`` seeded by the models' seeds;
- BatchNorm: the running statistics are stacked buffers updated in place under
  ``vmap``, so each model's statistics come from its own batches;
- optimizer state: one optimizer over the stacked parameters; Adam, AdamW,
  SGD, RMSprop and Adagrad are element-wise, so this is N independent
  optimizers (the loss is the *sum* of the N models' mean losses, so each
  model's gradient is its own).  Global operations (gradient clipping,
  DP-SGD) are refused.

Difference from a solo fit: all models take the same number of steps per epoch,
``ceil(mean subset size / batch_size)``, each with a full batch (subsets of
different sizes cannot share a ``vmap`` otherwise); a solo fit takes
``ceil(n_i / batch_size)`` steps with a short last batch.  Over an epoch each
model still sees about its own subset once, and over training every record of
its subset equally often.  Exact equality with a solo fit is therefore not
expected; the tests check equivalence in distribution.
"""

from __future__ import annotations

import copy
import numbers
import time

import numpy as np
import torch
from torch.func import functional_call, stack_module_state, vmap

__all__ = ["fit_ensemble", "ensemble_support"]

#: Optimizers whose update is element-wise: one over stacked parameters is N
#: independent ones.
_ELEMENTWISE_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD,
                           torch.optim.RMSprop, torch.optim.Adagrad)


def _recipe(estimator):
    """``"supervised"``, ``"simclr"`` or None (not supported)."""
    from .encoders import SimCLR, SupervisedClassifier

    if type(estimator) is SupervisedClassifier:
        return "supervised"
    if type(estimator) is SimCLR:
        return "simclr"
    return None


def _pipeline_head(estimator):
    """``(network estimator, later steps)`` of a Pipeline whose first step is a
    network (the audit's ``SimCLR → LogisticRegression``), else ``(estimator, None)``."""
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline) and estimator.steps:
        return estimator.steps[0][1], estimator.steps[1:]
    return estimator, None


def ensemble_support(estimator):
    """Whether :func:`fit_ensemble` can train copies of ``estimator``.

    A Pipeline qualifies when its first step does (its network is trained
    batched, the later steps, e.g. a linear probe, one by one on its output).

    Returns
    -------
    ok : bool
    reason : str
        Why not (empty when ``ok``).

    Examples
    --------
    >>> import privlearn as pl
    >>> from privlearn.ensemble import ensemble_support
    >>> ensemble_support(pl.SupervisedClassifier())
    (True, '')
    >>> ensemble_support(pl.SupervisedClassifier(noise_multiplier=1.0, max_grad_norm=1.0))[0]
    False
    """
    estimator, _ = _pipeline_head(estimator)
    recipe = _recipe(estimator)
    if recipe is None:
        return False, (f"{type(estimator).__name__} is not a batched recipe (supported: "
                       "SupervisedClassifier, SimCLR)")
    if recipe == "supervised" and estimator.noise_multiplier is not None:
        return False, "DP-SGD clips and noises per batch (a global operation)"
    if getattr(estimator, "precision", None) is not None:
        return False, "mixed precision is not supported by the batched trainer"
    if estimator.callbacks not in (None, "disable", []):
        return False, "callbacks run per model and cannot see a batched step"
    if estimator.train_split is not None:
        return False, "train_split (a validation split) is not supported"
    if estimator.warm_start:
        return False, "warm_start continues a single model"
    opt = estimator.optimizer
    if not (isinstance(opt, type) and issubclass(opt, _ELEMENTWISE_OPTIMIZERS)):
        return False, f"optimizer {opt!r} is not known to be element-wise"
    if estimator.get_params_for("iterator_train").get("shuffle", True) is not True:
        return False, "only shuffled training batches are supported"
    if getattr(estimator, "channels_last", False):
        return False, "channels_last is not supported by the batched trainer"
    return True, ""


def _same(a, b):
    """Parameter equality that also works for arrays (``classes``)."""
    if a is b:
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))


def _check(estimators, datasets):
    if not isinstance(estimators, (list, tuple)) or not estimators:
        raise TypeError("fit_ensemble: `estimators` must be a non-empty list of unfitted "
                        f"estimators, got {type(estimators).__name__}.")
    if not isinstance(datasets, (list, tuple)) or len(datasets) != len(estimators):
        raise ValueError("fit_ensemble: `datasets` must be a list with one (X, y) pair (or "
                         f"X) per estimator: got {len(estimators)} estimators and "
                         f"{len(datasets) if isinstance(datasets, (list, tuple)) else datasets!r}"
                         " datasets.")
    first = estimators[0]
    ok, reason = ensemble_support(first)
    if not ok:
        raise ValueError(f"fit_ensemble: cannot batch this recipe: {reason}; fit the "
                         "models one by one (or pass fallback=True).")
    reference = {k: v for k, v in first.get_params(deep=False).items() if k != "random_state"}
    for k, est in enumerate(estimators[1:], 1):
        if type(est) is not type(first):
            raise ValueError(f"fit_ensemble: estimator {k} is a {type(est).__name__}, "
                             f"estimator 0 a {type(first).__name__}; all must share a recipe.")
        params = {k2: v for k2, v in est.get_params(deep=False).items() if k2 != "random_state"}
        differ = sorted(name for name in reference if not _same(params.get(name),
                                                                reference[name]))
        if differ:
            raise ValueError(f"fit_ensemble: estimator {k} differs from estimator 0 in "
                             f"{differ}; only `random_state` may differ.")


def _split(recipe, data):
    if isinstance(data, tuple) and len(data) == 2:
        return data
    if recipe == "supervised":
        raise ValueError("fit_ensemble: a supervised recipe needs (X, y) pairs in `datasets`.")
    return data, None


def _seed_of(estimator, k):
    state = estimator.random_state
    if isinstance(state, numbers.Integral):
        return int(state)
    if isinstance(state, np.random.RandomState):
        return int(state.randint(np.iinfo(np.int32).max))
    return int(np.random.SeedSequence().generate_state(1)[0]) + k


def _full_tensors(estimator, X, y):
    """A model's whole subset as float images on the device (and encoded labels)."""
    from torch.utils.data import DataLoader

    targets = None if y is None else estimator.label_encoder_.transform(np.asarray(y))
    dataset = estimator.get_dataset(X, targets)
    Xi, yi = next(iter(DataLoader(dataset, batch_size=len(dataset), shuffle=False)))
    x = estimator.prepare_batch(Xi)      # on the estimator's device
    return x, (None if y is None else torch.as_tensor(yi, dtype=torch.long, device=x.device))


class _Stream:
    """An endless stream of shuffled indices of one model's subset (its own generator)."""

    def __init__(self, n, seed):
        self.n, self.rng, self.buffer = n, np.random.default_rng([seed, 22]), np.empty(0, int)

    def take(self, size):
        while len(self.buffer) < size:
            self.buffer = np.concatenate([self.buffer, self.rng.permutation(self.n)])
        out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out


def fit_ensemble(estimators, datasets, *, fallback=False):
    """Fit N estimators of one recipe, each on its own data, in one batched pass.

    Parameters
    ----------
    estimators : list of estimators
        Unfitted :class:`~privlearn.SupervisedClassifier` or
        :class:`~privlearn.SimCLR` instances of one class with the same
        hyperparameters except ``random_state`` (give each its own seed).
    datasets : list
        One training set per estimator: ``(X, y)`` pairs (``y`` is ignored,
        and may be None, for SimCLR; plain ``X`` is accepted for SimCLR).
    fallback : bool, default=False
        When the recipe cannot be batched (see :func:`ensemble_support`): if
        True, fit the estimators one by one; if False, raise ``ValueError``.

    Returns
    -------
    estimators : list
        The same estimators, fitted: ``module_``, normalisation statistics,
        ``classes_``, ``history`` (one row per epoch, with ``train_loss``) and
        the optimizer state are each model's own.

    Examples
    --------
    >>> import numpy as np
    >>> import privlearn as pl
    >>> from privlearn.ensemble import fit_ensemble
    >>> data = pl.datasets.load("digits", task="digit")
    >>> X, y = data.images[:200], data.target[:200]
    >>> models = [pl.SupervisedClassifier(max_epochs=2, batch_size=64, random_state=s)
    ...           for s in range(3)]
    >>> halves = [np.random.default_rng(s).random(200) < 0.5 for s in range(3)]
    >>> fitted = fit_ensemble(models, [(X[m], y[m]) for m in halves])
    >>> fitted[0].predict_proba(X[:2]).shape, len(fitted[2].history)
    ((2, 10), 2)
    """
    if fallback and estimators and isinstance(estimators, (list, tuple)) \
            and not ensemble_support(estimators[0])[0]:
        return [est.fit(*(_split("supervised", d) if isinstance(d, tuple) else (d,)))
                for est, d in zip(estimators, datasets)]
    if not isinstance(estimators, (list, tuple)) or not estimators:
        raise TypeError("fit_ensemble: `estimators` must be a non-empty list of unfitted "
                        f"estimators, got {type(estimators).__name__}.")
    heads = [_pipeline_head(est) for est in estimators]
    if heads[0][1] is not None:
        if any(rest is None or len(rest) != len(heads[0][1]) for _, rest in heads):
            raise ValueError("fit_ensemble: either all estimators are Pipelines of the same "
                             "steps or none is.")
        networks = [net for net, _ in heads]
        fit_ensemble(networks, datasets)
        for (net, rest), data in zip(heads, datasets):
            X, y = data if isinstance(data, tuple) else (data, None)
            Z = net.transform(X)
            for k, (_, step) in enumerate(rest):   # the later steps, one by one
                if step is None or step == "passthrough":
                    continue
                if k < len(rest) - 1:
                    Z = step.fit_transform(Z, y)
                else:
                    step.fit(Z, y)
        return list(estimators)
    _check(estimators, datasets)
    first = estimators[0]
    recipe = _recipe(first)
    epochs = first.max_epochs
    pairs = [_split(recipe, d) for d in datasets]

    # 1. Initialise each model exactly as its own fit would (own seed, own
    #    normalisation statistics, classes_, optimizer): fit with 0 epochs.
    for est, (X, y) in zip(estimators, pairs):
        est.set_params(max_epochs=0)
        try:
            est.fit(X, y) if recipe == "supervised" else est.fit(X)
        finally:
            est.set_params(max_epochs=epochs)
    seeds = [_seed_of(est, k) for k, est in enumerate(estimators)]
    tensors = [_full_tensors(est, X, y if recipe == "supervised" else None)
               for est, (X, y) in zip(estimators, pairs)]
    sizes = [len(x) for x, _ in tensors]
    batch = first.batch_size
    steps = max(1, -(-int(round(np.mean(sizes))) // batch))
    batch_n = [min(batch, n) for n in sizes]
    if len(set(batch_n)) > 1:      # a subset smaller than one batch: use the smallest
        batch = min(batch_n)
    if batch < 2:
        raise ValueError("fit_ensemble: every training subset needs at least 2 samples "
                         f"(BatchNorm, contrastive negatives); sizes are {sizes}.")

    # 2. Stack the networks.
    modules = [est.module_ for est in estimators]
    for m in modules:
        m.train()
    params, buffers = stack_module_state(modules)
    base = copy.deepcopy(modules[0]).to("meta")
    names = list(params)
    opt_kwargs = {"lr": first.lr, **first.get_params_for("optimizer")}
    optimizer = first.optimizer([params[n] for n in names], **opt_kwargs)
    criterion = first.criterion_
    device = first._compute_device()

    if recipe == "supervised":
        def loss_one(p, b, x, y):
            return criterion(functional_call(base, (p, b), (x,)), y)
    else:
        def loss_one(p, b, x, y):
            _, z = functional_call(base, (p, b), (x,))
            z1, z2 = z.chunk(2)
            return criterion(z1, z2)
    batched_loss = vmap(loss_one, in_dims=(0, 0, 0, 0 if recipe == "supervised" else None),
                        randomness="different")

    streams = [_Stream(n, s) for n, s in zip(sizes, seeds)]
    # One augmentation module for all: _check made every model's ``augment`` and
    # ``augment__*`` equal, and the module holds no state of its own.
    augment = getattr(first, "augment_", None)
    generator = torch.Generator(device=device).manual_seed(
        int(np.random.SeedSequence(seeds).generate_state(1)[0]))
    for est in estimators:
        est.history.clear()

    # 3. Train: one vmapped forward/backward and one optimizer step per batch.
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        epoch_losses = []
        for _ in range(steps):
            picks = [torch.as_tensor(s.take(batch)) for s in streams]
            xb = torch.stack([x[i] for (x, _), i in zip(tensors, picks)])   # (N, B, ...)
            if recipe == "simclr":
                # (N, 2B, C, H, W): each model's two views of its own batch, from one
                # augmentation call over all N doubled batches.
                doubled = torch.cat([xb, xb], dim=1)
                xb = augment(doubled.flatten(0, 1), generator=generator).view(doubled.shape)
                yb = None
            else:
                yb = torch.stack([y[i] for (_, y), i in zip(tensors, picks)])
            losses = batched_loss(params, buffers, xb, yb)
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            optimizer.step()
            epoch_losses.append(losses.detach())
        per_model = torch.stack(epoch_losses).mean(0).tolist()
        seconds = time.perf_counter() - started
        for est, loss in zip(estimators, per_model):
            est.history.new_epoch()
            est.history.record("epoch", epoch)
            est.history.record("train_loss", float(loss))
            est.history.record("dur", seconds)

    # 4. Give every estimator its slice: weights, BatchNorm statistics, optimizer state.
    stacked_state = optimizer.state
    with torch.no_grad():
        for k, est in enumerate(estimators):
            state = {n: params[n][k].detach().clone() for n in names}
            state.update({n: buffers[n][k].clone() for n in buffers})
            est.module_.load_state_dict(state)
            own = dict(est.module_.named_parameters())
            for n in names:
                slot = stacked_state.get(params[n])
                if slot:
                    est.optimizer_.state[own[n]] = {
                        key: (value[k].clone() if torch.is_tensor(value) and value.ndim
                              and value.shape[0] == len(estimators) else
                              (value.clone() if torch.is_tensor(value) else value))
                        for key, value in slot.items()}
            est._warn_if_diverged()
    return list(estimators)
