"""Figures: number of traces and panels, values placed where they belong, data-source label."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from hca_dtl.data.schema import InputDataError
from hca_dtl.reporting.figures import (
    accuracy_boxplots, accuracy_comparison, confusion_heatmaps, vote_share_figure,
)

LABEL = "SYNTHETIC data (test fixture)"


def _traces(fig: go.Figure, kind: str) -> list:
    return [t for t in fig.data if t.type == kind]


def _n_panels(fig: go.Figure) -> int:
    return sum(1 for name in fig.layout.to_plotly_json() if name.startswith("xaxis"))


def test_accuracy_boxplots_one_box_per_setting_one_panel_per_target(transfer_accuracies) -> None:
    fig = accuracy_boxplots(transfer_accuracies, source_label=LABEL)
    boxes = _traces(fig, "box")
    assert len(boxes) == 4 and _n_panels(fig) == 2
    assert LABEL in fig.layout.title.text
    assert [b.x[0] for b in boxes] == ["BL", "DTL_1", "DTL_2", "BL"]
    assert all(b.boxpoints == "all" for b in boxes)
    np.testing.assert_allclose(boxes[1].y, [70.0, 80.0, 90.0])
    left, right = fig.layout.annotations[0].text, fig.layout.annotations[1].text
    assert left == "Target Pset1 (DTL reusing Pset2)" and right == "Target Pset2"
    paper = _traces(fig, "scatter")
    assert [list(p.y) for p in paper] == [[84.29, 87.62, 77.62], [87.05]]
    assert boxes[3].xaxis == paper[1].xaxis == "x2"


def test_figures_refuse_an_empty_source_label(transfer_accuracies) -> None:
    with pytest.raises(ValueError, match="source_label"):
        accuracy_boxplots(transfer_accuracies, source_label="")


def _confusions() -> pd.DataFrame:
    rows = []
    for experiment, approach, mask, source in (("DTL_1 Pset2→Pset1", "DTL_1", "[00000011]", "Pset2"),
                                               ("BL Pset1", "BL", "", "")):
        for true, predicted, count in (("A", "A", 3), ("A", "B", 1), ("B", "B", 2)):
            rows.append({"experiment": experiment, "approach": approach, "mask": mask,
                         "source": source, "target": "Pset1", "true": true, "predicted": predicted,
                         "count": count, "row_fraction": count / (4 if true == "A" else 2)})
    rows.append({"experiment": "BL Pset2", "approach": "BL", "mask": "", "source": "",
                 "target": "Pset2", "true": "C", "predicted": "C", "count": 5, "row_fraction": 1.0})
    return pd.DataFrame(rows)


def test_confusion_heatmaps_grid_counts_and_fractions() -> None:
    classes = {"Pset1": ["A", "B", "Z"], "Pset2": ["C", "D"]}
    fig = confusion_heatmaps(_confusions(), classes, source_label=LABEL)
    maps = _traces(fig, "heatmap")
    assert [m.name for m in maps] == ["BL Pset1", "DTL_1 Pset2→Pset1", "BL Pset2"]
    assert _n_panels(fig) == 4  # 2 targets × up to 2 experiments
    assert LABEL in fig.layout.title.text
    bl = maps[0]
    assert list(bl.y) == ["A", "B", "Z"] and list(bl.x) == ["A", "B", "Z"]
    np.testing.assert_allclose(np.asarray(bl.z, dtype=float),
                               [[0.75, 0.25, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert [list(r) for r in bl.text] == [["3", "1", "0"], ["0", "2", "0"], ["0", "0", "0"]]
    assert maps[2].xaxis == "x3"  # Pset2 starts the second row
    assert fig.layout.coloraxis.cmin == 0.0 and fig.layout.coloraxis.cmax == 1.0
    # Panels wrap instead of running off the page: one per row here, each target a new row.
    narrow = confusion_heatmaps(_confusions(), classes, source_label=LABEL, columns=1)
    assert _n_panels(narrow) == 3 and narrow.layout.width == 330 + 260
    assert [m.xaxis for m in _traces(narrow, "heatmap")] == ["x", "x2", "x3"]


def test_confusion_heatmaps_reject_unknown_classes_and_targets() -> None:
    with pytest.raises(InputDataError, match="'B'"):
        confusion_heatmaps(_confusions(), {"Pset1": ["A"], "Pset2": ["C"]}, source_label=LABEL)
    with pytest.raises(InputDataError, match="Pset2"):
        confusion_heatmaps(_confusions(), {"Pset1": ["A", "B"]}, source_label=LABEL)


def test_vote_share_figure_stacks_one_bar_per_class() -> None:
    shares = pd.DataFrame({"Metadata_Treatment": ["taxol@0.3", "ALLN@3"], "A": [0.75, 0.1],
                           "B": [0.25, 0.0], "C": [0.0, 0.9], "n_cells": [40, 10]})
    fig = vote_share_figure(shares, ["A", "B", "C"], source_label=LABEL)
    bars = _traces(fig, "bar")
    assert [b.name for b in bars] == ["A", "B", "C"] and fig.layout.barmode == "stack"
    assert list(bars[0].y) == ["taxol@0.3", "ALLN@3"]
    np.testing.assert_allclose(sum(np.asarray(b.x, dtype=float) for b in bars), [100.0, 100.0])
    assert LABEL in fig.layout.title.text
    with pytest.raises(InputDataError, match="'D'"):
        vote_share_figure(shares, ["A", "D"], source_label=LABEL)


def test_accuracy_comparison_bars_per_method_and_chance(accuracies) -> None:
    fig = accuracy_comparison(accuracies, "Benchmark", source_label=LABEL)
    bars = _traces(fig, "bar")
    assert [b.name for b in bars] == ["BL", "DTL_1", "DTL_2", "nsc_1nn", "svm_linear"]
    bl = bars[0]
    assert list(bl.x) == ["Pset1", "Pset2"]
    np.testing.assert_allclose(bl.y, [85.0, 50.0])
    np.testing.assert_allclose(bl.error_y.array, [5.0, 0.0])
    chance = _traces(fig, "scatter")
    assert len(chance) == 1
    np.testing.assert_allclose(chance[0].y, [100 / 6, 100 / 6])
    assert "Benchmark" in fig.layout.title.text and LABEL in fig.layout.title.text
    custom = accuracy_comparison(accuracies, "Benchmark", source_label=LABEL, chance={"Pset1": 0.25})
    np.testing.assert_allclose(_traces(custom, "scatter")[0].y, [25.0, 100 / 6])
    with pytest.raises(InputDataError, match="chance"):
        accuracy_comparison(accuracies.assign(target="other"), "x", source_label=LABEL)
