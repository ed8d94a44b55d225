"""Kedro runners of the project: ``kedro run --runner=hca_dtl.runners.DaskRunner``."""

from hca_dtl.runners.dask import DaskRunner, DaskSettings, NodeFailedError, UnitDatasetError

__all__ = ["DaskRunner", "DaskSettings", "NodeFailedError", "UnitDatasetError"]
