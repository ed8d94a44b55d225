"""BBBC021 image and MOA metadata: which plate, well, site, week and treatment each image shows.

``BBBC021_v1_image.csv(.gz)`` has one row per image (13,200 for BBBC021 v1) keyed by
``(TableNumber, ImageNumber)`` — the keys of the CellProfiler per-cell database. ``BBBC021_v1_moa.csv``
annotates 103 treatments (38 compounds at several concentrations) with 12 MOAs, plus DMSO.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import pandas as pd

from hca_dtl.data.schema import (
    BATCH,
    COMPOUND,
    CONCENTRATION,
    CONTROL_MOA,
    MOA,
    PLATE,
    SITE,
    TREATMENT,
    UNKNOWN_MOA,
    WELL,
    InputDataError,
    treatment_name,
)

logger = logging.getLogger(__name__)

IMAGE_KEYS = ("TableNumber", "ImageNumber")
IMAGE_COLUMNS = (
    *IMAGE_KEYS,
    "Image_FileName_DAPI",
    "Image_PathName_DAPI",
    "Image_FileName_Tubulin",
    "Image_PathName_Tubulin",
    "Image_FileName_Actin",
    "Image_PathName_Actin",
    "Image_Metadata_Plate_DAPI",
    "Image_Metadata_Well_DAPI",
    "Replicate",
    "Image_Metadata_Compound",
    "Image_Metadata_Concentration",
)
MOA_COLUMNS = ("compound", "concentration", "moa")
_SITE_PATTERN = re.compile(r"_s(\d+)_")


def _read_csv(path: str | Path, required: tuple[str, ...]) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"Metadata file '{path}' does not exist.")
    table = pd.read_csv(path)
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise InputDataError(f"'{path}' lacks the column(s) {missing}.")
    return table


def _concentrations(values: pd.Series, path: Path, column: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = values[numbers.isna()]
    if len(bad):
        raise InputDataError(
            f"'{path}' column {column!r} has non-numeric or missing value {bad.iloc[0]!r} "
            f"(data row {bad.index[0]})."
        )
    return numbers.astype(float)


def _moa_by_treatment(moa_csv: Path) -> pd.Series:
    """MOA of each annotated treatment id (DMSO included), from ``BBBC021_v1_moa.csv``."""
    moa = _read_csv(moa_csv, MOA_COLUMNS)
    concentration = _concentrations(moa["concentration"], moa_csv, "concentration")
    treatments = [treatment_name(c, x) for c, x in zip(moa["compound"], concentration)]
    table = pd.Series(moa["moa"].astype(str).to_numpy(), index=pd.Index(treatments, name=TREATMENT))
    duplicated = table.index[table.index.duplicated()]
    if len(duplicated):
        raise InputDataError(f"'{moa_csv}' annotates treatment {duplicated[0]!r} more than once.")
    return table


def read_bbbc021_metadata(image_csv: str | Path, moa_csv: str | Path | None, *,
                          control_compounds: Sequence[str] = (CONTROL_MOA,)) -> pd.DataFrame:
    """Reads the BBBC021 image table and joins each image with its treatment's MOA.

    Without an MOA table (``moa_csv`` None: new compounds to predict) every image is kept: the
    ``control_compounds`` get ``Metadata_MOA`` ``"DMSO"``, the others ``UNKNOWN_MOA``.

    Compound and concentration are matched through the treatment id
    (``schema.treatment_name``, 6 significant digits), so ``0.003`` and ``0.0030000001`` agree.
    Images whose treatment has no MOA row are dropped (with a warning).

    Returns:
        One row per annotated image (DMSO included): ``TableNumber``, ``ImageNumber`` (int),
        ``Metadata_Plate``, ``Metadata_Well``, ``Metadata_Site`` (int, from ``_sN_`` in the DAPI
        file name), ``Metadata_Batch`` (``WeekN``), ``Metadata_Compound``,
        ``Metadata_Concentration`` (µM, float), ``Metadata_Treatment``, ``Metadata_MOA``.
        ``attrs["unannotated_treatments"]`` is the sorted list of dropped treatment ids and
        ``attrs["n_unannotated_images"]`` the number of dropped images.

    Raises:
        InputDataError: a file is missing, lacks columns, repeats an image key or a treatment, or
            has a concentration, site or path that cannot be parsed.
    """
    image_csv = Path(image_csv)
    images = _read_csv(image_csv, IMAGE_COLUMNS)
    duplicated = images.duplicated(list(IMAGE_KEYS))
    if duplicated.any():
        key = tuple(int(v) for v in images.loc[duplicated, list(IMAGE_KEYS)].iloc[0])
        raise InputDataError(f"'{image_csv}' repeats the image key (TableNumber, ImageNumber) = {key}.")

    concentration = _concentrations(
        images["Image_Metadata_Concentration"], image_csv, "Image_Metadata_Concentration"
    )
    compound = images["Image_Metadata_Compound"].astype(str)
    site = images["Image_FileName_DAPI"].astype(str).str.extract(_SITE_PATTERN, expand=False)
    if site.isna().any():
        bad = images.loc[site.isna(), "Image_FileName_DAPI"].iloc[0]
        raise InputDataError(
            f"'{image_csv}' column 'Image_FileName_DAPI': no site '_sN_' in {bad!r}."
        )
    batch = images["Image_PathName_DAPI"].astype(str).str.split("/").str[0].astype(str)
    if (batch == "").any():
        bad = images.loc[batch == "", "Image_PathName_DAPI"].iloc[0]
        raise InputDataError(
            f"'{image_csv}' column 'Image_PathName_DAPI': no batch (week) folder in {bad!r}."
        )

    metadata = pd.DataFrame(
        {
            "TableNumber": images["TableNumber"].astype("int64"),
            "ImageNumber": images["ImageNumber"].astype("int64"),
            PLATE: images["Image_Metadata_Plate_DAPI"].astype(str),
            WELL: images["Image_Metadata_Well_DAPI"].astype(str),
            SITE: site.astype("int64"),
            BATCH: batch,
            COMPOUND: compound,
            CONCENTRATION: concentration,
            TREATMENT: [treatment_name(c, x) for c, x in zip(compound, concentration)],
        }
    )
    if moa_csv is None:
        control = compound.isin(list(control_compounds)).to_numpy()
        if not control.any():
            logger.warning("'%s' holds none of the control compounds %s.", image_csv, list(control_compounds))
        metadata[MOA] = np.where(control, CONTROL_MOA, UNKNOWN_MOA)
    else:
        metadata[MOA] = metadata[TREATMENT].map(_moa_by_treatment(Path(moa_csv)))

    unannotated = metadata[MOA].isna()
    dropped = sorted(metadata.loc[unannotated, TREATMENT].unique())
    if dropped:
        logger.warning(
            "%d images of %d treatments in '%s' have no MOA in '%s' and are dropped (e.g. %s).",
            int(unannotated.sum()), len(dropped), image_csv, moa_csv, ", ".join(dropped[:3]),
        )
    metadata = metadata.loc[~unannotated].reset_index(drop=True)
    metadata[MOA] = metadata[MOA].astype(str)
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
