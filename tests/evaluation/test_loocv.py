"""Fold plan invariants on synthetic and real BBBC021 metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hca_dtl.data.metadata import read_bbbc021_metadata
from hca_dtl.data.schema import (
    BATCH,
    COMPOUND,
    CONTROL_MOA,
    MOA,
    PLATE,
    ROLE_TEST,
    ROLE_TRAIN,
    ROLE_UNUSED,
    ROLE_VALID,
    WELL,
    InputDataError,
)
from hca_dtl.evaluation.loocv import FoldPlan, leave_one_compound_out, train_valid_split

PSET1 = ["Actin disruptors", "DNA replication", "Epithelial", "Kinase inhibitors",
         "Microtubule stabilizers", "Protein degradation"]


def assert_invariants(cells: pd.DataFrame, plan: FoldPlan, hold_out_batch: bool = False) -> None:
    roles = plan.roles
    assert roles.dtype == np.int8 and roles.shape[0] == len(cells)
    compound = cells[COMPOUND].astype(str).to_numpy()
    well = (cells[PLATE].astype(str) + "/" + cells[WELL].astype(str)).to_numpy()
    for repetition in np.unique(plan.repetitions):
        in_rep = roles[:, plan.repetitions == repetition]
        assert np.all((in_rep == ROLE_TEST).sum(axis=1) == 1), "each cell TEST once per repetition"
    for fold in range(plan.n_folds):
        role = roles[:, fold]
        held_out = plan.compounds[fold]
        assert np.all((role == ROLE_TEST) == (compound == held_out))
        fit = (role == ROLE_TRAIN) | (role == ROLE_VALID)
        assert held_out not in set(compound[fit])
        assert not set(well[role == ROLE_TRAIN]) & set(well[role == ROLE_VALID])
        if hold_out_batch:
            batch = cells[BATCH].astype(str).to_numpy()
            assert not set(batch[fit]) & set(batch[role == ROLE_TEST])
        else:
            assert not np.any(role == ROLE_UNUSED)


def test_invariants_and_counts(cells):
    plan = leave_one_compound_out(cells, n_repetitions=2, validation_fraction=0.3, seed=1)
    assert plan.n_folds == 2 * cells[COMPOUND].nunique()
    assert plan.compounds[:7] == sorted(cells[COMPOUND].unique()) == plan.compounds[7:]
    assert list(plan.repetitions) == [0] * 7 + [1] * 7
    assert_invariants(cells, plan)
    summary = plan.summary()
    assert list(summary["n_test"]) == [int((cells[COMPOUND] == c).sum()) for c in plan.compounds]
    assert (summary[["n_train", "n_valid", "n_test"]].sum(axis=1) == len(cells)).all()
    assert summary["trainable"].all() and len(plan.untrainable_folds) == 0


def test_validation_is_stratified_by_moa(cells):
    plan = leave_one_compound_out(cells, validation_fraction=0.2)
    moa = cells[MOA].to_numpy()
    for fold in range(plan.n_folds):
        valid = plan.roles[:, fold] == ROLE_VALID
        train = plan.roles[:, fold] == ROLE_TRAIN
        assert set(moa[valid]) == set(moa[train]) == {"A", "B", "C"}


def test_repetitions_differ_reruns_identical(cells):
    first = leave_one_compound_out(cells, n_repetitions=2, seed=3)
    again = leave_one_compound_out(cells, n_repetitions=2, seed=3)
    other = leave_one_compound_out(cells, n_repetitions=2, seed=4)
    np.testing.assert_array_equal(first.roles, again.roles)
    assert not np.array_equal(first.roles[:, :7], first.roles[:, 7:])
    assert not np.array_equal(first.roles, other.roles)


def test_hold_out_batch_reports_untrainable_folds(cells):
    plan = leave_one_compound_out(cells, hold_out_batch=True)
    assert_invariants(cells, plan, hold_out_batch=True)
    # MOA A only exists in Week1, the batch of both its compounds.
    assert [plan.compounds[f] for f in plan.untrainable_folds] == ["a1", "a2"]
    summary = plan.summary()
    assert list(summary.loc[~summary["trainable"], "moa"]) == ["A", "A"]
    assert (summary.loc[summary["compound"] == "a1", "n_unused"] > 0).all()


def test_each_row_its_own_group(cells):
    wells = cells.drop_duplicates([PLATE, WELL]).reset_index(drop=True)
    by_well = leave_one_compound_out(wells, validation_fraction=0.25, seed=2)
    by_row = leave_one_compound_out(wells, validation_fraction=0.25, seed=2, group_by=None)
    assert_invariants(wells, by_well)
    np.testing.assert_array_equal(by_well.roles, by_row.roles)  # rows are wells: same groups
    assert (by_well.summary()["n_valid"] == by_well.summary()["n_valid_groups"]).all()


def test_train_valid_split(cells):
    plan = train_valid_split(cells, validation_fraction=0.2, seed=0)
    assert plan.roles.shape == (len(cells), 1)
    role = plan.roles[:, 0]
    assert set(np.unique(role)) == {ROLE_TRAIN, ROLE_VALID}
    assert set(cells.loc[role == ROLE_VALID, MOA]) == {"A", "B", "C"}


def test_bad_input(cells):
    with pytest.raises(InputDataError, match="Metadata_Compound"):
        leave_one_compound_out(cells.drop(columns=COMPOUND))
    with pytest.raises(InputDataError, match="control"):
        leave_one_compound_out(cells.assign(**{MOA: CONTROL_MOA}))
    with pytest.raises(ValueError, match="validation_fraction"):
        leave_one_compound_out(cells, validation_fraction=1.0)


BBBC021 = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "bbbc021"


@pytest.fixture(scope="module")
def images() -> pd.DataFrame:
    """Annotated BBBC021 images (one row per image, controls excluded)."""
    if not BBBC021.is_dir():
        pytest.skip(f"real BBBC021 metadata not found at {BBBC021} (present in CI and on dev machines)")
    data = BBBC021
    metadata = read_bbbc021_metadata(data / "BBBC021_v1_image.csv.gz", data / "BBBC021_v1_moa.csv")
    return metadata[metadata[MOA] != CONTROL_MOA].reset_index(drop=True)


@pytest.mark.parametrize("hold_out_batch", [False, True])
def test_real_metadata_all12(images, hold_out_batch):
    plan = leave_one_compound_out(images, hold_out_batch=hold_out_batch)
    assert plan.n_folds == 38
    assert_invariants(images, plan, hold_out_batch=hold_out_batch)
    if not hold_out_batch:
        assert plan.summary()["trainable"].all()


def test_real_metadata_pset1(images):
    pset1 = images[images[MOA].isin(PSET1)].reset_index(drop=True)
    plan = leave_one_compound_out(pset1, n_repetitions=2)
    assert plan.n_folds == 40 and len(set(plan.compounds)) == 20
    assert_invariants(pset1, plan)


def test_plan_round_trips_through_parquet(cells, tmp_path):
    plan = leave_one_compound_out(cells, n_repetitions=2, seed=1, hold_out_batch=True)
    plan.to_frame().to_parquet(tmp_path / "plan.parquet")
    back = FoldPlan.from_frame(pd.read_parquet(tmp_path / "plan.parquet"))
    np.testing.assert_array_equal(back.roles, plan.roles)
    np.testing.assert_array_equal(back.groups, plan.groups)
    assert (back.compounds, back.moas, back.protocol) == (plan.compounds, plan.moas, "NSCB")
    assert back.held_out_batches == plan.held_out_batches == [("Week1",)] * 2 + [
        ("Week2",), ("Week3",), ("Week1",), ("Week3",), ("Week2",)] + [("Week1",)] * 2 + [
        ("Week2",), ("Week3",), ("Week1",), ("Week3",), ("Week2",)]
    np.testing.assert_array_equal(back.untrainable_folds, plan.untrainable_folds)
    with pytest.raises(InputDataError, match="FoldPlan.to_frame"):
        FoldPlan.from_frame(pd.read_parquet(tmp_path / "plan.parquet").drop(columns="fold_3"))


def test_a_repetition_block_keeps_fold_numbers(cells):
    plan = leave_one_compound_out(cells, n_repetitions=3, seed=1, hold_out_batch=True)
    block = plan.repetition_block([1])
    assert list(block.fold_ids) == list(range(7, 14)) and set(block.repetitions) == {1}
    np.testing.assert_array_equal(block.roles, plan.roles[:, 7:14])
    assert [block.compounds[f] for f in block.untrainable_folds] == ["a1", "a2"]
    with pytest.raises(ValueError, match="asked for \\[5\\]"):
        plan.repetition_block([5])


@pytest.mark.parametrize("hold_out_batch", [False, True])
def test_inner_folds_use_only_the_outer_training_compounds(cells, hold_out_batch):
    from hca_dtl.evaluation.loocv import with_inner_folds

    plan = leave_one_compound_out(cells, n_repetitions=1, seed=0, hold_out_batch=hold_out_batch)
    nested = with_inner_folds(plan, cells, n_inner=2, seed=0)
    assert len(nested.outer) == plan.n_folds
    if not hold_out_batch:
        assert nested.plan.n_folds == plan.n_folds * 3 and list(nested.outer) == list(range(0, 21, 3))
    else:  # an inner fold left with nothing to train on is dropped
        assert nested.plan.n_folds < plan.n_folds * 3
    compound = cells[COMPOUND].astype(str).to_numpy()
    batch = cells[BATCH].astype(str).to_numpy()
    for k in range(nested.plan.n_folds):
        outer = nested.parent[k]
        role, outer_role = nested.plan.roles[:, k], nested.plan.roles[:, outer]
        if nested.inner[k] == 0:
            np.testing.assert_array_equal(role, outer_role)
            continue
        assert (role == ROLE_TRAIN).any() and (role == ROLE_VALID).any()
        outer_fit = np.isin(outer_role, (ROLE_TRAIN, ROLE_VALID))
        # Nothing of the outer fold's held-out compound (or of its batches, under NSCB).
        assert not np.any((role != ROLE_UNUSED) & ~outer_fit)
        test = role == ROLE_TEST
        assert test.any() and not set(compound[test]) & set(compound[np.isin(role, (ROLE_TRAIN, ROLE_VALID))])
        if hold_out_batch:
            assert not set(batch[test]) & set(batch[np.isin(role, (ROLE_TRAIN, ROLE_VALID))])
    # The inner folds of an outer fold hold out each of its training compounds exactly once.
    for outer in nested.outer if not hold_out_batch else []:
        inner = [k for k in range(nested.plan.n_folds) if nested.parent[k] == outer and nested.inner[k]]
        held = [c for k in inner for c in set(compound[nested.plan.roles[:, k] == ROLE_TEST])]
        fit = np.isin(nested.plan.roles[:, outer], (ROLE_TRAIN, ROLE_VALID))
        assert sorted(held) == sorted(set(compound[fit]))
