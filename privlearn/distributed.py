"""Training on several GPUs or machines, and fitting many models in parallel.

- :class:`AcceleratedSimCLR`, :class:`AcceleratedTalos` and
  :class:`AcceleratedSupervisedClassifier`: the estimators on Hugging Face
  Accelerate through skorch's :class:`~skorch.hf.AccelerateMixin` (data-parallel
  training on several GPUs or machines, mixed precision, gradient accumulation),
  launched with ``accelerate launch``.  :class:`AcceleratedEncoderMixin` makes
  one of any subclass of the estimators.
- :class:`DistributedNTXentLoss`: NT-Xent whose negatives are the views of every
  process's batch, not just the local one (:func:`gather_with_grad`).  Each
  objective owns what its loss needs across processes (``Objective.gathers``:
  NT-Xent and Barlow Twins gather, BYOL and SimSiam need nothing, MoCo enqueues
  every process's keys); the primitives live in :mod:`privlearn.losses`.
- :class:`PerFitCheckpoint`: a skorch ``Checkpoint`` that writes each fit to its
  own directory, so that the parallel fits of ``GridSearchCV`` or
  ``cross_val_score`` (joblib, dask) never overwrite each other's files.

Model selection over many machines needs nothing from here beyond
:class:`PerFitCheckpoint`: scikit-learn's searches run their fits through
joblib, and joblib's dask backend spreads them over a ``dask.distributed``
cluster (see :doc:`/scaling`).

``accelerate`` (``pip install privlearn[accelerate]``) is only needed to build
the ``Accelerator`` passed to the accelerated estimators; ``dask``
(``privlearn[distributed]``) only for a dask cluster.
"""

from __future__ import annotations

import os
import uuid

import torch
import torch.distributed as dist
from skorch.callbacks import Checkpoint
from skorch.hf import AccelerateMixin
from skorch.utils import noop

from .encoders import SimCLR, SupervisedClassifier
from .losses import (NTXentLoss, _world_size, gather_with_grad,  # noqa: F401 (re-exported)
                     gather_without_grad, nt_xent, nt_xent_across_processes)
from .talos import Talos

__all__ = ["AcceleratedEncoderMixin", "AcceleratedSimCLR", "AcceleratedTalos",
           "AcceleratedSupervisedClassifier", "DistributedNTXentLoss", "gather_with_grad",
           "nt_xent_across_processes", "PerFitCheckpoint"]


class DistributedNTXentLoss(NTXentLoss):
    """:func:`nt_xent_across_processes` as a module (the accelerated estimators' loss).

    Parameters
    ----------
    temperature : float, default=0.5
    gather : bool or None, default=None
        Contrast with the other processes' views; None: whenever a
        ``torch.distributed`` process group of several processes exists.  The
        accelerated estimators set it from their accelerator (gather exactly
        when it runs several processes).

    Examples
    --------
    >>> import torch
    >>> from privlearn.distributed import DistributedNTXentLoss
    >>> loss = DistributedNTXentLoss(temperature=0.1)
    >>> float(loss(torch.randn(8, 4), torch.randn(8, 4))) > 0
    True
    """

    def __init__(self, temperature=0.5, gather=None):
        super().__init__(temperature)
        self.gather = gather

    def forward(self, z1, z2):
        if self.gather is False:
            return nt_xent(z1, z2, self.temperature)
        return nt_xent_across_processes(z1, z2, self.temperature)


