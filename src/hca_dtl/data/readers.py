"""Readers of CellProfiler exports: one row per cell (Cells joined to its Nuclei and Cytoplasm).

Accepted layouts (``detect_layout``):

- ``cytominer_sqlite``: cytominer-database SQLite (tables ``Image``, ``Cells``, ``Cytoplasm``,
  ``Nuclei``; keys ``TableNumber``, ``ImageNumber``, ``ObjectNumber``), as the BBBC021 database of
  Ljosa et al. 2013.
- ``cellprofiler_sqlite``: CellProfiler ExportToDatabase SQLite: ``<prefix>Per_Image`` and either
  ``<prefix>Per_Cells`` / ``Per_Cytoplasm`` / ``Per_Nuclei`` or one ``<prefix>Per_Object`` table.
- ``cellprofiler_csv``: a folder of ExportToSpreadsheet CSVs ``Image.csv``, ``Cells.csv``,
  ``Cytoplasm.csv``, ``Nuclei.csv`` (columns without the table's prefix, any order).
- ``profiles``: one row per well (``.csv``, ``.csv.gz`` or ``.parquet``) with plate and well columns
  (``Image_Metadata_Plate``/``Image_Metadata_Well`` or ``Metadata_Plate``/``Metadata_Well``).

Cells are linked as CellProfiler links them: ``Cells_Parent_Nuclei = Nuclei_Number_Object_Number``
and ``Cytoplasm_Parent_Cells = Cells_Number_Object_Number``, within an image.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd

from hca_dtl.data.schema import COMPARTMENTS, InputDataError

logger = logging.getLogger(__name__)

LAYOUTS = ("cytominer_sqlite", "cellprofiler_sqlite", "cellprofiler_csv", "profiles")
PLATE_WELL_COLUMNS = (
    ("Image_Metadata_Plate", "Image_Metadata_Well"),
    ("Metadata_Plate", "Metadata_Well"),
)
_ACCEPTED = (
    "a cytominer-database SQLite (tables Image, Cells, Cytoplasm, Nuclei), a CellProfiler "
    "ExportToDatabase SQLite (Per_Image + Per_Cells/Per_Cytoplasm/Per_Nuclei or Per_Object), a folder "
    "of ExportToSpreadsheet CSVs (Image.csv, Cells.csv, Cytoplasm.csv, Nuclei.csv, each with the "
    "same prefix if any, e.g. MyExpt_Image.csv) or a per-well "
    "profile table (.csv, .csv.gz, .parquet)"
)
_SQLITE_MAGIC = b"SQLite format 3\x00"


def _connect(path: Path) -> sqlite3.Connection:
    """Opens an SQLite file read-only; a missing, non-SQLite or damaged file is ``InputDataError``."""
    if not path.is_file():
        raise InputDataError(f"Export '{path}' does not exist.")
    with path.open("rb") as handle:
        if handle.read(16) != _SQLITE_MAGIC:
            raise InputDataError(f"'{path}' is not an SQLite database (no SQLite header); accepted: {_ACCEPTED}.")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        con.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as error:
        con.close()
        raise InputDataError(f"SQLite database '{path}' is damaged or truncated: {error}.") from error
    return con


def _tables(con: sqlite3.Connection) -> list[str]:
    return [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]


def _per_prefix(tables: list[str]) -> str | None:
    """The ExportToDatabase table prefix (``""``, ``"MyExpt_"``), or None without a Per_Image table."""
    found = [t[: -len("Per_Image")] for t in tables if t.endswith("Per_Image")]
    return found[0] if found else None


def _csv_prefix(folder: Path) -> str:
    """The ExportToSpreadsheet file prefix of ``folder`` (``""``, or CellProfiler's default
    ``"MyExpt_"``) under which all four CSVs exist; ``InputDataError`` if none or several."""
    present = {p.name for p in folder.iterdir()}
    prefixes = sorted(name[: -len("Image.csv")] for name in present if name.endswith("Image.csv")
                      and {f"{name[: -len('Image.csv')]}{c}.csv" for c in COMPARTMENTS} <= present)
    if len(prefixes) == 1:
        return prefixes[0]
    if prefixes:
        raise InputDataError(f"Folder '{folder}' holds several exports (file prefixes {prefixes}); "
                             "give the export one folder each.")
    needed = {"Image.csv", *(f"{c}.csv" for c in COMPARTMENTS)}
    raise InputDataError(
        f"Folder '{folder}' lacks {sorted(needed - present)} (found {sorted(present)[:10]}); accepted: {_ACCEPTED}."
    )


def detect_layout(path: str | Path) -> str:
    """Which of ``LAYOUTS`` the export at ``path`` is; anything else raises ``InputDataError``."""
    path = Path(path)
    if path.is_dir():
        _csv_prefix(path)
        return "cellprofiler_csv"
    if not path.exists():
        raise InputDataError(f"Export '{path}' does not exist.")
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz", ".parquet")):
        return "profiles"
    with closing(_connect(path)) as con:
        tables = _tables(con)
    if {"Image", *COMPARTMENTS} <= set(tables):
        return "cytominer_sqlite"
    prefix = _per_prefix(tables)
    if prefix is not None and (
        f"{prefix}Per_Object" in tables or all(f"{prefix}Per_{c}" in tables for c in COMPARTMENTS)
    ):
        return "cellprofiler_sqlite"
    raise InputDataError(f"SQLite database '{path}' has tables {sorted(tables)}; accepted: {_ACCEPTED}.")


def _check_unique(frame: pd.DataFrame, keys: list[str], where: str) -> None:
    duplicated = frame.duplicated(keys)
    if duplicated.any():
        key = frame.loc[duplicated, keys].iloc[0].tolist()
        raise InputDataError(f"{where} repeats the key {dict(zip(keys, key))}.")


def _require(frame: pd.DataFrame, columns: list[str], where: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputDataError(f"{where} lacks the column(s) {missing}.")


def join_compartments(
    cells: pd.DataFrame, cytoplasm: pd.DataFrame, nuclei: pd.DataFrame, keys: list[str], source: str
) -> pd.DataFrame:
    """Joins per-compartment rows into one row per cell.

    Args:
        cells, cytoplasm, nuclei: rows of one compartment each, with the image ``keys`` and
            compartment-prefixed columns, including ``Cells_Number_Object_Number``,
            ``Cells_Parent_Nuclei``, ``Nuclei_Number_Object_Number``, ``Cytoplasm_Parent_Cells``.
        keys: image key columns (``["TableNumber", "ImageNumber"]`` or ``["ImageNumber"]``).
        source: the file named in error messages.

    Returns:
        One row per cell: ``keys`` + the Cells, Nuclei and Cytoplasm columns.

    Raises:
        InputDataError: a link column is missing, an object is repeated, or a cell has no nucleus
            or no cytoplasm.
    """
    links = {
        "Cells": ["Cells_Number_Object_Number", "Cells_Parent_Nuclei"],
        "Nuclei": ["Nuclei_Number_Object_Number"],
        "Cytoplasm": ["Cytoplasm_Parent_Cells"],
    }
    frames = {"Cells": cells, "Cytoplasm": cytoplasm, "Nuclei": nuclei}
    for comp, frame in frames.items():
        _require(frame, keys + links[comp], f"'{source}' table {comp}")
    _check_unique(cells, keys + ["Cells_Number_Object_Number"], f"'{source}' table Cells")
    _check_unique(nuclei, keys + ["Nuclei_Number_Object_Number"], f"'{source}' table Nuclei")
    _check_unique(cytoplasm, keys + ["Cytoplasm_Parent_Cells"], f"'{source}' table Cytoplasm")
    joined = cells.merge(
        nuclei, left_on=keys + ["Cells_Parent_Nuclei"], right_on=keys + ["Nuclei_Number_Object_Number"],
        how="left", indicator="_nucleus",
    )
    orphans = joined["_nucleus"] == "left_only"
    if orphans.any():
        row = joined.loc[orphans].iloc[0]
        where = {k: row[k] for k in keys + ["Cells_Number_Object_Number", "Cells_Parent_Nuclei"]}
        raise InputDataError(
            f"'{source}': {int(orphans.sum())} cell(s) have no parent nucleus in table Nuclei, e.g. {where}."
        )
    joined = joined.drop(columns="_nucleus").merge(
        cytoplasm, left_on=keys + ["Cells_Number_Object_Number"], right_on=keys + ["Cytoplasm_Parent_Cells"],
        how="left", indicator="_cytoplasm",
    )
    orphans = joined["_cytoplasm"] == "left_only"
    if orphans.any():
        row = joined.loc[orphans].iloc[0]
        where = {k: row[k] for k in keys + ["Cells_Number_Object_Number"]}
        raise InputDataError(
            f"'{source}': {int(orphans.sum())} cell(s) have no cytoplasm in table Cytoplasm, e.g. {where}."
        )
    return joined.drop(columns="_cytoplasm")


def _image_chunks(keys: pd.DataFrame, chunk_images: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(keys), chunk_images):
        yield keys.iloc[start:start + chunk_images]


def _query(con: sqlite3.Connection, table: str, key_ranges: pd.DataFrame, keys: list[str], source: str) -> pd.DataFrame:
    """Rows of ``table`` for the images in ``key_ranges`` (per TableNumber: an ImageNumber range)."""
    clauses, params = [], []
    if "TableNumber" in keys:
        for table_number, group in key_ranges.groupby("TableNumber", sort=False):
            clauses.append('("TableNumber" = ? AND "ImageNumber" BETWEEN ? AND ?)')
            value = table_number.item() if isinstance(table_number, np.generic) else table_number
            params += [value, int(group.ImageNumber.min()), int(group.ImageNumber.max())]
    else:
        clauses.append('"ImageNumber" BETWEEN ? AND ?')
        params += [int(key_ranges.ImageNumber.min()), int(key_ranges.ImageNumber.max())]
    try:
        cursor = con.execute(f'SELECT * FROM "{table}" WHERE {" OR ".join(clauses)}', params)
    except sqlite3.DatabaseError as error:
        raise InputDataError(f"'{source}': cannot read table {table}: {error}.") from error
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    try:  # fast path: an all-numeric table becomes one float64 block (NULL -> NaN)
        frame = pd.DataFrame(np.array(rows, dtype=np.float64).reshape(len(rows), len(names)), columns=names)
        integral = [k for k in ("TableNumber", "ImageNumber") if k in names]
        frame[integral] = frame[integral].astype(np.int64)
    except (ValueError, TypeError):  # text columns (e.g. hashed TableNumber): infer per column
        frame = pd.DataFrame.from_records(rows, columns=names, coerce_float=True)
    # keep only the chunk's images: a TableNumber's range may span images of other chunks
    return frame.merge(key_ranges[keys], on=keys, how="inner") if "TableNumber" in keys else frame


def _image_keys(con: sqlite3.Connection, table: str, keys: list[str], source: str) -> pd.DataFrame:
    try:
        frame = pd.read_sql_query(f'SELECT {", ".join(keys)} FROM "{table}"', con)
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as error:
        raise InputDataError(f"'{source}' table {table}: cannot read the image keys {keys}: {error}.") from error
    _check_unique(frame, keys, f"'{source}' table {table}")
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def _read_sqlite(path: Path, layout: str, chunk_images: int) -> Iterator[pd.DataFrame]:
    with closing(_connect(path)) as con:
        tables = _tables(con)
        if layout == "cytominer_sqlite":
            keys, image_table = ["TableNumber", "ImageNumber"], "Image"
            object_tables = {c: c for c in COMPARTMENTS}
            missing = [t for t in ("Image", *COMPARTMENTS) if t not in tables]
            if missing:
                raise InputDataError(f"'{path}' lacks the table(s) {missing} of the {layout} layout.")
        else:
            prefix = _per_prefix(tables)
            if prefix is None:
                raise InputDataError(f"'{path}' has no Per_Image table (tables: {sorted(tables)}).")
            keys, image_table = ["ImageNumber"], f"{prefix}Per_Image"
            single = f"{prefix}Per_Object" in tables
            object_tables = {c: f"{prefix}Per_Object" if single else f"{prefix}Per_{c}" for c in COMPARTMENTS}
        image_keys = _image_keys(con, image_table, keys, str(path))
        if image_keys.empty:
            raise InputDataError(f"'{path}' table {image_table} is empty: no images.")
        for table in set(object_tables.values()):
            _ensure_readable(con, table, path)
        for chunk in _image_chunks(image_keys, chunk_images):
            if len(set(object_tables.values())) == 1:  # Per_Object: one row per cell already
                cells = _query(con, object_tables["Cells"], chunk, keys, str(path))
                yield cells.drop(columns="ObjectNumber", errors="ignore")
                continue
            frames = {
                c: _query(con, t, chunk, keys, str(path)).drop(columns="ObjectNumber", errors="ignore")
                for c, t in object_tables.items()
            }
            yield join_compartments(frames["Cells"], frames["Cytoplasm"], frames["Nuclei"], keys, str(path))


def _ensure_readable(con: sqlite3.Connection, table: str, path: Path) -> None:
    if table not in _tables(con):
        raise InputDataError(f"'{path}' lacks the table {table}.")
    columns = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
    if "ImageNumber" not in columns:
        raise InputDataError(f"'{path}' table {table} lacks the column 'ImageNumber'.")


def _read_csv_table(folder: Path, name: str, *, text: bool = False) -> pd.DataFrame:
    """One ExportToSpreadsheet CSV (``[prefix]<name>.csv``), its columns prefixed with the table
    name as in the databases (``text``: every column read as text, for the Image table's
    identifiers)."""
    path = folder / f"{_csv_prefix(folder)}{name}.csv"
    try:
        frame = pd.read_csv(path, dtype=str if text else None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise InputDataError(f"Cannot parse '{path}': {error}.") from error
    _require(frame, ["ImageNumber"], f"'{path}'")
    keep = {"ImageNumber", "ObjectNumber"}
    frame = frame.rename(columns=lambda c: c if c in keep or c.startswith(f"{name}_") else f"{name}_{c}")
    return frame.copy()  # consolidates read_csv's one-block-per-column frame before the joins


def _read_csv_folder(folder: Path, chunk_images: int) -> Iterator[pd.DataFrame]:
    """Reads the four CSVs whole (an ExportToSpreadsheet folder holds one plate or run), then
    yields the joined cells in chunks of images."""
    image = _read_csv_table(folder, "Image")
    image_file = folder / f"{_csv_prefix(folder)}Image.csv"
    _check_unique(image, ["ImageNumber"], f"'{image_file}'")
    frames = {c: _read_csv_table(folder, c).drop(columns=["ObjectNumber"], errors="ignore") for c in COMPARTMENTS}
    if image.empty:
        raise InputDataError(f"'{image_file}' is empty: no images.")
    for chunk in _image_chunks(image[["ImageNumber"]].sort_values("ImageNumber"), chunk_images):
        lo, hi = chunk.ImageNumber.min(), chunk.ImageNumber.max()
        parts = {c: f[f.ImageNumber.between(lo, hi)] for c, f in frames.items()}
        yield join_compartments(parts["Cells"], parts["Cytoplasm"], parts["Nuclei"], ["ImageNumber"], str(folder))


def read_profiles(path: str | Path, plate_well: tuple[str, str] | None = None) -> pd.DataFrame:
    """A per-well profile table with its plate and well columns renamed to ``Image_Metadata_*``.

    The plate and well are ``plate_well`` when given and present, else the first pair of
    ``PLATE_WELL_COLUMNS`` found; every ``*Metadata_*`` column is read as text (plate ``001``).
    """
    path = Path(path)
    pairs = [tuple(plate_well)] if plate_well else []
    pairs += [p for p in PLATE_WELL_COLUMNS if p not in pairs]
    try:
        if path.name.lower().endswith(".parquet"):
            frame = pd.read_parquet(path)
        else:
            header = pd.read_csv(path, nrows=0).columns
            text = [c for c in header if "Metadata_" in c or any(c in p for p in pairs)]
            frame = pd.read_csv(path, dtype={c: str for c in text})
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise InputDataError(f"Cannot read the profile table '{path}': {error}.") from error
    for plate, well in pairs:
        if {plate, well} <= set(frame.columns):
            return frame.rename(columns={plate: "Image_Metadata_Plate", well: "Image_Metadata_Well"})
    raise InputDataError(
        f"Profile table '{path}' lacks plate and well columns (one of {[list(p) for p in pairs]}); set "
        "data_source.files.columns.export.plate / .well to its column names."
    )


def read_objects(path: str | Path, layout: str | None = None, *, chunk_images: int = 250,
                 plate_well: tuple[str, str] | None = None) -> Iterator[pd.DataFrame]:
    """Yields the cells of an export, a chunk of images at a time.

    Args:
        path: the export (file or, for ``cellprofiler_csv``, folder).
        layout: one of ``LAYOUTS``; detected when None.
        chunk_images: images per chunk (memory: ~ chunk_images × cells per image × columns × 8 B).
        plate_well: ``profiles`` only: the plate and well column names (``read_profiles``).

    Yields:
        DataFrames, one row per cell: the image keys (``TableNumber`` where the layout has one,
        ``ImageNumber``) and every ``Cells_*``, ``Cytoplasm_*``, ``Nuclei_*`` column (features
        and the link/location columns that curation drops). For ``profiles``: row chunks of the
        profile table (one row per well, ``Image_Metadata_Plate`` / ``Image_Metadata_Well``).
    """
    path = Path(path)
    layout = layout or detect_layout(path)
    if chunk_images < 1:
        raise ValueError(f"chunk_images must be >= 1, got {chunk_images}.")
    if layout in ("cytominer_sqlite", "cellprofiler_sqlite"):
        yield from _read_sqlite(path, layout, chunk_images)
    elif layout == "cellprofiler_csv":
        yield from _read_csv_folder(path, chunk_images)
    elif layout == "profiles":
        profiles = read_profiles(path, plate_well)
        for start in range(0, max(len(profiles), 1), chunk_images):
            yield profiles.iloc[start:start + chunk_images]
    else:
        raise InputDataError(f"Unknown layout {layout!r} for '{path}'; accepted: {list(LAYOUTS)}.")


def read_images(path: str | Path, layout: str | None = None) -> pd.DataFrame:
    """The image table of a per-cell export: its keys and ``Image_Metadata_*`` columns.

    Returns:
        One row per image: ``TableNumber`` (cytominer layout only), ``ImageNumber`` and the
        image metadata columns found (e.g. ``Image_Metadata_Plate``, ``_Well``, ``_Site``), as
        stored in SQLite, or as text from a CSV (a plate ``001`` stays ``001``).
    """
    path = Path(path)
    layout = layout or detect_layout(path)
    if layout == "cellprofiler_csv":
        image = _read_csv_table(path, "Image", text=True)
        numbers = pd.to_numeric(image["ImageNumber"], errors="coerce")
        if numbers.isna().any():
            raise InputDataError(f"'{path / (_csv_prefix(path) + 'Image.csv')}' column ImageNumber holds the non-number "
                                 f"{image.loc[numbers.isna(), 'ImageNumber'].iloc[0]!r}.")
        image["ImageNumber"] = numbers.astype("int64")
        return image[["ImageNumber", *[c for c in image.columns if c.startswith("Image_Metadata_")]]]
    if layout not in ("cytominer_sqlite", "cellprofiler_sqlite"):
        raise ValueError(f"read_images needs a per-cell layout, got {layout!r}.")
    with closing(_connect(path)) as con:
        table = "Image" if layout == "cytominer_sqlite" else f"{_per_prefix(_tables(con))}Per_Image"
        columns = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
        wanted = [c for c in columns if c in ("TableNumber", "ImageNumber") or c.startswith("Image_Metadata_")]
        quoted = ", ".join(f'"{c}"' for c in wanted)
        return pd.read_sql_query(f'SELECT {quoted} FROM "{table}"', con)


MISSING_TEXT = frozenset({"", "nan", "na", "n/a", "null", "none", "inf", "+inf", "-inf", "infinity", "+infinity",
                          "-infinity"})  # text read as a missing value in a feature column (case-insensitive)


def numeric_columns(frame: pd.DataFrame, columns: list[str], source: str, dtype: str = "float64") -> np.ndarray:
    """``frame[columns]`` as a matrix (rows × columns) of ``dtype``.

    Text in ``MISSING_TEXT`` (``'nan'``, ``'NaN'``, ``''``, ``'inf'``, …) becomes NaN, for the NaN
    policy to handle; any other text raises ``InputDataError`` naming the file, table, column
    and value.
    """
    selected = frame[columns]
    converted = {}
    for column in columns:
        if pd.api.types.is_numeric_dtype(selected[column]):
            continue
        raw = selected[column]
        values = pd.to_numeric(raw, errors="coerce")
        text = values.isna() & raw.notna()
        bad = text & ~raw.astype(str).str.strip().str.lower().isin(MISSING_TEXT)
        if bad.any():
            table = column.split("_", 1)[0]
            raise InputDataError(
                f"'{source}' table {table} column {column!r} holds the text {raw[bad].iloc[0]!r} "
                f"({int(bad.sum())} value(s)); only numbers and missing-value markers ('nan', 'NaN', '', 'inf', …) "
                f"are read. Fix the export, or leave the column out with ingestion.curation.drop: [{column}]."
            )
        converted[column] = values.where(~text, np.nan)
    if converted:
        selected = selected.assign(**converted)
    return selected.to_numpy(dtype=dtype)
