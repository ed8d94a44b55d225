"""Small synthetic problems for the evaluation tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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

# compound -> (MOA, batch). MOA "A" lives in Week1 only: with the batch held out, folds of A's
# compounds have no training cell of A.
COMPOUNDS = {
    "a1": ("A", "Week1"), "a2": ("A", "Week1"),
    "b1": ("B", "Week2"), "b2": ("B", "Week3"), "b3": ("B", "Week1"),
    "c1": ("C", "Week3"), "c2": ("C", "Week2"),
}
CLASSES = ["A", "B", "C"]


def make_cells(n_cells_per_well: int = 4, n_features: int = 6, separation: float = 4.0,
               seed: int = 0) -> pd.DataFrame:
    """Cells of 7 compounds (3 MOAs), 2 concentrations × 3 wells each; features are Gaussian
    around an MOA-specific mean (``separation`` apart, unit noise)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, separation, size=(len(CLASSES), n_features))
    rows = []
    for compound, (moa, batch) in COMPOUNDS.items():
        for concentration in (0.1, 1.0):
            for replicate in range(3):
                plate = f"{batch}_{replicate}"
                well = f"{compound}_{concentration}"
                for site in range(n_cells_per_well):
                    rows.append((plate, well, site, batch, compound, concentration,
                                 treatment_name(compound, concentration), moa))
    cells = pd.DataFrame(rows, columns=[PLATE, WELL, SITE, BATCH, COMPOUND, CONCENTRATION,
                                        TREATMENT, MOA])
    cells[LABEL] = cells[MOA].map({m: i for i, m in enumerate(CLASSES)}).astype(np.int64)
    noise = rng.normal(size=(len(cells), n_features))
    features = centres[cells[LABEL].to_numpy()] + noise
    for j in range(n_features):
        cells[f"Cells_F{j}"] = features[:, j].astype(np.float32)
    return cells


@pytest.fixture(scope="session")
def cells_factory():
    """``make_cells``, for tests that need other sizes or separations."""
    return make_cells


@pytest.fixture
def cells() -> pd.DataFrame:
    return make_cells()


@pytest.fixture
def classes() -> list[str]:
    return list(CLASSES)
