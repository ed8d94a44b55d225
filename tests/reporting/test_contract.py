"""The reporting functions accept what ``hca_dtl.evaluation`` produces (voting, statistics)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hca_dtl.evaluation.statistics import compare_to_baseline, confusion_matrices, per_class_scores
from hca_dtl.evaluation.voting import accuracies, majority_vote
from hca_dtl.reporting.figures import accuracy_boxplots, confusion_heatmaps
from hca_dtl.reporting.html import render_markdown_report
from hca_dtl.reporting.tables import ACCURACY, P_COMPOUNDS, P_SEEDS, table1, table2, table_s3

CLASSES = ["Actin disruptors", "DNA replication", "Epithelial"]
EXPERIMENTS = [("BL Pset1", "BL", "", ""), ("DTL_1 Pset2→Pset1", "DTL_1", "[00000011]", "Pset2")]


def _cell_predictions(seed: int = 0) -> pd.DataFrame:
    """Two experiments × 3 repetitions × 6 treatments (2 per MOA) × 10 cells, 70 % correct."""
    rng = np.random.default_rng(seed)
    rows = []
    for experiment, approach, mask, source in EXPERIMENTS:
        for repetition in range(3):
            for t in range(6):
                moa = CLASSES[t // 2]
                for _ in range(10):
                    predicted = moa if rng.random() < 0.7 else CLASSES[rng.integers(3)]
                    rows.append({"experiment": experiment, "approach": approach, "mask": mask,
                                 "source": source, "target": "Pset1", "repetition": repetition,
                                 "fold": t, "held_out": f"c{t}", "Metadata_Compound": f"c{t}",
                                 "Metadata_Treatment": f"c{t}@1", "Metadata_MOA": moa,
                                 "predicted": predicted})
    return pd.DataFrame(rows)


def test_tables_and_figures_from_evaluation_outputs() -> None:
    cells = _cell_predictions()
    votes = majority_vote(cells)
    accuracy = accuracies(votes, cells)
    runs = accuracy[["experiment", "approach", "mask", "source", "target", "repetition"]].assign(
        n_compounds=6, pretrain_seconds=lambda t: np.where(t["approach"] == "BL", 60.0, 0.0),
        finetune_seconds=120.0, wall_seconds=200.0)

    t1 = table1(accuracy, runs, compare_to_baseline(accuracy, votes))
    assert list(t1["Approach"]) == ["BL", "DTL_1"]
    expected = 100 * accuracy.groupby("approach")["treatment_accuracy"].mean()
    assert t1[ACCURACY].iloc[0].startswith(f"{expected['BL']:.2f} (")
    assert t1[P_SEEDS].iloc[0] == "—" and t1[P_SEEDS].iloc[1] != "—"
    assert t1[P_COMPOUNDS].iloc[1] not in ("—", "n/a")

    t2 = table2(accuracy)
    assert list(t2["Approach"]) == ["BL", "DTL_1"]

    s3 = table_s3(per_class_scores(votes, CLASSES))
    assert len(s3) == 2 * len(CLASSES) and set(s3["MOA"]) == set(CLASSES)

    confusions = confusion_matrices(votes, CLASSES)
    fig4 = confusion_heatmaps(confusions, {"Pset1": CLASSES}, source_label="SYNTHETIC test")
    assert len(fig4.data) == 2
    assert np.nansum(np.asarray(fig4.data[0].z, dtype=float)) == np.nansum(
        confusions.loc[confusions["experiment"] == "BL Pset1", "row_fraction"])
    fig3 = accuracy_boxplots(accuracy, source_label="SYNTHETIC test")
    assert len([t for t in fig3.data if t.type == "box"]) == 2

    report = render_markdown_report(
        title="T", data_source={"synthetic": True, "description": "test"},
        sections=[("Table 1", t1), ("Figure 3", fig3), ("Figure 4", fig4), ("Table S3", s3)],
        provenance={"parameters": {}, "versions": {"python": "3"}})
    assert report.splitlines()[0].startswith("> **SYNTHETIC DATA")
