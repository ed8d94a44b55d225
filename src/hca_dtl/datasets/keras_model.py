"""A versioned Kedro dataset for the project's Keras models (``.keras`` files).

``kedro_datasets.tensorflow.TensorFlowModelDataset`` imports TensorFlow and saves through
``tf.keras``; this one calls ``keras.saving`` through ``hca_dtl.model`` so that models save and
load on any Keras backend (TensorFlow, JAX, PyTorch).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, Version
from kedro.io.core import DatasetError


class KerasModelDataset(AbstractVersionedDataset[Any, Any]):
    """Loads and saves a ``keras.Model`` as one ``.keras`` file, optionally versioned.

    Example catalog entry::

        pset2_source_model:
          type: hca_dtl.datasets.KerasModelDataset
          filepath: data/06_models/pset2_source_model.keras
          versioned: true
    """

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if not filepath.endswith(".keras"):
            raise DatasetError(f"KerasModelDataset needs a '.keras' filepath, got '{filepath}'")
        super().__init__(filepath=PurePosixPath(filepath), version=version)
        self.metadata = metadata

    def load(self) -> Any:
        from hca_dtl.model import load_model

        return load_model(Path(self._get_load_path()))

    def save(self, data: Any) -> None:
        from hca_dtl.model import save_model

        path = Path(self._get_save_path())
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target, then rename: a failed save leaves no half-written model.
        fd, tmp = tempfile.mkstemp(suffix=".keras", dir=path.parent)
        os.close(fd)
        try:
            save_model(data, Path(tmp))
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def _exists(self) -> bool:
        try:
            path = self._get_load_path()
        except DatasetError:
            return False
        return Path(path).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}