# --------------------------------------------------------------------------- accelerate
class AcceleratedEncoderMixin(AccelerateMixin):
    """skorch's :class:`~skorch.hf.AccelerateMixin` fitted to privlearn's estimators.

    Put it first in the bases of a privlearn estimator (or of a subclass of
    one): ``class AcceleratedMine(AcceleratedEncoderMixin, Mine): pass``.  It
    keeps the estimator's own training step (SimCLR's two augmented views,
    Talos's alternating updates) where skorch's mixin would put a plain
    supervised one, runs forward passes under the accelerator's autocast and
    backward passes through ``accelerator.backward``, places batches,
    augmentation and extra networks on the accelerator's device, seeds each
    process differently (``random_state + process index``, so that processes
    draw different augmentations; DistributedDataParallel copies process 0's
    initial weights to the others), and gathers ``transform``'s
    representations from all processes.

    Parameters
    ----------
    accelerator : accelerate.Accelerator
        Carries the distributed setup, ``mixed_precision`` ("no", "bf16",
        "fp16") and ``gradient_accumulation_steps``.
    device : None, default=None
        The accelerator places everything; leave it None.
    unwrap_after_train : bool, default=True
        Unwrap the networks after ``fit`` (needed to pickle, and for
        ``transform`` on one process).

    Notes
    -----
    Every process runs the whole script; callbacks run on every process (skorch
    prints the epoch table on the main process only).  Set the precision on the
    accelerator, not with the estimator's ``precision`` parameter.  BatchNorm
    statistics are computed per process (DistributedDataParallel's default).
    The accelerator itself cannot be pickled: save with ``save_params`` (on the
    main process) or, after training, drop it
    (``model.accelerator = None``) before pickling.
    """

    def _get_param_names(self):
        # AccelerateMixin's `_wrapped_with_accelerator` is state, not a parameter.
        return [name for name in super()._get_param_names()
                if name != "_wrapped_with_accelerator"]

    def _initialize_callbacks(self):
        # skorch's PrintLog ignores `verbose` for any sink but `print`, and
        # AccelerateMixin's "auto" sink is the accelerator's print: keep quiet
        # nets quiet.
        if self.callbacks__print_log__sink == "auto" and not self.verbose:
            self.callbacks__print_log__sink = noop
            try:
                return super()._initialize_callbacks()
            finally:
                self.callbacks__print_log__sink = "auto"
        return super()._initialize_callbacks()

    def _check_device_options(self):
        super()._check_device_options()
        if self.precision is not None:
            raise ValueError(
                f"{self._owner()}: set mixed precision on the accelerator "
                f"(Accelerator(mixed_precision={self.precision!r})), not with "
                f"`precision` (got {self.precision!r}); leave `precision=None`.")

    def _compute_device(self):
        return self.accelerator.device

    def _initialize_accelerator(self):
        # A criterion without weights (NT-Xent) needs no preparing, and
        # DistributedDataParallel refuses modules without trainable parameters.
        criteria = self._criteria
        self._criteria = [
            name for name in criteria
            if any(p.requires_grad for p in getattr(getattr(self, name + "_"), "parameters",
                                                    lambda: [])())]
        try:
            return super()._initialize_accelerator()
        finally:
            self._criteria = criteria

    def initialize_criterion(self):
        super().initialize_criterion()
        # The objective's own loss, told whether to gather across processes
        # (unless the user set ``criterion__gather``).
        several = self.accelerator.num_processes > 1
        if hasattr(self.criterion_, "gather") and (
                self.criterion_.gather is None or "criterion__gather" not in vars(self)):
            self.criterion_.gather = several
        objective = getattr(self, "objective_", None)
        if objective is None:
            return self
        if isinstance(self.criterion_, NTXentLoss) and objective.name != "simclr":
            # NT-Xent would run on e.g. BYOL's (prediction, target) pair and
            # silently train another model.
            raise ValueError(
                f"{self._owner()}: `criterion` {type(self.criterion_).__name__} is NT-Xent, "
                f"not the loss of objective {objective.name!r}; leave `criterion=None` "
                f"for the objective's own loss ({objective.criterion.__name__}).")
        if several and objective.gathers and not hasattr(self.criterion_, "gather"):
            raise ValueError(
                f"{self._owner()}: objective {objective.name!r} needs its loss gathered "
                f"across the {self.accelerator.num_processes} processes, but `criterion` "
                f"{type(self.criterion_).__name__} has no `gather` switch; leave "
                f"`criterion=None` ({objective.criterion.__name__}) or give it one.")
        return self

    def _seed(self):
        seed = super()._seed()
        if seed is None:
            return None
        return (seed + self.accelerator.process_index) % 2**32

    def _autocast(self):
        return self.accelerator.autocast()

    def backward(self, loss):
        self.accelerator.backward(loss)

    def optimizer_step(self, *optimizers):
        # Prepared optimizers unscale, skip on overflow and respect accumulation.
        for optimizer in optimizers:
            optimizer.step()

    def train_step_single(self, batch, **fit_params):
        # The estimator's own step (e.g. SimCLR's views), skipping
        # AccelerateMixin's supervised one; self.backward is the accelerator's.
        return super(AccelerateMixin, self).train_step_single(batch, **fit_params)

    def _network(self):
        """The bare network (DistributedDataParallel wraps it during training)."""
        return self.accelerator.unwrap_model(self.module_)

    def _encode_batch(self, Xi):
        # Inference batches are split over the processes: gather them back, in order.
        return self.accelerator.gather_for_metrics(super()._encode_batch(Xi))


