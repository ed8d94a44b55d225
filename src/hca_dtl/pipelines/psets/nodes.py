"""Nodes of the ``psets`` pipeline: the two 6-MOA problems of the paper and the 12-MOA problem."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from hca_dtl.data.psets import pset_summary, split_psets
from hca_dtl.data.schema import CONTROL_MOA, MOA
from hca_dtl.pipelines.grid import check_output_layers

logger = logging.getLogger(__name__)


def split_problems(cells: pd.DataFrame, params: dict[str, Any], transfer: dict[str, Any],
                   benchmark: dict[str, Any]) -> tuple:
    """Splits the annotated cells into Pset1, Pset2 and the 12-MOA problem, and checks, before
    any training, that every transfer setting can lay out its output layer on them
    (``grid.check_output_layers``).

    Returns:
        ``(pset1_cells, pset1_classes, pset2_cells, pset2_classes, all12_cells, all12_classes,
        controls, summary)``; each ``*_cells`` has an integer ``Metadata_Label`` and
        ``*_classes[code]`` is the MOA name of that code; ``controls`` are the control rows the
        folds' normalisers are fitted on; ``summary`` is the paper's Suppl. Table S1.
    """
    problems = split_psets(cells, None, params)
    check_output_layers({"Pset1": problems["pset1"][1], "Pset2": problems["pset2"][1]},
                        {"transfer": transfer, "benchmark": benchmark})
    summary = pset_summary(problems)
    for name, (table, classes) in problems.items():
        logger.info("%s: %d cells, %d classes: %s", name, len(table), len(classes), classes)
    return (
        *problems["pset1"],
        *problems["pset2"],
        *problems["all12"],
        cells[cells[MOA].astype(str) == CONTROL_MOA].reset_index(drop=True),
        summary,
    )


def problem_classes(pset1: list[str], pset2: list[str], all12: list[str]) -> dict[str, list[str]]:
    """Class lists by problem name, as used in the experiment keys' ``target``."""
    return {"Pset1": pset1, "Pset2": pset2, "all12": all12}
