"""Make any torch model a fitted scikit-learn estimator, so the attacks take it as ``target=``.

:class:`TorchEncoder` wraps an ``nn.Module`` that embeds images (``transform``);
:class:`TorchClassifier` wraps one that returns logits (``predict_proba``,
``predict``, ``classes_``).  Neither trains: ``__init__`` stores, ``fit`` only
validates, and both report themselves fitted (``__sklearn_is_fitted__``) so
``check_is_fitted`` -- which every attack runs on its target -- passes.
:func:`load_module` builds the module from a file: a ``state_dict`` loaded into a
named privlearn or torchvision architecture, a TorchScript file, or a factory
``package.module:function``.  A model file is untrusted input: checkpoints are
read with ``torch.load`` with ``weights_only=True`` and a file that needs arbitrary
unpickling is refused.
"""

from __future__ import annotations

import importlib
import numbers
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

__all__ = ["TorchEncoder", "TorchClassifier", "load_module"]


def _as_float_batches(X, batch_size, owner):
    """Images (uint8 0-255 or float in [0, 1], N×C×H×W or N×H×W) -> float32 tensor chunks."""
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: `X` must be numeric images, got dtype {X.dtype}")
    if X.ndim == 3:
        X = X[:, None]
    if X.ndim != 4 or len(X) == 0:
        raise ValueError(f"{owner}: `X` must be a non-empty array of images N×C×H×W "
                         f"(or N×H×W), got shape {X.shape}")
    scale = 255.0 if X.dtype.kind in "biu" else 1.0
    for start in range(0, len(X), batch_size):
        yield torch.from_numpy(np.ascontiguousarray(X[start:start + batch_size],
                                                    dtype=np.float32) / scale)


class _TorchModel(BaseEstimator):
    """Shared: parameter checks, batched eval-mode forward pass, fitted state."""

    def __sklearn_is_fitted__(self):
        # The wrapped module is trained elsewhere: the wrapper is fitted by construction.
        return True

    def _check_params(self):
        owner = type(self).__name__
        if not isinstance(self.module, torch.nn.Module):
            raise TypeError(f"{owner}: `module` must be a torch.nn.Module, got "
                            f"{type(self.module).__name__}")
        if not isinstance(self.batch_size, numbers.Integral) or isinstance(self.batch_size, bool) \
                or self.batch_size < 1:
            raise ValueError(f"{owner}: `batch_size` must be a positive integer, got "
                             f"{self.batch_size!r}")
        try:
            torch.device(self.device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"{owner}: `device` must name a torch device, got "
                             f"{self.device!r}") from exc
        if self.preprocess is not None and not callable(self.preprocess):
            raise TypeError(f"{owner}: `preprocess` must be a callable on a float batch "
                            f"or None, got {type(self.preprocess).__name__}")

    def fit(self, X=None, y=None):
        """Validate the parameters; the module is not trained.  Returns self."""
        self._check_params()
        return self

    def _forward(self, X):
        """The module's raw output on every image, concatenated, as a float64 array."""
        self._check_params()
        owner = type(self).__name__
        device = torch.device(self.device)
        module = self.module.to(device)
        was_training = module.training
        module.eval()
        outs = []
        try:
            with torch.no_grad():
                for batch in _as_float_batches(X, self.batch_size, owner):
                    batch = batch.to(device)
                    if self.preprocess is not None:
                        batch = self.preprocess(batch)
                    out = module(batch)
                    if isinstance(out, (tuple, list)):
                        out = out[0]
                    if not isinstance(out, torch.Tensor):
                        raise TypeError(f"{owner}: the module returned "
                                        f"{type(out).__name__}; expected a tensor")
                    outs.append(out.detach().to("cpu", torch.float64))
        finally:
            module.train(was_training)
        out = torch.cat(outs).numpy()
        n = len(np.asarray(X)) if not isinstance(X, torch.Tensor) else len(X)
        if out.shape[0] != n:
            raise ValueError(f"{owner}: the module returned {out.shape[0]} rows for {n} "
                             "images; expected one row per image")
        bad = ~np.isfinite(out.reshape(n, -1)).all(axis=1)
        if bad.any():
            raise ValueError(f"{owner}: the module returned non-finite values (NaN or inf) "
                             f"for {int(bad.sum())} of {n} images (first: image "
                             f"{int(np.flatnonzero(bad)[0])}); the model is broken")
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.non_deterministic = True
        return tags

    @classmethod
    def from_file(cls, path, *, arch=None, factory=None, num_classes=None,
                  in_channels=3, image_size=32, **params):
        """Build the wrapper around :func:`load_module` ``(path, ...)``; see there."""
        module = load_module(path, arch=arch, factory=factory, num_classes=num_classes,
                             in_channels=in_channels, image_size=image_size)
        return cls(module, **params)


