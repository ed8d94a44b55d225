"""The project's Kedro dataset types (the only Kedro-aware code besides ``pipelines`` and ``hooks``).

Every save is atomic (temporary file in the same folder, fsync, rename) and ``exists()`` means the
persisted file is readable, not just present.
"""

from hca_dtl.io.files import (
    CSVDataset,
    JSONDataset,
    ParquetDataset,
    PlotlyJSONDataset,
    TextDataset,
)
from hca_dtl.io.keras_model import KerasModelDataset

__all__ = [
    "CSVDataset",
    "JSONDataset",
    "KerasModelDataset",
    "ParquetDataset",
    "PlotlyJSONDataset",
    "TextDataset",
]
