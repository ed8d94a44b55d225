"""The kedro-datasets file types the catalogs use, with atomic saves and ``exists()`` = readable.

Each takes the same arguments as its kedro-datasets namesake (``filepath``, ``load_args``,
``save_args``, ``versioned``...), local files only. Catalog entry::

    cells:
      type: hca_dtl.io.ParquetDataset
      filepath: data/03_primary/cells.parquet
      versioned: true
"""

from __future__ import annotations

from kedro_datasets import json as kd_json
from kedro_datasets import pandas as kd_pandas
from kedro_datasets import plotly as kd_plotly
from kedro_datasets import text as kd_text

from hca_dtl.io.atomic import AtomicFileDataset
from hca_dtl.io.readable import check_json, check_parquet, check_text


class ParquetDataset(AtomicFileDataset, kd_pandas.ParquetDataset):
    """``pandas.ParquetDataset``, atomic; readable = footer and schema read."""

    _check_readable = staticmethod(check_parquet)


class CSVDataset(AtomicFileDataset, kd_pandas.CSVDataset):
    """``pandas.CSVDataset``, atomic; readable = decodes as UTF-8."""

    _check_readable = staticmethod(check_text)


class JSONDataset(AtomicFileDataset, kd_json.JSONDataset):
    """``json.JSONDataset``, atomic; readable = parses."""

    _check_readable = staticmethod(check_json)


class TextDataset(AtomicFileDataset, kd_text.TextDataset):
    """``text.TextDataset``, atomic; readable = decodes as UTF-8."""

    _check_readable = staticmethod(check_text)


class PlotlyJSONDataset(AtomicFileDataset, kd_plotly.JSONDataset):
    """``plotly.JSONDataset`` (a figure as plotly JSON), atomic; readable = parses."""

    _check_readable = staticmethod(check_json)
