"""Pset splitting: the paper's partition on the real metadata, and the rules on small frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hca_dtl.data.metadata import read_bbbc021_metadata, treatment_table
from hca_dtl.data.psets import (
    PAPER_PSET1,
    PAPER_PSET2,
    PAPER_TARGET_COUNTS,
    make_problem,
    partitions,
    pset_summary,
    split_moas,
    split_psets,
)
from hca_dtl.data.schema import (
    BATCH,
    COMPOUND,
    CONCENTRATION,
    LABEL,
    MOA,
    PLATE,
    SITE,
    TREATMENT,
    WELL,
    treatment_name,
)

BBBC021 = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "bbbc021"


@pytest.fixture(scope="module")
def real_metadata() -> pd.DataFrame:
    image_csv, moa_csv = BBBC021 / "BBBC021_v1_image.csv.gz", BBBC021 / "BBBC021_v1_moa.csv"
    if not (image_csv.is_file() and moa_csv.is_file()):
        pytest.skip(f"real BBBC021 metadata not found in {BBBC021.resolve()} (../shared/data)")
    return read_bbbc021_metadata(image_csv, moa_csv)


# MOA -> (weeks, number of compounds, treatments per compound). A and B share weeks 1-2, C and D
# share week 3; treatments: A 1, B 2, C 3, D 4, so every pair of MOAs has its own count.
SMALL_DESIGN = {
    "A": (["Week1", "Week2"], 1, 1),
    "B": (["Week1", "Week2"], 1, 2),
    "C": (["Week3"], 1, 3),
    "D": (["Week3", "Week4"], 2, 2),
}


@pytest.fixture
def small_cells() -> pd.DataFrame:
    """Two cells per (treatment, week), plus DMSO cells; one feature column."""
    rows = []
    for moa, (weeks, n_compounds, n_concentrations) in SMALL_DESIGN.items():
        for c in range(n_compounds):
            compound = f"{moa.lower()}{c}"
            for k in range(n_concentrations):
                for week in weeks:
                    rows += [(week, compound, 10.0**k, moa)] * 2
    rows += [("Week1", "DMSO", 0.0, "DMSO")] * 3
    cells = pd.DataFrame(rows, columns=[BATCH, COMPOUND, CONCENTRATION, MOA])
    cells[PLATE] = cells[BATCH] + "_1"
    cells[WELL] = [f"W{i // 2:02d}" for i in range(len(cells))]
    cells[SITE] = 1
    cells[TREATMENT] = [treatment_name(c, x) for c, x in zip(cells[COMPOUND], cells[CONCENTRATION])]
    cells["Cells_AreaShape_Area"] = np.arange(len(cells), dtype="float32")
    return cells


def test_paper_partition_on_real_metadata(real_metadata: pd.DataFrame) -> None:
    treatments = treatment_table(real_metadata)
    meeting = partitions(treatments, PAPER_TARGET_COUNTS)
    assert len(meeting) == 3
    assert (meeting["pset1_compounds"] == 20).all() and (meeting["pset1_treatments"] == 42).all()
    assert (meeting["pset2_compounds"] == 18).all() and (meeting["pset2_treatments"] == 61).all()
    assert list(meeting["score"]) == sorted(meeting["score"], reverse=True)
    assert meeting["score"].iloc[0] > meeting["score"].iloc[1]
    pset1, pset2 = split_moas(treatments, target_counts=PAPER_TARGET_COUNTS)
    assert pset1 == PAPER_PSET1 and pset2 == PAPER_PSET2


def test_unconstrained_partitions_on_real_metadata(real_metadata: pd.DataFrame) -> None:
    table = partitions(treatment_table(real_metadata))
    assert len(table) == 462  # C(12, 6) / 2
    assert all("Actin disruptors" in p for p in table["pset1"])
    assert all(len(set(a) | set(b)) == 12 for a, b in zip(table["pset1"], table["pset2"]))
    # The paper's partition is one of the unconstrained optima (score 31), but not the only one.
    best = table[table["score"] == table["score"].max()]
    assert tuple(PAPER_PSET1) in set(best["pset1"]) and len(best) > 1


def test_split_psets_on_real_metadata(real_metadata: pd.DataFrame) -> None:
    problems = split_psets(real_metadata, None, {"method": "explicit", "pset1": PAPER_PSET1})
    assert set(problems) == {"pset1", "pset2", "all12"}
    expected = {"pset1": (20, 42, PAPER_PSET1), "pset2": (18, 61, PAPER_PSET2)}
    for name, (n_compounds, n_treatments, moas) in expected.items():
        cells, classes = problems[name]
        assert classes == moas
        assert (cells[COMPOUND].nunique(), cells[TREATMENT].nunique()) == (n_compounds, n_treatments)
    cells, classes = problems["all12"]
    assert classes == sorted(PAPER_PSET1 + PAPER_PSET2)
    assert len(cells) == len(problems["pset1"][0]) + len(problems["pset2"][0])
    assert (cells[MOA] != "DMSO").all()

    summary = pset_summary(problems)
    assert len(summary) == 24
    pset1 = summary[summary["problem"] == "pset1"]
    assert pset1["compounds"].sum() == 20 and pset1["treatments"].sum() == 42
    assert pset1["cells"].sum() == len(problems["pset1"][0])
    row = summary[(summary["problem"] == "pset1") & (summary["moa"] == "Kinase inhibitors")].iloc[0]
    assert row["batches"] == "Week7"


def test_batch_aware_keeps_week_sharing_moas_together(small_cells: pd.DataFrame) -> None:
    treatments = treatment_table(small_cells)
    table = partitions(treatments)
    assert [p for p in table["pset1"]] == [("A", "B"), ("A", "C"), ("A", "D")]
    # {A,B}|{C,D}: A-B share 2 weeks, C-D share 1; the other partitions share none.
    assert list(table["score"]) == [3, 0, 0]
    assert split_moas(treatments) == (["A", "B"], ["C", "D"])


def test_target_counts_choose_and_orient(small_cells: pd.DataFrame) -> None:
    treatments = treatment_table(small_cells)
    assert split_moas(treatments, target_counts={"pset1": {"treatments": 4}}) == (["A", "C"], ["B", "D"])
    # Pset1 = the half meeting Pset1's counts, even when it lacks the first MOA.
    targets = {"pset1": {"treatments": 7, "compounds": 3}, "pset2": {"treatments": 3}}
    assert split_moas(treatments, target_counts=targets) == (["C", "D"], ["A", "B"])
    with pytest.raises(ValueError, match="No partition"):
        split_moas(treatments, target_counts={"pset1": {"treatments": 100}})
    with pytest.raises(ValueError, match="wells"):
        split_moas(treatments, target_counts={"pset1": {"wells": 4}})


def test_explicit_split(small_cells: pd.DataFrame) -> None:
    treatments = treatment_table(small_cells)
    assert split_moas(treatments, method="explicit", pset1=["D", "B"]) == (["B", "D"], ["A", "C"])
    with pytest.raises(ValueError, match=r"\['Z'\]"):
        split_moas(treatments, method="explicit", pset1=["A", "Z"])
    with pytest.raises(ValueError, match="empty"):
        split_moas(treatments, method="explicit", pset1=["A", "B", "C", "D"])
    with pytest.raises(ValueError, match="pset1"):
        split_moas(treatments, method="explicit")
    with pytest.raises(ValueError, match="method"):
        split_moas(treatments, method="random")


def test_odd_number_of_moas_rejected(small_cells: pd.DataFrame) -> None:
    treatments = treatment_table(small_cells[small_cells[MOA] != "D"])
    with pytest.raises(ValueError, match="3 MOAs"):
        split_moas(treatments)


def test_make_problem_labels_and_categories(small_cells: pd.DataFrame) -> None:
    small_cells[MOA] = small_cells[MOA].astype("category")
    small_cells[COMPOUND] = small_cells[COMPOUND].astype("category")
    small_cells.index = small_cells.index + 100
    problem, classes = make_problem(small_cells, ["D", "B"])
    assert classes == ["B", "D"]
    assert problem[LABEL].dtype == "int64"
    assert (np.array(classes)[problem[LABEL]] == problem[MOA].astype(str)).all()
    assert list(problem[MOA].cat.categories) == ["B", "D"]
    assert set(problem[COMPOUND].cat.categories) == {"b0", "d0", "d1"}
    assert list(problem.index) == list(range(len(problem)))
    assert len(problem) == (small_cells[MOA].isin(["B", "D"])).sum()
    with pytest.raises(ValueError, match=r"\['Z'\]"):
        make_problem(small_cells, ["A", "Z"])
    with pytest.raises(ValueError, match="control"):
        make_problem(small_cells, ["A", "DMSO"])


def test_split_psets_and_summary_on_small_cells(small_cells: pd.DataFrame) -> None:
    derived = split_psets(small_cells, None, {})
    given = split_psets(small_cells, treatment_table(small_cells), {"method": "batch_aware"})
    for name in ("pset1", "pset2", "all12"):
        pd.testing.assert_frame_equal(derived[name][0], given[name][0])
        assert derived[name][1] == given[name][1]
    assert derived["pset1"][1] == ["A", "B"] and derived["all12"][1] == ["A", "B", "C", "D"]
    summary = pset_summary(derived)
    d = summary[(summary["problem"] == "pset2") & (summary["moa"] == "D")].iloc[0]
    assert (d["label"], d["compounds"], d["treatments"], d["cells"]) == (1, 2, 4, 16)
    assert d["batches"] == "Week3, Week4"
    with pytest.raises(ValueError, match="pset_1"):
        split_psets(small_cells, None, {"pset_1": ["A"]})
