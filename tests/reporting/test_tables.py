"""The paper's tables from hand-made result tables, and the transcription of the paper's own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hca_dtl.data.schema import InputDataError
from hca_dtl.reporting.paper import PAPER_ACCURACY_COLUMN, PAPER_TABLE1, PAPER_TABLE2
from hca_dtl.reporting.tables import (
    ACCURACY, DIFFERENCE, FINE_TUNED, P_COMPOUNDS, P_SEEDS, PAPER_TOTAL_COLUMN, PRETRAINED, TABLE1_COLUMNS, TOTAL, table1,
    table1_with_paper, table2, table_s3, to_markdown,
)


def _row(table: pd.DataFrame, approach: str, target: str) -> pd.Series:
    rows = table[(table["Approach"] == approach) & (table["PT"] == target)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_table1_values_format_and_order(transfer_accuracies, runs, comparisons) -> None:
    table = table1(transfer_accuracies, runs, comparisons)
    assert tuple(table.columns) == TABLE1_COLUMNS
    assert list(zip(table["Approach"], table["PT"])) == [
        ("BL", "Pset1"), ("DTL_1", "Pset1"), ("DTL_2", "Pset1"), ("BL", "Pset2")]
    bl = _row(table, "BL", "Pset1")
    assert bl[ACCURACY] == "85.00 (5.00)"
    assert (bl["Transfer"], bl["PS"], bl[P_SEEDS], bl[P_COMPOUNDS], bl["C"], bl["Repetitions"]) == (
        "—", "—", "—", "—", "20", 3)
    assert (bl[PRETRAINED], bl[FINE_TUNED], bl[TOTAL]) == ("1.000 (0.000)", "3.000 (1.000)", "80.000 (20.000)")
    dtl1 = _row(table, "DTL_1", "Pset1")
    assert (dtl1["Transfer"], dtl1["PS"]) == ("[00000011]", "Pset2")
    assert (dtl1[ACCURACY], dtl1[P_SEEDS], dtl1[PRETRAINED], dtl1[FINE_TUNED]) == (
        "80.00 (10.00)", "<0.001", "—", "1.500 (0.000)")
    assert (dtl1[DIFFERENCE], dtl1[P_COMPOUNDS]) == ("+5.0 (-1.0 to +10.0)", "0.020")
    assert _row(table, "DTL_2", "Pset1")[P_SEEDS] == "0.351"
    assert _row(table, "BL", "Pset2")[ACCURACY] == "50.00 (0.00)"


def test_table1_marks_missing_p_value_and_rejects_percentages(transfer_accuracies, runs, comparisons) -> None:
    table = table1(transfer_accuracies, runs, comparisons.iloc[:1])
    assert _row(table, "DTL_2", "Pset1")[P_SEEDS] == "—"  # no comparison row at all
    percent = transfer_accuracies.assign(treatment_accuracy=transfer_accuracies["treatment_accuracy"] * 100)
    with pytest.raises(InputDataError, match="treatment_accuracy"):
        table1(percent, runs, comparisons)
    with pytest.raises(InputDataError, match="wall_seconds"):
        table1(transfer_accuracies, runs.drop(columns="wall_seconds"), comparisons)


def test_table1_with_paper_after_csv_round_trip(transfer_accuracies, runs, comparisons, tmp_path: Path) -> None:
    path = tmp_path / "table1.csv"
    table1(transfer_accuracies, runs, comparisons).to_csv(path, index=False)
    table = table1_with_paper(pd.read_csv(path))
    columns = list(table.columns)
    assert columns.index(PAPER_ACCURACY_COLUMN) == columns.index(ACCURACY) + 1
    assert _row(table, "BL", "Pset1")[PAPER_ACCURACY_COLUMN] == "84.29 (3.21)"
    assert _row(table, "BL", "Pset1")[PAPER_TOTAL_COLUMN] == "506 (29)"
    assert _row(table, "DTL_1", "Pset1")[PAPER_ACCURACY_COLUMN] == "87.62 (6.96)"
    assert _row(table, "DTL_2", "Pset1")[PAPER_ACCURACY_COLUMN] == "77.62 (8.80)"
    assert _row(table, "BL", "Pset2")[PAPER_ACCURACY_COLUMN] == "87.05 (4.25)"
    assert _row(table, "BL", "Pset1")[ACCURACY] == "85.00 (5.00)"  # ours unchanged


def test_paper_table1_transcription() -> None:
    paper = PAPER_TABLE1.set_index(["approach", "target"])
    bl = paper.loc[("BL", "Pset1")]
    assert (bl["accuracy_pct_mean"], bl["accuracy_pct_sd"], bl["n_compounds"]) == (84.29, 3.21, 20)
    assert (bl["total_min_per_repetition_mean"], bl["total_min_per_repetition_sd"]) == (506, 29)
    assert bl["p_value"] == "—"
    assert paper.loc[("DTL_2", "Pset2"), "p_value"] == "<0.001"
    assert paper.loc[("DTL_1", "Pset1"), "p_value"] == "0.187"
    assert paper.loc[("DTL_2", "Pset2"), "accuracy_pct_sd"] == 11.4
    # DTL settings are not pretrained; BL is.
    dtl = PAPER_TABLE1[PAPER_TABLE1["approach"] != "BL"]
    assert dtl["pretrain_min_per_compound_mean"].isna().all()
    assert PAPER_TABLE1.loc[PAPER_TABLE1["approach"] == "BL", "pretrain_min_per_compound_mean"].notna().all()
    # The paper's totals are (pretraining + fine-tuning minutes per compound) × C, to within rounding.
    per_compound = (PAPER_TABLE1["pretrain_min_per_compound_mean"].fillna(0.0)
                    + PAPER_TABLE1["finetune_min_per_compound_mean"])
    np.testing.assert_allclose(per_compound * PAPER_TABLE1["n_compounds"],
                               PAPER_TABLE1["total_min_per_repetition_mean"], atol=1.0)
    assert set(PAPER_TABLE1["target"]) == {"Pset1", "Pset2"} and len(PAPER_TABLE1) == 10


def test_table2_picks_best_dtl_and_sits_beside_paper(accuracies) -> None:
    table = table2(accuracies)
    pset1 = table[table["Target"] == "Pset1"].set_index("Approach")
    assert list(pset1.index) == ["BL", "DTL_2", "nsc_1nn", "svm_linear"]  # DTL_2 beats DTL_1 here
    assert pset1.loc["DTL_2", "Method"] == "SAA best DTL (DTL_2 [00001111])"
    assert pset1.loc["DTL_2", "Treatment accuracy % mean (SD)"] == "90.00 (5.00)"
    assert pset1.loc["DTL_2", PAPER_ACCURACY_COLUMN] == "87.62"
    assert pset1.loc["BL", "Cell accuracy % mean (SD)"] == "42.50 (2.50)"
    assert pset1.loc["svm_linear", PAPER_ACCURACY_COLUMN] == "≈ 21"
    assert pset1.loc["nsc_1nn", PAPER_ACCURACY_COLUMN] == "—"
    pset2 = table[table["Target"] == "Pset2"]
    assert list(pset2["Approach"]) == ["BL"] and pset2[PAPER_ACCURACY_COLUMN].iloc[0] == "87.05"
    renamed = table2(accuracies.replace({"approach": {"svm_linear": "SVM-linear"}}))
    assert renamed.loc[renamed["Approach"] == "SVM-linear", PAPER_ACCURACY_COLUMN].tolist() == ["≈ 21"]
    assert PAPER_TABLE2.set_index(["target", "method"]).loc[("Pset2", "svm_rbf"), "accuracy_pct"] == 18.0


def test_table_s3_formats_scores_with_sd() -> None:
    rows = []
    for experiment, approach, mask, source in (("DTL_1 Pset2→Pset1", "DTL_1", "[00000011]", "Pset2"),
                                               ("BL Pset1", "BL", "", "")):
        for moa, p in (("Epithelial", 0.851), ("Actin disruptors", 0.5)):
            rows.append({"experiment": experiment, "approach": approach, "mask": mask, "source": source,
                         "target": "Pset1", "moa": moa, "precision": p, "recall": 1.0, "f1": 0.6,
                         "support": 4.0, "precision_sd": 0.04, "recall_sd": 0.0, "f1_sd": np.nan})
    table = table_s3(pd.DataFrame(rows))
    assert list(table.columns) == ["Experiment", "MOA", "Precision", "Recall", "F1", "Support"]
    assert list(table["Experiment"]) == ["BL Pset1"] * 2 + ["DTL_1 Pset2→Pset1"] * 2
    assert list(table["MOA"][:2]) == ["Epithelial", "Actin disruptors"]
    first = table.iloc[0]
    assert (first["Precision"], first["Recall"], first["F1"], first["Support"]) == (
        "0.85 (0.04)", "1.00 (0.00)", "0.60", "4")


def test_to_markdown_escapes_and_titles() -> None:
    df = pd.DataFrame({"a|b": ["x|y", None], "n": [1.5, 2.0]})
    text = to_markdown(df, title="Table 9")
    lines = text.splitlines()
    assert lines[0] == "### Table 9"
    assert lines[2] == r"| a\|b | n |"
    assert lines[3].count("---") == 2
    assert lines[4] == r"| x\|y | 1.5 |"
    assert lines[5] == "|  | 2 |"
    indexed = to_markdown(pd.DataFrame({"value": [3]}, index=pd.Index(["cells"], name="item")))
    assert indexed.splitlines()[0] == "| item | value |"


def test_benchmark_headline_marks_the_best_and_compares_best_network_with_best_other() -> None:
    from hca_dtl.reporting.tables import benchmark_headline

    rng = np.random.default_rng(0)
    compounds = [f"c{i}" for i in range(12)]
    rate = {"BL": 0.75, "MLP": 0.95, "NSC 1-NN": 0.6, "svm_linear": 0.7}
    votes = pd.DataFrame([
        {"experiment": f"{m} {t}", "approach": m, "target": t, "repetition": 0,
         "Metadata_Compound": c, "Metadata_Treatment": f"{c}@{k}",
         "correct": bool(rng.random() < rate[m] - 0.1 * (t == "Pset1 NSCB"))}
        for t in ("Pset1", "Pset1 NSCB") for m in rate for c in compounds for k in (1, 2)])
    accuracy = votes.groupby(["target", "approach"], sort=False)["correct"].mean()
    summary = pd.DataFrame({"target": [t for t, _ in accuracy.index],
                            "method": [m for _, m in accuracy.index],
                            "accuracy_mean": accuracy.to_numpy(), "n_treatments": 24})
    text = benchmark_headline(summary, votes, networks=["BL", "MLP"])
    best = accuracy["Pset1"].idxmax()
    assert f"**{100 * accuracy['Pset1', best]:.1f}**" in text
    assert "| method | Pset1 (24) | Pset1 NSCB (24) |" in text
    rows = [line for line in text.splitlines() if line.startswith("| Pset1")]
    assert len(rows) == 2
    network = max(("BL", "MLP"), key=lambda m: accuracy["Pset1", m])
    other = max(("NSC 1-NN", "svm_linear"), key=lambda m: accuracy["Pset1", m])
    assert rows[0].startswith(f"| Pset1 | {network} ({100 * accuracy['Pset1', network]:.1f}) | "
                              f"{other} ({100 * accuracy['Pset1', other]:.1f}) | "
                              f"{100 * (accuracy['Pset1', network] - accuracy['Pset1', other]):+.1f} (")
