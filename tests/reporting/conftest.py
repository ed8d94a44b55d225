"""Small hand-made result tables in the contracts of ``docs/architecture.md`` ("Experiment results")."""

from __future__ import annotations

import pandas as pd
import pytest

KEYS = {
    "BL Pset1": ("BL", "", "", "Pset1"),
    "DTL_1 Pset2→Pset1": ("DTL_1", "[00000011]", "Pset2", "Pset1"),
    "DTL_2 Pset2→Pset1": ("DTL_2", "[00001111]", "Pset2", "Pset1"),
    "BL Pset2": ("BL", "", "", "Pset2"),
    "svm_linear Pset1": ("svm_linear", "", "", "Pset1"),
    "nsc_1nn Pset1": ("nsc_1nn", "", "", "Pset1"),
}
# Treatment accuracy per repetition (fractions).
ACCURACY = {
    "BL Pset1": [0.80, 0.85, 0.90],
    "DTL_1 Pset2→Pset1": [0.70, 0.80, 0.90],
    "DTL_2 Pset2→Pset1": [0.85, 0.90, 0.95],
    "BL Pset2": [0.50, 0.50, 0.50],
    "svm_linear Pset1": [0.20, 0.25, 0.30],
    "nsc_1nn Pset1": [0.60, 0.60, 0.60],
}


def keys(experiment: str) -> dict[str, str]:
    approach, mask, source, target = KEYS[experiment]
    return {"experiment": experiment, "approach": approach, "mask": mask, "source": source,
            "target": target}


@pytest.fixture
def accuracies() -> pd.DataFrame:
    """Experiments deliberately out of the paper's order."""
    rows = [
        {**keys(e), "repetition": r, "treatment_accuracy": a, "cell_accuracy": a / 2,
         "n_treatments": 10, "n_cells": 500}
        for e in reversed(list(ACCURACY)) for r, a in enumerate(ACCURACY[e])
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def transfer_accuracies(accuracies: pd.DataFrame) -> pd.DataFrame:
    return accuracies[accuracies["approach"].str.startswith(("BL", "DTL"))].reset_index(drop=True)


@pytest.fixture
def runs() -> pd.DataFrame:
    """BL Pset1: 1, 1, 1 min/compound pretraining; 2, 3, 4 fine-tuning; 60, 80, 100 min total."""
    rows = []
    for r in range(3):
        rows.append({**keys("BL Pset1"), "repetition": r, "n_compounds": 20,
                     "pretrain_seconds": 1200.0, "finetune_seconds": 2400.0 + 1200.0 * r,
                     "wall_seconds": 3600.0 + 1200.0 * r})
        for e in ("DTL_1 Pset2→Pset1", "DTL_2 Pset2→Pset1"):
            rows.append({**keys(e), "repetition": r, "n_compounds": 20, "pretrain_seconds": 0.0,
                         "finetune_seconds": 1800.0, "wall_seconds": 1800.0})
        rows.append({**keys("BL Pset2"), "repetition": r, "n_compounds": 18,
                     "pretrain_seconds": 1080.0, "finetune_seconds": 1080.0, "wall_seconds": 2160.0})
    table = pd.DataFrame(rows)
    table["engine"], table["backend"], table["device"] = "batched", "tensorflow", "CPU"
    return table


@pytest.fixture
def comparisons() -> pd.DataFrame:
    rows = [
        {**keys("DTL_1 Pset2→Pset1"), "n": 3, "mean": 0.8, "sd": 0.1, "baseline": "BL Pset1",
         "p_seeds": 0.0004, "test_seeds": "welch", "difference": 0.05, "difference_low": -0.01,
         "difference_high": 0.1, "p_compounds_holm": 0.02},
        {**keys("DTL_2 Pset2→Pset1"), "n": 3, "mean": 0.9, "sd": 0.05, "baseline": "BL Pset1",
         "p_seeds": 0.35123, "test_seeds": "welch", "difference": -0.02,
         "difference_low": -0.08, "difference_high": 0.03, "p_compounds_holm": 1.0},
    ]
    return pd.DataFrame(rows)
