"""What decides an audit's floating-point path, and a digest of each trained model.

Two runs of the same command with the same package versions can still differ:
torch picks its CPU kernels by the instruction set it finds (its *CPU
capability*: AVX2, AVX-512, ...), BLAS libraries pick theirs by the CPU model,
and the thread counts decide how sums are split.  A few last bits of difference
in one step then grow over 100 epochs of training.  :func:`environment` records
those facts so that two ``results.json`` files can be compared
(:mod:`privlearn.audit.compare`), and :func:`model_digest` fingerprints each
trained model's learnt values so the comparison can say *which* models differ.

Examples
--------
>>> from privlearn.audit.provenance import environment
>>> env = environment()
>>> sorted(env["torch"])[:3]
['blas', 'cpu_capability', 'deterministic_algorithms']
>>> env["torch"]["cpu_capability"] in ("DEFAULT", "AVX2", "AVX512", "ZVECTOR", "VSX", "SVE256")
True
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import sys

import numpy as np

__all__ = ["environment", "model_digest", "model_digests", "FLOATING_POINT_KEYS",
           "ENV_VARIABLES"]

#: Environment variables that change which kernels or how many threads run.
ENV_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                 "OPENBLAS_CORETYPE", "OPENBLAS_VERBOSE", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS",
                 "MKL_DEBUG_CPU_TYPE", "ATEN_CPU_CAPABILITY", "DNNL_MAX_CPU_ISA",
                 "ONEDNN_MAX_CPU_ISA", "DNNL_DEFAULT_FPMATH_MODE", "ONEDNN_DEFAULT_FPMATH_MODE",
                 "KMP_AFFINITY", "KMP_DETERMINISTIC_REDUCTION", "GOMP_CPU_AFFINITY",
                 "CUBLAS_WORKSPACE_CONFIG", "NVIDIA_TF32_OVERRIDE", "PYTHONHASHSEED",
                 "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE")

#: CPU flags that decide which vector kernels a library may choose.
_CPU_FLAGS = ("sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512dq",
              "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
              "amx_bf16", "amx_int8", "amx_tile", "asimd", "sve", "sve2")

#: Dotted keys of :func:`environment` that decide the floating-point path of
#: training; :mod:`~privlearn.audit.compare` flags a difference in one of them
#: as a reason for models to differ.
FLOATING_POINT_KEYS = ("torch.version", "torch.cpu_capability", "torch.num_threads",
                       "torch.num_interop_threads", "torch.blas", "torch.mkl",
                       "torch.onednn", "torch.parallel_backend", "torch.deterministic_algorithms",
                       "torch.float32_matmul_precision", "cpu.model", "cpu.flags",
                       "cpu.machine", "device", "threadpools", "numpy", "cuda")


def _cpu():
    model, flags = None, []
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        text = ""
    for key in ("model name", "Model", "Hardware", "cpu model"):
        match = re.search(rf"^{key}\s*:\s*(.+)$", text, re.MULTILINE)
        if match:
            model = match.group(1).strip()
            break
    match = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.MULTILINE)
    if match:
        present = set(match.group(1).split())
        flags = [flag for flag in _CPU_FLAGS if flag in present]
    return {"model": model or platform.processor() or None, "flags": flags,
            "machine": platform.machine(), "logical_cpus": os.cpu_count()}


def _config_line(config, pattern):
    match = re.search(pattern, config)
    return match.group(1).strip() if match else None


def _torch(device):
    import torch

    # torch.__config__.show() is free text: read only the lines that name the
    # libraries whose kernels run (BLAS, MKL, oneDNN), loosely.
    config = torch.__config__.show()
    parallel = torch.__config__.parallel_info()
    info = {
        "version": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "num_threads": torch.get_num_threads(),
        "num_interop_threads": torch.get_num_interop_threads(),
        "blas": _config_line(config, r"BLAS_INFO=([^,\s]+)"),
        "mkl": _config_line(config, r"Math Kernel Library Version ([^\n]+?) for"),
        "onednn": _config_line(config, r"(?:MKL-DNN|oneDNN) (v[^\s(]+)"),
        "parallel_backend": _config_line(parallel, r"ATen parallel backend: ([^\n]+)"),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
    }
    cuda = None
    if str(device).startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index or 0
        cuda = {"device_name": torch.cuda.get_device_name(index),
                "capability": list(torch.cuda.get_device_capability(index)),
                "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
                "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
                "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
                "allow_tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
                "allow_tf32_cudnn": bool(torch.backends.cudnn.allow_tf32)}
    return info, cuda


def _threadpools():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:                                  # optional: sklearn ships it
        return None
    keep = ("user_api", "internal_api", "prefix", "version", "num_threads",
            "threading_layer", "architecture")
    # No file paths: they name the install folder, not the arithmetic.
    pools = [{k: pool.get(k) for k in keep if k in pool} for pool in threadpool_info()]
    return sorted(pools, key=lambda p: (str(p.get("user_api")), str(p.get("prefix"))))


def environment(device="cpu"):
    """What decides the floating-point path of this process, as a JSON-ready dict.

    Parameters
    ----------
    device : str, default="cpu"
        The torch device the models train on (``"cuda:0"`` adds the GPU's name,
        CUDA/cuDNN versions and TF32 flags).

    Returns
    -------
    env : dict
        ``torch`` (version, CPU capability, thread counts, BLAS/MKL/oneDNN,
        parallel backend, deterministic-algorithms flag), ``cuda`` (or None),
        ``threadpools`` (threadpoolctl's BLAS/OpenMP pools, without file paths),
        ``cpu`` (model name, relevant instruction-set flags, logical CPUs),
        ``platform``, ``python``, ``numpy``, ``device`` and ``env`` (the
        variables of :data:`ENV_VARIABLES` that are set).  Call it where the
        models train (inside the audit's thread limit) so thread counts are the
        ones used.

    Examples
    --------
    >>> from privlearn.audit.provenance import environment
    >>> environment()["device"]
    'cpu'
    """
    if not isinstance(device, str):
        raise TypeError(f"environment: `device` must be a str such as 'cpu', got {device!r}")
    torch_info, cuda = _torch(device)
    return {
        "torch": torch_info,
        "cuda": cuda,
        "threadpools": _threadpools(),
        "cpu": _cpu(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "device": device,
        "env": {name: os.environ[name] for name in ENV_VARIABLES if name in os.environ},
    }


# --- model digests -------------------------------------------------------------

#: Fitted attributes that are bookkeeping, not learnt values: training history
#: (with wall-clock durations), callbacks, optimizer state, skorch internals.
_SKIP_ATTRIBUTES = frozenset({"history_", "callbacks_", "optimizer_", "grad_scaler_",
                              "virtual_params_", "prefixes_", "cuda_dependent_attributes_",
                              "init_context_", "n_iter_", "accountant_", "augment_"})


def _update(h, value, depth=0):
    """Feed ``value``'s learnt numbers into the hash ``h``, type-tagged, in a fixed order."""
    if depth > 50:
        raise ValueError("model_digest: the model nests more than 50 levels deep")
    torch = sys.modules.get("torch")                     # keep torch lazy
    if torch is not None and isinstance(value, torch.nn.Module):
        h.update(b"module:" + type(value).__qualname__.encode())
        for key, tensor in value.state_dict().items():   # state_dict's own key order
            h.update(b"key:" + key.encode())
            _update(h, tensor, depth + 1)
        return
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:                # numpy has no bfloat16
            value = value.float()
        value = value.contiguous().numpy()
    if isinstance(value, np.ndarray):
        h.update(f"array:{value.dtype.str}:{value.shape}".encode())
        if value.dtype.kind == "O":
            for item in value.ravel():
                _update(h, item, depth + 1)
        else:
            h.update(np.ascontiguousarray(value).tobytes())
        return
    if isinstance(value, (bool, int, float, complex, str, bytes, type(None), np.generic)):
        h.update(f"scalar:{type(value).__name__}:{value!r}".encode())
        return
    if isinstance(value, dict):
        h.update(b"dict")
        for key in sorted(value, key=repr):
            h.update(b"k:" + repr(key).encode())
            _update(h, value[key], depth + 1)
        return
    if isinstance(value, (list, tuple)):
        h.update(f"seq:{len(value)}".encode())
        for item in value:
            _update(h, item, depth + 1)
        return
    from sklearn.base import BaseEstimator

    if isinstance(value, BaseEstimator):
        h.update(b"estimator:" + type(value).__qualname__.encode())
        steps = getattr(value, "steps", None)
        if isinstance(steps, list):                      # Pipeline: step by step
            for name, step in steps:
                h.update(b"step:" + str(name).encode())
                _update(h, step, depth + 1)
            return
        inner = getattr(value, "estimator", None)
        if type(value).__name__ == "FrozenEstimator" and inner is not None:
            _update(h, inner, depth + 1)
            return
        # The fitted state: public attributes ending in "_" (sklearn's convention),
        # in name order, without bookkeeping (see _SKIP_ATTRIBUTES).
        for name in sorted(vars(value)):
            if name.endswith("_") and not name.startswith("_") \
                    and name not in _SKIP_ATTRIBUTES:
                h.update(b"attr:" + name.encode())
                _update(h, vars(value)[name], depth + 1)
        return
    # Anything else (a loss object without parameters, a label encoder's helper):
    # only its type, so the digest stays comparable across processes.
    h.update(b"object:" + type(value).__qualname__.encode())


def model_digest(estimator):
    """SHA-256 of a fitted model's learnt values, comparable across runs and machines.

    Torch modules count by their ``state_dict`` tensors (in key order); scikit-learn
    estimators by their fitted attributes (names ending in ``_``, in name order);
    a Pipeline step by step.  Training history (which holds wall-clock times),
    callbacks and optimizer state are left out, so two runs that learnt the same
    numbers get the same digest, and one differing bit changes it.

    Not :func:`privlearn._target.model_state`: that digest pickles the whole model,
    history included, to key caches within one process; it differs between two
    bit-identical trainings.

    Parameters
    ----------
    estimator : estimator, torch module or array

    Returns
    -------
    digest : str
        64 hex digits.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from privlearn.audit.provenance import model_digest
    >>> a = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> b = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> model_digest(a) == model_digest(b), model_digest(a) == model_digest(b.fit([[0.0], [2.0]], [0, 1]))
    (True, False)
    """
    h = hashlib.sha256()
    _update(h, estimator)
    return h.hexdigest()


def model_digests(models):
    """``{name: model_digest(model)}`` for a mapping of trained models, in name order.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from privlearn.audit.provenance import model_digests
    >>> model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> list(model_digests({"b": model, "a": model}))
    ['a', 'b']
    """
    if not isinstance(models, dict):
        raise TypeError(f"model_digests: `models` must be a dict name -> model, got "
                        f"{type(models).__name__}")
    return {name: model_digest(models[name]) for name in sorted(models)}
