"""Column names shared by every stage, and the error raised for bad input.

A *cells table* (output of ingestion, input of everything after it) is a ``pandas.DataFrame``
with one row per cell (or per well for profile tables):

- metadata columns, named as in pycytominer with the ``Metadata_`` prefix (below);
- feature columns, ``float32``, whose names start with a CellProfiler compartment prefix
  (``Cells_``, ``Cytoplasm_``, ``Nuclei_``).

Control (DMSO) cells carry ``Metadata_MOA == "DMSO"``; they serve normalisation and belong to
no class.
"""

from __future__ import annotations

from collections.abc import Iterable

PLATE = "Metadata_Plate"
WELL = "Metadata_Well"
SITE = "Metadata_Site"
BATCH = "Metadata_Batch"
COMPOUND = "Metadata_Compound"
CONCENTRATION = "Metadata_Concentration"
TREATMENT = "Metadata_Treatment"
MOA = "Metadata_MOA"
LABEL = "Metadata_Label"

METADATA_COLUMNS = (PLATE, WELL, SITE, BATCH, COMPOUND, CONCENTRATION, TREATMENT, MOA)
COMPARTMENTS = ("Cells", "Cytoplasm", "Nuclei")
CONTROL_MOA = "DMSO"
UNKNOWN_MOA = "unknown"  # Metadata_MOA of non-control treatments read without an MOA table


class InputDataError(ValueError):
    """Bad input data; the message names the file, table, column or value at fault."""


def treatment_name(compound: str, concentration: float) -> str:
    """Treatment id of a compound at a concentration (µM), e.g. ``"taxol@0.3"``."""
    return f"{compound}@{float(concentration):g}"


def feature_columns(columns: Iterable[str]) -> list[str]:
    """The columns that carry a CellProfiler compartment prefix, in their given order."""
    prefixes = tuple(f"{c}_" for c in COMPARTMENTS)
    return [c for c in columns if c.startswith(prefixes)]


# Role of a cell in one LOOCV fold: the columns of a fold plan's ``roles`` array (cells × folds).
ROLE_UNUSED = 0
ROLE_TRAIN = 1
ROLE_VALID = 2
ROLE_TEST = 3