class TorchEncoder(TransformerMixin, _TorchModel):
    """A trained torch encoder as a fitted scikit-learn transformer.

    ``transform(X)`` embeds images in eval mode, without gradients, batch by batch
    on ``device``.  An output of shape ``N×C×H×W`` (a spatial feature map) is
    global-average-pooled to ``N×C``; any other output is flattened to one row per
    image.  :meth:`feature_map` returns the unpooled output.

    Parameters
    ----------
    module : torch.nn.Module
        The trained encoder; it is never trained here.
    batch_size : int, default=256
    device : str or torch.device, default="cpu"
    preprocess : callable or None, default=None
        Applied to each float batch (values in [0, 1], on the device) before the
        module, e.g. ``torchvision.transforms.Normalize(mean, std)``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from privlearn.wrappers import TorchEncoder
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4))
    >>> TorchEncoder(net).transform(np.zeros((3, 1, 8, 8), np.uint8)).shape
    (3, 4)
    """

    def __init__(self, module, *, batch_size=256, device="cpu", preprocess=None):
        self.module = module
        self.batch_size = batch_size
        self.device = device
        self.preprocess = preprocess

    def feature_map(self, X):
        """The module's raw output (e.g. ``N×C×H×W``), checked finite, as float64."""
        return self._forward(X)

    def transform(self, X):
        """Embeddings, ``(n_images, n_features)`` float64."""
        out = self._forward(X)
        if out.ndim == 4:
            out = out.mean(axis=(2, 3))
        return out.reshape(len(out), -1)


class TorchClassifier(ClassifierMixin, _TorchModel):
    """A trained torch classifier (logits out) as a fitted scikit-learn classifier.

    Parameters
    ----------
    module : torch.nn.Module
        Maps images to logits ``N×len(classes)``; softmax gives ``predict_proba``.
    classes : array-like
        The class label of each logit column.
    batch_size, device, preprocess
        As for :class:`TorchEncoder`.

    Attributes
    ----------
    classes_ : ndarray

    Examples
    --------
    >>> import numpy as np, torch
    >>> from privlearn.wrappers import TorchClassifier
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    >>> clf = TorchClassifier(net, classes=[0, 1, 2])
    >>> clf.predict_proba(np.zeros((2, 1, 8, 8), np.uint8)).shape
    (2, 3)
    """

    def __init__(self, module, *, classes, batch_size=256, device="cpu", preprocess=None):
        self.module = module
        self.classes = classes
        self.batch_size = batch_size
        self.device = device
        self.preprocess = preprocess

    @property
    def classes_(self):
        classes = np.asarray(self.classes)
        if classes.ndim != 1 or len(classes) < 2 or len(np.unique(classes)) != len(classes):
            raise ValueError("TorchClassifier: `classes` must be a 1-D list of at least 2 "
                             f"distinct labels, got {self.classes!r}")
        return classes

    def fit(self, X=None, y=None):
        """Validate the parameters; the module is not trained.  Returns self."""
        self._check_params()
        self.classes_  # noqa: B018 (validates)
        return self

    def decision_function(self, X):
        """The logits, ``(n_images, n_classes)``."""
        logits = self._forward(X)
        k = len(self.classes_)
        if logits.ndim != 2 or logits.shape[1] != k:
            raise ValueError(f"TorchClassifier: the module returned shape {logits.shape}; "
                             f"expected (n_images, {k}): one logit per class in `classes`")
        return logits

    def predict_proba(self, X):
        """Softmax of the logits."""
        return torch.softmax(torch.from_numpy(self.decision_function(X)), dim=1).numpy()

    def predict(self, X):
        """The class of the largest logit."""
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]


_UNTRUSTED = ("a model file is untrusted input, so privlearn reads checkpoints with "
              "torch.load with weights_only=True, which refuses files that need arbitrary "
              "unpickling (a whole pickled nn.Module or custom classes). Save the weights "
              "instead: torch.save(model.state_dict(), path), and pass --arch/arch= or a "
              "factory; or export TorchScript with torch.jit.script(model).save(path).")


