"""Metadata files as a lab and BBBC021 write them: identifiers, the MOA table, the BBBC021 image table.

Identifiers (plate, well, site, ``TableNumber``) are read as text, never as numbers, so a plate
``001`` stays ``001`` and a hashed cytominer ``TableNumber`` works. Wells are compared in one
form, ``normalize_wells``: row letter(s) upper-case + column number with two digits at least, so
``E6``, ``E06``, ``e06`` and `` E06 `` are all ``E06`` (a well that is not letters + number, e.g.
``r01c01``, is kept as written, stripped of spaces).

``BBBC021_v1_image.csv(.gz)`` has one row per image (13,200 for BBBC021 v1) keyed by
``(TableNumber, ImageNumber)`` — the keys of the CellProfiler per-cell database. The MOA table
(``BBBC021_v1_moa.csv``-like: compound, concentration, moa) annotates treatments (a compound at
a concentration, µM), matched through ``schema.treatment_name`` (6 significant digits, so
``0.003`` and ``0.0030000001`` agree). Platemaps are read by ``hca_dtl.data.platemap``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hca_dtl.config import config_from_dict
from hca_dtl.data.schema import (
    BATCH, COMPOUND, CONCENTRATION, CONTROL_MOA, MOA, PLATE, SITE, TREATMENT, UNKNOWN_MOA, WELL, InputDataError,
    treatment_name,
)

logger = logging.getLogger(__name__)

IMAGE_KEYS = ("TableNumber", "ImageNumber")
IMAGE_COLUMNS = (
    *IMAGE_KEYS,
    "Image_FileName_DAPI",
    "Image_PathName_DAPI",
    "Image_Metadata_Plate_DAPI",
    "Image_Metadata_Well_DAPI",
    "Image_Metadata_Compound",
    "Image_Metadata_Concentration",
)
_SITE_PATTERN = re.compile(r"_s(\d+)_")
_WELL_PATTERN = re.compile(r"^([A-Za-z]{1,2})0*(\d{1,3})$")
_SHOWN = 5  # rows named in an error message


@dataclass(frozen=True)
class MoaColumns:
    """Column names of the MOA table (one row per treatment)."""

    compound: str = "compound"
    concentration: str = "concentration"
    moa: str = "moa"

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> MoaColumns:
        return config_from_dict(cls, params)


def normalize_wells(values: pd.Series) -> pd.Series:
    """Wells in one form: ``E6``, ``e06``, `` E06 `` → ``E06``; ``AF48`` stays; others are stripped."""
    text = values.astype("string").str.strip()
    parts = text.str.extract(_WELL_PATTERN)
    number = pd.to_numeric(parts[1], errors="coerce")
    canonical = parts[0].str.upper() + number.map(lambda n: f"{int(n):02d}" if pd.notna(n) else None).astype("string")
    return canonical.fillna(text).astype(object).where(values.notna(), None)


def identifier_strings(values: pd.Series) -> pd.Series:
    """Identifiers as text: stripped strings; integral numbers written without ``.0``; missing stays None."""
    if pd.api.types.is_float_dtype(values):
        whole = values.notna() & (values == np.round(values))
        text = values.astype(object).where(~whole, values.where(whole).astype("Int64").astype(str))
        return text.astype(str).where(values.notna(), None)
    return values.astype("string").str.strip().astype(object).where(values.notna(), None)


def read_metadata_csv(path: str | Path, required: Sequence[str], *, what: str, hint: str = "") -> pd.DataFrame:
    """A metadata CSV (``.csv`` / ``.csv.gz``) with every column read as text.

    Raises:
        InputDataError: the file is missing or unreadable, or lacks one of ``required`` (named,
            with the columns it has and ``hint``: where to set other names).
    """
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{what} '{path}' does not exist.")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as error:
        raise InputDataError(f"Cannot read the {what} '{path}': {error}.") from error
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise InputDataError(
            f"{what} '{path}' lacks the column(s) {missing} (it has {list(table.columns)[:12]}).{hint and ' ' + hint}"
        )
    return table


def fail_on_duplicates(table: pd.DataFrame, keys: Sequence[str], path: str | Path, what: str) -> None:
    """Raises ``InputDataError`` naming the file lines that repeat a key (line 2 = first data row)."""
    repeated = table.duplicated(list(keys), keep=False)
    if not repeated.any():
        return
    rows = table.loc[repeated, list(keys)]
    groups = rows.groupby(list(keys), sort=False, dropna=False).groups
    shown = [f"{dict(zip(keys, key if isinstance(key, tuple) else (key,)))} on lines "
             f"{', '.join(str(i + 2) for i in index)}" for key, index in list(groups.items())[:_SHOWN]]
    raise InputDataError(
        f"{what} '{path}' has {len(groups)} key(s) {list(keys)} on more than one row: {'; '.join(shown)}. "
        "Keep one row per key (wells are compared as E06 = E6 = e06)."
    )


def parse_concentrations(values: pd.Series, path: str | Path, column: str, *, missing_ok: pd.Series | None = None
                         ) -> pd.Series:
    """Concentrations (µM) as floats; a non-numeric value, or a missing one outside ``missing_ok``
    (those become 0), raises ``InputDataError`` naming the file, column, line and value."""
    numbers = pd.to_numeric(values, errors="coerce")
    allowed = values.isna() & (missing_ok if missing_ok is not None else False)
    bad = numbers.isna() & ~allowed
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise InputDataError(
            f"'{path}' column {column!r} has the non-numeric or missing value {values[bad].iloc[0]!r} on line {line} "
            f"({int(bad.sum())} such row(s)); give concentrations in µM as numbers."
        )
    return numbers.fillna(0.0).astype(float)


def read_moa_table(path: str | Path, columns: MoaColumns = MoaColumns()) -> pd.Series:
    """The MOA of each annotated treatment id (controls too when listed), from an MOA table.

    Raises:
        InputDataError: missing file or column, a bad concentration, or a treatment on two rows.
    """
    moa = read_metadata_csv(path, [columns.compound, columns.concentration, columns.moa], what="MOA table",
                            hint="Set data_source.files.columns.moa to your names.")
    concentration = parse_concentrations(moa[columns.concentration], path, columns.concentration)
    compound = identifier_strings(moa[columns.compound])
    moa = moa.assign(**{TREATMENT: [treatment_name(c, x) for c, x in zip(compound, concentration)]})
    fail_on_duplicates(moa, [TREATMENT], path, "MOA table")
    return pd.Series(moa[columns.moa].astype(str).str.strip().to_numpy(), index=pd.Index(moa[TREATMENT], name=TREATMENT))


def read_image_table(path: str | Path) -> pd.DataFrame:
    """The BBBC021 image table: which plate, well, site, batch and treatment each image shows.

    Returns:
        One row per image: ``TableNumber`` (text), ``ImageNumber`` (int), ``Metadata_Plate``,
        ``Metadata_Well`` (normalised), ``Metadata_Site`` (int, ``_sN_`` in the DAPI file name),
        ``Metadata_Batch`` (first folder of ``Image_PathName_DAPI``, e.g. ``Week4``),
        ``Metadata_Compound``, ``Metadata_Concentration`` (µM), ``Metadata_Treatment``.

    Raises:
        InputDataError: missing file or column, a repeated image key, or a concentration, image
            number, site or path that cannot be parsed (file, column, line and value named).
    """
    images = read_metadata_csv(path, IMAGE_COLUMNS, what="Image table")
    image_number = pd.to_numeric(images["ImageNumber"], errors="coerce")
    if image_number.isna().any() or (image_number != np.round(image_number)).any():
        bad = images["ImageNumber"][image_number.isna() | (image_number != np.round(image_number))]
        raise InputDataError(f"'{path}' column 'ImageNumber' has the non-integer value {bad.iloc[0]!r} "
                             f"on line {bad.index[0] + 2}.")
    concentration = parse_concentrations(images["Image_Metadata_Concentration"], path, "Image_Metadata_Concentration")
    site = images["Image_FileName_DAPI"].astype(str).str.extract(_SITE_PATTERN, expand=False)
    if site.isna().any():
        line = int(site.isna().to_numpy().argmax())
        raise InputDataError(f"'{path}' column 'Image_FileName_DAPI': no site '_sN_' in "
                             f"{images['Image_FileName_DAPI'].iloc[line]!r} (line {line + 2}).")
    batch = images["Image_PathName_DAPI"].fillna("").astype(str).str.split("/").str[0]
    if (batch == "").any():
        line = int((batch == "").to_numpy().argmax())
        raise InputDataError(f"'{path}' column 'Image_PathName_DAPI': no batch (week) folder in "
                             f"{images['Image_PathName_DAPI'].iloc[line]!r} (line {line + 2}).")
    compound = identifier_strings(images["Image_Metadata_Compound"])
    table = pd.DataFrame({
        "TableNumber": identifier_strings(images["TableNumber"]),
        "ImageNumber": image_number.astype("int64"),
        PLATE: identifier_strings(images["Image_Metadata_Plate_DAPI"]),
        WELL: normalize_wells(images["Image_Metadata_Well_DAPI"]),
        SITE: site.astype("int64"),
        BATCH: batch,
        COMPOUND: compound,
        CONCENTRATION: concentration,
        TREATMENT: [treatment_name(c, x) for c, x in zip(compound, concentration)],
    })
    fail_on_duplicates(table, list(IMAGE_KEYS), path, "Image table")
    return table


def assign_moa(table: pd.DataFrame, moa: pd.Series | None, control_compounds: Sequence[str]) -> pd.Series:
    """``Metadata_MOA`` of each row of ``table`` (compound, treatment columns): ``"DMSO"`` for the
    control compounds and treatments the MOA table calls DMSO, the MOA table's entry otherwise
    (missing: None), or ``UNKNOWN_MOA`` for every non-control row when ``moa`` is None."""
    control = table[COMPOUND].isin(list(control_compounds)).to_numpy(copy=True)
    if moa is None:
        labels = pd.Series(UNKNOWN_MOA, index=table.index, dtype=object)
    else:
        labels = table[TREATMENT].map(moa).astype(object)
        control |= (labels == CONTROL_MOA).to_numpy()
    return labels.where(~control, CONTROL_MOA).where(table[TREATMENT].notna(), None)


def read_bbbc021_metadata(image_csv: str | Path, moa_csv: str | Path | None, *,
                          control_compounds: Sequence[str] = (CONTROL_MOA,)) -> pd.DataFrame:
    """The BBBC021 image table (``read_image_table``) with each image's MOA, unannotated images left out.

    Without an MOA table (``moa_csv`` None) every image is kept: control compounds get ``"DMSO"``,
    the others ``UNKNOWN_MOA``.

    Returns:
        ``read_image_table``'s columns + ``Metadata_MOA``; ``attrs["unannotated_treatments"]``
        (sorted ids of the dropped treatments) and ``attrs["n_unannotated_images"]``.
    """
    metadata = read_image_table(image_csv)
    metadata[MOA] = assign_moa(metadata, None if moa_csv is None else read_moa_table(moa_csv), control_compounds)
    unannotated = metadata[MOA].isna()
    dropped = sorted(metadata.loc[unannotated, TREATMENT].unique())
    if dropped:
        logger.warning("%d images of %d treatments in '%s' have no MOA in '%s' and are left out (e.g. %s).",
                       int(unannotated.sum()), len(dropped), image_csv, moa_csv, ", ".join(dropped[:3]))
    metadata = metadata.loc[~unannotated].reset_index(drop=True)
    metadata.attrs["unannotated_treatments"] = dropped
    metadata.attrs["n_unannotated_images"] = int(unannotated.sum())
    return metadata


def batch_sort_key(batch: str) -> tuple[str, int]:
    """Sorts batch names naturally: ``Week2`` before ``Week10``."""
    match = re.fullmatch(r"(.*?)(\d+)", batch)
    return (match.group(1), int(match.group(2))) if match else (batch, -1)


def treatment_table(metadata: pd.DataFrame) -> pd.DataFrame:
    """Summarises the annotated treatments of an image metadata or cells table.

    Args:
        metadata: rows (images or cells) with the schema's plate, well, (site,) batch, compound,
            concentration, treatment and MOA columns.

    Returns:
        One row per treatment, controls excluded, sorted by treatment id: ``Metadata_Compound``,
        ``Metadata_Concentration``, ``Metadata_Treatment``, ``Metadata_MOA``, ``batches`` (sorted
        list of batch names), ``n_images`` (distinct plate/well/site; a per-well table without
        ``Metadata_Site`` counts wells) and ``n_wells`` (distinct plate/well).
    """
    required = [PLATE, WELL, BATCH, COMPOUND, CONCENTRATION, TREATMENT, MOA]
    missing = [c for c in required if c not in metadata.columns]
    if missing:
        raise InputDataError(f"Metadata table lacks the column(s) {missing}.")
    image_keys = [TREATMENT, PLATE, WELL] + ([SITE] if SITE in metadata.columns else [])
    annotated = metadata.loc[metadata[MOA] != CONTROL_MOA, list(dict.fromkeys(required + image_keys))]
    annotated = annotated.astype({c: str for c in (PLATE, WELL, BATCH, COMPOUND, TREATMENT, MOA)})
    moas_per_treatment = annotated.groupby(TREATMENT)[MOA].nunique()
    if (moas_per_treatment > 1).any():
        raise InputDataError(
            f"Treatment {moas_per_treatment.index[moas_per_treatment > 1][0]!r} carries several MOAs."
        )
    grouped = annotated.groupby(TREATMENT, sort=True)
    table = grouped[[COMPOUND, CONCENTRATION, MOA]].first()
    table["batches"] = grouped[BATCH].agg(lambda b: sorted(set(b), key=batch_sort_key))
    table["n_images"] = annotated.drop_duplicates(image_keys).groupby(TREATMENT).size()
    table["n_wells"] = annotated.drop_duplicates([TREATMENT, PLATE, WELL]).groupby(TREATMENT).size()
    table = table.reset_index()
    return table[[COMPOUND, CONCENTRATION, TREATMENT, MOA, "batches", "n_images", "n_wells"]]
