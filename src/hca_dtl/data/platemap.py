"""Platemaps, the field's metadata convention (pycytominer, Cell Painting Gallery).

A platemap CSV has one row per plate × well: plate, well, compound, concentration (µM), and
optionally batch and replicate; other columns are ignored. When one layout serves many plates, a
barcode → platemap CSV maps each plate (``Assay_Plate_Barcode``) to a platemap name
(``Plate_Map_Name``), and the platemap's rows are keyed by that name instead of the plate.
Column names are configurable (``PlatemapColumns``, ``BarcodeColumns``); the defaults read
pycytominer-style ``Metadata_*`` columns. Identifiers are text and wells are normalised
(``metadata.normalize_wells``). A control compound's concentration may be left empty (0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from hca_dtl.config import config_from_dict
from hca_dtl.data.metadata import (
    fail_on_duplicates, identifier_strings, normalize_wells, parse_concentrations, read_metadata_csv,
)
from hca_dtl.data.schema import BATCH, COMPOUND, CONCENTRATION, PLATE, TREATMENT, WELL, InputDataError, treatment_name

PLATEMAP_NAME = "platemap_name"  # the key column of a platemap read with a barcode file
REPLICATE = "replicate"


@dataclass(frozen=True)
class PlatemapColumns:
    """Column names of the platemap; ``batch`` and ``replicate`` may be absent from the file.
    ``platemap_name`` keys the rows instead of ``plate`` when a barcode file is given."""

    plate: str = "Metadata_Plate"
    well: str = "Metadata_Well"
    compound: str = "Metadata_Compound"
    concentration: str = "Metadata_Concentration"
    batch: str = "Metadata_Batch"
    replicate: str = "Metadata_Replicate"
    platemap_name: str = "Metadata_Plate_Map_Name"

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> PlatemapColumns:
        return config_from_dict(cls, params)


@dataclass(frozen=True)
class BarcodeColumns:
    """Column names of the barcode → platemap file (the Cell Painting Gallery's by default)."""

    plate: str = "Assay_Plate_Barcode"
    platemap_name: str = "Plate_Map_Name"

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> BarcodeColumns:
        return config_from_dict(cls, params)


_HINT = "Set data_source.files.columns.{} (or predict.columns.{}) to your file's names."


def read_platemap(path: str | Path, columns: PlatemapColumns, *, by_platemap_name: bool,
                  control_compounds: Sequence[str]) -> pd.DataFrame:
    """The platemap's rows, keyed by (plate, well) or, ``by_platemap_name``, (platemap name, well).

    Returns:
        One row per key: ``Metadata_Plate`` or ``platemap_name``, ``Metadata_Well`` (normalised),
        ``Metadata_Compound``, ``Metadata_Concentration`` (µM; empty for a control compound → 0),
        ``Metadata_Treatment``, ``Metadata_Batch`` (None where the file has no batch column) and
        ``replicate`` (None without a replicate column); ``attrs["batch_column"]`` says whether
        the batch column was there.

    Raises:
        InputDataError: missing file or column, a bad concentration, or a key on several rows
            (the file lines named).
    """
    key, key_column = (PLATEMAP_NAME, columns.platemap_name) if by_platemap_name else (PLATE, columns.plate)
    table = read_metadata_csv(path, [key_column, columns.well, columns.compound, columns.concentration],
                              what="Platemap", hint=_HINT.format("platemap", "platemap"))
    compound = identifier_strings(table[columns.compound])
    if compound.isna().any():
        raise InputDataError(f"Platemap '{path}' column {columns.compound!r} is empty on line "
                             f"{int(compound.isna().to_numpy().argmax()) + 2}; every listed well needs its compound.")
    concentration = parse_concentrations(table[columns.concentration], path, columns.concentration,
                                         missing_ok=compound.isin(list(control_compounds)))
    rows = pd.DataFrame({
        key: identifier_strings(table[key_column]),
        WELL: normalize_wells(table[columns.well]),
        COMPOUND: compound,
        CONCENTRATION: concentration,
        TREATMENT: [treatment_name(c, x) for c, x in zip(compound, concentration)],
        BATCH: identifier_strings(table[columns.batch]) if columns.batch in table.columns else None,
        REPLICATE: identifier_strings(table[columns.replicate]) if columns.replicate in table.columns else None,
    })
    fail_on_duplicates(rows, [key, WELL], path, "Platemap")
    rows.attrs["batch_column"] = columns.batch in table.columns
    return rows


def read_barcode_platemap(path: str | Path, columns: BarcodeColumns) -> pd.Series:
    """Plate barcode → platemap name (text), one row per plate.

    Raises:
        InputDataError: missing file or column, or a plate on several rows.
    """
    table = read_metadata_csv(path, [columns.plate, columns.platemap_name], what="Barcode platemap",
                              hint=_HINT.format("barcode_platemap", "barcode_platemap"))
    plates = identifier_strings(table[columns.plate])
    names = identifier_strings(table[columns.platemap_name])
    fail_on_duplicates(pd.DataFrame({PLATE: plates}), [PLATE], path, "Barcode platemap")
    return pd.Series(names.to_numpy(), index=pd.Index(plates, name=PLATE), name=PLATEMAP_NAME)