def _factory(spec):
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ValueError(f"load_module: `factory` must be 'package.module:function', got {spec!r}")
    mod, fn = spec.split(":")
    try:
        obj = getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"load_module: cannot import factory {spec!r}: {exc}") from exc
    if not callable(obj):
        raise ValueError(f"load_module: factory {spec!r} is not callable")
    return obj


def _architecture(arch, num_classes, in_channels, image_size):
    from .backbones import BACKBONES, make_backbone
    if arch in BACKBONES and num_classes is None:
        return make_backbone(arch, in_channels=in_channels, image_size=image_size)[0]
    import torchvision
    try:
        kwargs = {} if num_classes is None else {"num_classes": int(num_classes)}
        return torchvision.models.get_model(arch, weights=None, **kwargs)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"load_module: unknown architecture {arch!r}: give a privlearn "
                         f"backbone ({', '.join(BACKBONES)}) or a torchvision model name "
                         f"(torchvision.models.list_models())") from exc


def load_module(path, *, arch=None, factory=None, num_classes=None, in_channels=3,
                image_size=32):
    """Load a trained ``nn.Module`` from ``path``.

    A TorchScript file is loaded with ``torch.jit.load``.  Otherwise the file must be
    a ``state_dict`` (read with ``torch.load`` with ``weights_only=True``) loaded strictly
    into ``arch`` -- a privlearn backbone (``"cnn"``, ``"resnet18"``, ... built with
    :func:`privlearn.backbones.make_backbone` when ``num_classes`` is None) or a
    torchvision model name (``torchvision.models.get_model(arch, weights=None,
    num_classes=num_classes)``) -- or into ``factory()`` (``"package.module:function"``).

    Raises ``ValueError`` naming the file when it is missing, corrupt, needs
    arbitrary unpickling, or its keys/shapes do not match the architecture.

    Examples
    --------
    >>> import tempfile, torch
    >>> from privlearn.backbones import make_backbone
    >>> from privlearn.wrappers import load_module
    >>> path = tempfile.mktemp(suffix=".pt")
    >>> torch.save(make_backbone("cnn", in_channels=1)[0].state_dict(), path)
    >>> type(load_module(path, arch="cnn", in_channels=1)).__name__
    'SmallCNN'
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"load_module: model file {path} does not exist")
    if arch is not None and factory is not None:
        raise ValueError("load_module: give `arch` or `factory`, not both")
    try:
        with warnings.catch_warnings():  # torch.jit.load's deprecation notice
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError):
        pass  # not TorchScript: a checkpoint
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle_errors() as exc:
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise ValueError(f"load_module: {path} needs arbitrary unpickling to load; "
                             f"refused: {_UNTRUSTED}") from exc
        raise ValueError(f"load_module: cannot read {path}: the file is corrupt, truncated "
                         f"or not a torch checkpoint ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]  # Lightning-style checkpoints
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"load_module: {path} is not a state_dict (a dict of tensors); "
                         f"got {type(state).__name__}. {_UNTRUSTED}")
    if arch is None and factory is None:
        raise ValueError(f"load_module: {path} is a state_dict; say which network it "
                         "belongs to with `arch` (e.g. 'cnn', 'resnet18') or `factory` "
                         "('package.module:function')")
    module = _factory(factory)() if factory is not None else \
        _architecture(arch, num_classes, in_channels, image_size)
    if not isinstance(module, torch.nn.Module):
        raise ValueError(f"load_module: factory {factory!r} returned "
                         f"{type(module).__name__}, not a torch.nn.Module")
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
              for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        what = arch if arch is not None else factory
        raise ValueError(
            f"load_module: the state_dict in {path} does not fit {what!r}: "
            f"{len(missing)} missing key(s) {missing[:5]}, {len(unexpected)} unexpected "
            f"key(s) {unexpected[:5]}, {len(shapes)} shape mismatch(es) {shapes[:3]}. "
            "Check the architecture, in_channels, image_size and num_classes.")
    module.load_state_dict(state)
    return module.eval()


def pickle_errors():
    import pickle
    return (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError,
            AttributeError, KeyError, TypeError, UnicodeDecodeError)