class AcceleratedSimCLR(AcceleratedEncoderMixin, SimCLR):
    """:class:`~privlearn.SimCLR` on Hugging Face Accelerate (several GPUs or machines).

    Run the script with ``accelerate launch``: every process trains on its share
    of each epoch's batches; NT-Xent uses the views of all processes as
    negatives (:class:`DistributedNTXentLoss`), so ``P`` processes with
    ``batch_size=n`` train like one process with a batch of ``P·n`` images.
    On one process, it trains and transforms like :class:`~privlearn.SimCLR`
    with the same ``random_state``.

    Parameters
    ----------
    accelerator : accelerate.Accelerator
        E.g. ``Accelerator(mixed_precision="bf16")``.
    criterion : default=DistributedNTXentLoss
    **simclr_params
        Every :class:`~privlearn.SimCLR` parameter except ``precision`` (set on
        the accelerator) and ``device`` (left None).

    See Also
    --------
    AcceleratedEncoderMixin : what changes, and the caveats.

    Examples
    --------
    >>> import privlearn as pl
    >>> from accelerate import Accelerator
    >>> from privlearn.distributed import AcceleratedSimCLR
    >>> images = pl.datasets.load("digits").images[:128]
    >>> encoder = AcceleratedSimCLR(accelerator=Accelerator(cpu=True), max_epochs=1,
    ...                             batch_size=64, random_state=0)
    >>> encoder.fit(images).transform(images[:3]).shape
    (3, 128)
    """

    def __init__(self, *, accelerator, criterion=DistributedNTXentLoss, **simclr_params):
        super().__init__(accelerator=accelerator, criterion=criterion, **simclr_params)


class AcceleratedSupervisedClassifier(AcceleratedEncoderMixin, SupervisedClassifier):
    """:class:`~privlearn.SupervisedClassifier` on Hugging Face Accelerate.

    ``predict_proba`` gathers the posteriors of all processes (skorch's
    mixin), ``transform`` the representations.

    Examples
    --------
    >>> import privlearn as pl
    >>> from accelerate import Accelerator
    >>> from privlearn.distributed import AcceleratedSupervisedClassifier
    >>> data = pl.datasets.load("digits", task="digit")
    >>> clf = AcceleratedSupervisedClassifier(accelerator=Accelerator(cpu=True),
    ...                                       max_epochs=1, random_state=0)
    >>> clf.fit(data.images[:200], data.target[:200]).predict_proba(
    ...     data.images[:2]).shape
    (2, 10)
    """


class AcceleratedTalos(AcceleratedEncoderMixin, Talos):
    """:class:`~privlearn.Talos` on Hugging Face Accelerate.

    As :class:`AcceleratedSimCLR`; in addition the adversary (not a skorch
    module, so not wrapped by the accelerator) is moved to the accelerator's
    device and kept identical on every process: its weights are copied from
    process 0 when training starts, and its gradients are averaged over the
    processes before each of its steps.  The accelerator's mixed precision may
    be "bf16" or "no" (not "fp16"), without gradient accumulation.

    Examples
    --------
    >>> import privlearn as pl
    >>> from accelerate import Accelerator
    >>> from privlearn.distributed import AcceleratedTalos
    >>> data = pl.datasets.load("digits")
    >>> talos = AcceleratedTalos(accelerator=Accelerator(cpu=True), max_epochs=1,
    ...                          batch_size=64, random_state=0)
    >>> talos.fit(data.images[:128], sensitive_features=data.sensitive[:128]
    ...           ).transform(data.images[:2]).shape
    (2, 128)
    """

    def __init__(self, *, accelerator, criterion=None, **talos_params):
        # criterion=None: the chosen objective's own loss (it gathers across
        # processes where its loss needs it, see Objective.gathers).
        super().__init__(accelerator=accelerator, criterion=criterion, **talos_params)

    def _check_device_options(self):
        super()._check_device_options()
        # Talos's train_step calls loss.backward() and optimizer.step() itself,
        # which bypasses the accelerator's loss scaling and accumulation.
        if (self.accelerator.mixed_precision == "fp16"
                or self.accelerator.gradient_accumulation_steps > 1):
            raise ValueError(
                "AcceleratedTalos: the accelerator's fp16 mixed precision and gradient "
                "accumulation are not supported (got mixed_precision="
                f"{self.accelerator.mixed_precision!r}, gradient_accumulation_steps="
                f"{self.accelerator.gradient_accumulation_steps}); use "
                "mixed_precision='bf16' or 'no' and gradient_accumulation_steps=1.")

    def _make_adversary(self, index=0):
        return super()._make_adversary(index).to(self._compute_device())

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        self.adversary_sync_ = None
        if self.accelerator.num_processes == 1:
            return
        for tensor in self.adversary_.state_dict().values():
            dist.broadcast(tensor, src=0)
        optimizer = getattr(self.adversary_optimizer_, "optimizer", self.adversary_optimizer_)
        self.adversary_sync_ = optimizer.register_step_pre_hook(self._average_adversary)

    def _average_adversary(self, optimizer, args, kwargs):
        world = self.accelerator.num_processes
        for parameter in self.adversary_.parameters():
            if parameter.grad is not None:
                dist.all_reduce(parameter.grad)
                parameter.grad.div_(world)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        super().on_train_end(net, X=X, y=y, **kwargs)
        if getattr(self, "adversary_sync_", None) is not None:
            self.adversary_sync_.remove()
        self.adversary_sync_ = None


