"""Training on several GPUs or machines, and fitting many models in parallel.

- :class:`AcceleratedSimCLR`, :class:`AcceleratedTalos` and
  :class:`AcceleratedSupervisedClassifier`: the estimators on Hugging Face
  Accelerate through skorch's :class:`~skorch.hf.AccelerateMixin` (data-parallel
  training on several GPUs or machines, mixed precision, gradient accumulation),
  launched with ``accelerate launch``.  :class:`AcceleratedEncoderMixin` makes
  one of any subclass of the estimators.
- :class:`DistributedNTXentLoss`: NT-Xent whose negatives are the views of every
  process's batch, not just the local one (:func:`gather_with_grad`).
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
import torch.nn.functional as F
from skorch.callbacks import Checkpoint
from skorch.hf import AccelerateMixin
from skorch.utils import noop

from .encoders import SimCLR, SupervisedClassifier
from .losses import NTXentLoss, nt_xent
from .talos import Talos

__all__ = ["AcceleratedEncoderMixin", "AcceleratedSimCLR", "AcceleratedTalos",
           "AcceleratedSupervisedClassifier", "DistributedNTXentLoss", "gather_with_grad",
           "nt_xent_across_processes", "PerFitCheckpoint"]


# --------------------------------------------------------------------------- gathering
def _world_size():
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


class _AllGather(torch.autograd.Function):
    """All-gather whose backward sums every process's gradient for the local slice.

    ``torch.distributed.nn.functional.all_gather`` does this but is deprecated
    (its replacement is private), so the usual ten lines are written here:
    ``all_gather`` and ``all_reduce`` work on every backend (gloo, NCCL).
    """

    @staticmethod
    def forward(ctx, x):
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return tuple(parts)

    @staticmethod
    def backward(ctx, *grads):
        grad = torch.stack(grads)
        dist.all_reduce(grad)
        return grad[dist.get_rank()]


def gather_with_grad(x):
    """Concatenate ``x`` from every process, gradients flowing to each local slice.

    Each process passes its own ``x`` of shape ``(n_p, ...)`` (``n_p`` may differ
    between processes); every process gets the same ``(sum n_p, ...)`` tensor,
    ranks in order, and the offset of its own rows.  Backwards, the gradient
    each process computes for the gathered tensor is summed over the processes
    and the local slice goes to ``x``: a loss averaged over the processes (as
    DistributedDataParallel averages gradients) gets its exact gradient.
    Without an initialised ``torch.distributed`` process group, or with a single
    process, ``x`` is returned unchanged with offset 0.

    Parameters
    ----------
    x : torch.Tensor of shape (n, ...)

    Returns
    -------
    gathered : torch.Tensor of shape (N, ...)
    offset : int
        Index of this process's first row in ``gathered``.

    Examples
    --------
    >>> import torch
    >>> from privlearn.distributed import gather_with_grad
    >>> x = torch.ones(3, 2)
    >>> gathered, offset = gather_with_grad(x)     # one process: the identity
    >>> gathered is x, offset
    (True, 0)
    """
    if _world_size() == 1:
        return x, 0
    size = torch.tensor([len(x)], device=x.device)
    sizes = [torch.empty_like(size) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    sizes = [int(s) for s in sizes]
    longest = max(sizes)
    if len(x) < longest:      # all_gather needs equal shapes: pad, then drop the padding
        x = torch.cat([x, x.new_zeros(longest - len(x), *x.shape[1:])])
    parts = _AllGather.apply(x)
    gathered = torch.cat([part[:n] for part, n in zip(parts, sizes)])
    return gathered, sum(sizes[:dist.get_rank()])


def _nt_xent_against(z1, z2, keys1, keys2, offset, temperature):
    """NT-Xent of the local views ``(z1, z2)`` against all views ``(keys1, keys2)``.

    ``keys*`` hold every process's normalised projections, this process's at
    rows ``offset .. offset + n``.  Each local view's logits are its cosine
    similarities with all ``2N`` views (itself excluded) over ``temperature``;
    the loss is the cross-entropy of its partner, averaged over the ``2n``
    local views.  With the local views as the keys (offset 0) this is
    :func:`privlearn.losses.nt_xent`.
    """
    n, m = len(z1), len(keys1)
    queries = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = queries @ torch.cat([keys1, keys2]).T / temperature
    local = torch.arange(n, device=z1.device) + offset
    rows = torch.arange(2 * n, device=z1.device)
    self_mask = torch.zeros_like(logits, dtype=torch.bool)
    self_mask[rows, torch.cat([local, local + m])] = True
    logits = logits.masked_fill(self_mask, float("-inf"))
    partner = torch.cat([local + m, local])
    return F.cross_entropy(logits, partner)


def nt_xent_across_processes(z1, z2, temperature=0.5):
    """NT-Xent with the negatives of every process's batch.

    Each process's local views are contrasted with the views of all processes
    (gathered with :func:`gather_with_grad`), so data-parallel training on
    ``P`` processes with ``n`` images each sees ``2Pn - 2`` negatives per view,
    as one process with a batch of ``Pn`` images would; averaged over the
    processes the loss and its gradient are those of :func:`nt_xent` on the
    whole batch.  With a single process it is :func:`nt_xent`.

    Parameters
    ----------
    z1, z2 : torch.Tensor of shape (n, d)
        This process's projections of the two views.
    temperature : float, default=0.5

    Returns
    -------
    loss : torch.Tensor, scalar

    Examples
    --------
    >>> import torch
    >>> from privlearn.distributed import nt_xent_across_processes
    >>> from privlearn.losses import nt_xent
    >>> z1, z2 = torch.randn(8, 4), torch.randn(8, 4)
    >>> bool(torch.isclose(nt_xent_across_processes(z1, z2), nt_xent(z1, z2)))
    True
    """
    if _world_size() == 1:
        return nt_xent(z1, z2, temperature)
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError("nt_xent_across_processes: `z1` and `z2` must both have shape "
                         f"(n, d), got {tuple(z1.shape)} and {tuple(z2.shape)}.")
    keys1, offset = gather_with_grad(F.normalize(z1, dim=1))
    keys2, _ = gather_with_grad(F.normalize(z2, dim=1))
    return _nt_xent_against(z1, z2, keys1, keys2, offset, temperature)


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
        if isinstance(self.criterion_, DistributedNTXentLoss) and self.criterion_.gather is None:
            self.criterion_.gather = self.accelerator.num_processes > 1
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

    def __init__(self, *, accelerator, criterion=DistributedNTXentLoss, **talos_params):
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
