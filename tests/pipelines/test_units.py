"""The fan-in of a grid's units (``hca_dtl.pipelines.units.collect_results``)."""

from __future__ import annotations

import pandas as pd
import pytest

from hca_dtl.pipelines.units import COLLECTED_TABLES, collect_results


def _unit(experiment: str, digest: str, source: int | None) -> list[pd.DataFrame]:
    """One unit's tables, in ``COLLECTED_TABLES`` order."""
    choices = pd.DataFrame({"experiment": [experiment], "fold": [0], "chosen": [True]})
    if source is not None:
        choices["source_network"] = [source]
    tables = {"votes": pd.DataFrame({"experiment": [experiment], "correct": [True]}),
              "accuracies": pd.DataFrame({"experiment": [experiment], "accuracy": [0.5]}),
              "runs": pd.DataFrame({"experiment": [experiment], "learner": ["saa"],
                                    "parameters_digest": [digest]}),
              "choices": choices}
    return [tables[name] for name in COLLECTED_TABLES]


def _collect(*units: list[pd.DataFrame]) -> dict[str, pd.DataFrame]:
    by_table = [table for k in range(len(COLLECTED_TABLES)) for table in (u[k] for u in units)]
    return dict(zip(COLLECTED_TABLES, collect_results(*by_table)))


def test_units_are_stacked_and_a_column_only_some_units_have_stays_integer() -> None:
    collected = _collect(_unit("BL", "a", None), _unit("DTL_1", "a", 7))
    assert collected["votes"]["experiment"].tolist() == ["BL", "DTL_1"]
    sources = collected["choices"]["source_network"]
    assert str(sources.dtype) == "Int64" and sources.isna().tolist() == [True, False]
    assert (["x"] * 8)[sources.iloc[1]] == "x"  # usable as a list index, as the tests use it


def test_units_computed_with_different_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="different loocv / learner settings"):
        _collect(_unit("BL", "a", None), _unit("DTL_1", "b", 1))