# --------------------------------------------------------------------------- checkpoints
class PerFitCheckpoint(Checkpoint):
    """skorch ``Checkpoint`` that gives every fit its own directory under ``dirname``.

    A plain ``Checkpoint(dirname="ckpt")`` is copied into every clone that
    ``GridSearchCV`` or ``cross_val_score`` fits, so parallel fits (joblib
    processes, dask workers) write ``ckpt/params.pt`` over each other, and
    ``load_best=True`` may load another fit's weights.  This callback writes
    to ``dirname/fit-<random id>/`` instead, a new directory each time the net
    is (re-)initialised; ``partial_fit`` and ``warm_start`` keep it.

    Parameters
    ----------
    dirname : str, default=""
        The root of the per-fit directories ("" is the working directory).
    **checkpoint_params
        Every other ``skorch.callbacks.Checkpoint`` parameter (``monitor``,
        ``f_params``, ``load_best``, ...).  Note that SimCLR and Talos have no
        validation loss unless ``train_split`` is set: use e.g.
        ``monitor="train_loss_best"``.

    Attributes
    ----------
    fit_dirname_ : str
        This fit's directory.

    Notes
    -----
    To resume an interrupted fit with ``LoadInitState``, use a plain
    ``Checkpoint`` with a directory of its own instead: a new fit never finds
    the files of an earlier one here.

    Examples
    --------
    >>> import tempfile, privlearn as pl
    >>> from privlearn.distributed import PerFitCheckpoint
    >>> images = pl.datasets.load("digits").images[:64]
    >>> root = tempfile.mkdtemp()
    >>> checkpoint = PerFitCheckpoint(dirname=root, monitor="train_loss_best")
    >>> encoder = pl.SimCLR(max_epochs=1, batch_size=32, callbacks=[checkpoint]).fit(images)
    >>> import os; sorted(os.listdir(checkpoint.fit_dirname_))[-1]
    'params.pt'
    """

    def initialize(self):
        super().initialize()
        self.fit_dirname_ = os.path.join(self.dirname, f"fit-{uuid.uuid4().hex[:12]}")
        os.makedirs(self.fit_dirname_, exist_ok=True)
        return self

    def _fit_dirname(self):
        if not hasattr(self, "fit_dirname_"):
            raise AttributeError("PerFitCheckpoint: the callback has no directory before the "
                                 "net is initialised (fit it first).")
        return self.fit_dirname_

    def _format_target(self, net, f, idx):
        # skorch's Checkpoint._format_target, joined to this fit's directory.
        if not isinstance(f, str):
            return f
        name = self.fn_prefix + f.format(net=net, last_epoch=net.history[idx],
                                         last_batch=net.history[idx, "batches", -1])
        return os.path.join(self._fit_dirname(), name)

    @property
    def f_history_(self):
        if self.f_history is None:
            return None
        return os.path.join(self._fit_dirname(), self.fn_prefix + self.f_history)
