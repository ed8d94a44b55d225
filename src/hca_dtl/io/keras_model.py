"""A versioned Kedro dataset for the project's Keras models (``.keras`` files).

``kedro_datasets.tensorflow.TensorFlowModelDataset`` imports TensorFlow and saves through
``tf.keras``; this one calls ``keras.saving`` through ``hca_dtl.model`` so that models save and
load on any Keras backend (TensorFlow, JAX, PyTorch).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, Version
from kedro.io.core import DatasetError

from hca_dtl.io.atomic import AtomicFileDataset
from hca_dtl.io.readable import check_zip


class KerasModelDataset(AtomicFileDataset, AbstractVersionedDataset[Any, Any]):
    """Loads and saves a ``keras.Model`` as one ``.keras`` file, optionally versioned.

    Saves are atomic; ``exists()`` means the zip's central directory opens. Example catalog entry::

        pset2_source_model:
          type: hca_dtl.io.KerasModelDataset
          filepath: data/06_models/pset2_source_model.keras
          versioned: true
    """

    _check_readable = staticmethod(check_zip)

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

        return load_model(self._local(self._get_load_path()))

    def _write(self, data: Any, path: Path) -> None:
        from hca_dtl.model import save_model

        save_model(data, path)  # the temporary's name ends in .keras, as Keras requires

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}
