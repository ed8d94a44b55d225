"""Kedro dataset types of this project (the only Kedro-aware code besides ``pipelines``)."""

from hca_dtl.datasets.keras_model import KerasModelDataset

__all__ = ["KerasModelDataset"]
