"""Which Keras backend and device a run used (recorded with every timing and report)."""

from __future__ import annotations

import os
import platform


def keras_backend() -> str:
    """Name of the active Keras backend (``tensorflow``, ``jax`` or ``torch``)."""
    import keras

    return keras.backend.backend()


def device_description() -> str:
    """The accelerator the backend computes on, else the CPU model and core count."""
    backend = keras_backend()
    try:
        if backend == "jax":
            import jax

            devices = [d for d in jax.devices() if d.platform != "cpu"]
            if devices:
                return f"{devices[0].device_kind} (jax)"
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                return f"{torch.cuda.get_device_name(0)} (torch)"
        elif backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                return f"{gpus[0].name} (tensorflow)"
    except Exception:  # a broken accelerator stack still leaves the CPU to report
        pass
    return f"CPU: {_cpu_model()} ({os.cpu_count()} cores)"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


PACKAGES = ("hca_dtl", "kedro", "kedro-datasets", "keras", "tensorflow-cpu", "tensorflow", "jax",
            "torch", "numpy", "pandas", "pyarrow", "scikit-learn", "scipy", "plotly")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on (absent ones omitted)."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions
