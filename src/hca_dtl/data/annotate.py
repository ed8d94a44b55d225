"""Which treatment each cell shows, and an account of every cell that could not be told.

Metadata come one of two ways (``MetadataFiles``):

- a **platemap** (``hca_dtl.data.platemap``), optionally with a barcode → platemap file, joined
  on the plate and well of the export's Image table (``Image_Metadata_Plate``,
  ``Image_Metadata_Well`` by default; ``ExportColumns``) or of a per-well profile table;
- the **BBBC021 image table** (``metadata.read_image_table``), joined on ``(TableNumber,
  ImageNumber)`` when the export has those keys and they match, else on the Image table's plate,
  well and site (profile tables: plate and well).

Then the MOA table gives each treatment its MOA (without one, every non-control treatment is
``"unknown"``: new compounds to predict). Every row (cell, or well of a profile table) ends in
one of ``STATUSES``: ``control``, ``annotated``, ``no_metadata_row`` (its image or well has no
row in the platemap / image table) or ``no_moa`` (its treatment has no row in the MOA table).
``JoinAccount`` counts them, keeps examples of unmatched keys from both sides, and fails when
too many non-control rows are unmatched (``check``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hca_dtl.config import config_from_dict
from hca_dtl.data.metadata import (
    IMAGE_KEYS as _IMAGE_KEYS, MoaColumns, assign_moa, identifier_strings, normalize_wells, read_image_table,
    read_moa_table,
)
from hca_dtl.data.platemap import (
    PLATEMAP_NAME, BarcodeColumns, PlatemapColumns, read_barcode_platemap, read_platemap,
)
from hca_dtl.data.schema import (
    BATCH, CONTROL_MOA, METADATA_COLUMNS, MOA, PLATE, SITE, TREATMENT, WELL, InputDataError,
)

logger = logging.getLogger(__name__)

STATUS = "_status"
ROW = "_metadata_row"  # index of the matched metadata row, -1 for none
CONTROL, ANNOTATED, NO_METADATA_ROW, NO_MOA = "control", "annotated", "no_metadata_row", "no_moa"
STATUSES = (CONTROL, ANNOTATED, NO_METADATA_ROW, NO_MOA)
KEPT = (CONTROL, ANNOTATED)
IMAGE_KEYS = list(_IMAGE_KEYS)  # (TableNumber, ImageNumber), as a join key list
_EXAMPLES = 5


@dataclass(frozen=True)
class ExportColumns:
    """Columns of the export's Image table (or profile table) that say where an image was taken."""

    plate: str = "Image_Metadata_Plate"
    well: str = "Image_Metadata_Well"
    site: str = "Image_Metadata_Site"

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> ExportColumns:
        return config_from_dict(cls, params)


@dataclass(frozen=True)
class MetadataColumns:
    """Column names in each file (``data_source.files.columns``)."""

    export: ExportColumns = field(default_factory=ExportColumns)
    platemap: PlatemapColumns = field(default_factory=PlatemapColumns)
    barcode_platemap: BarcodeColumns = field(default_factory=BarcodeColumns)
    moa: MoaColumns = field(default_factory=MoaColumns)

    @classmethod
    def from_dict(cls, params: Mapping[str, Any] | None) -> MetadataColumns:
        parts = {"export": ExportColumns, "platemap": PlatemapColumns, "barcode_platemap": BarcodeColumns,
                 "moa": MoaColumns}
        values = dict(params or {})
        unknown = sorted(set(values) - set(parts))
        if unknown:
            raise ValueError(f"Unknown columns section(s) {unknown}; known: {sorted(parts)}.")
        return cls(**{k: parts[k].from_dict(v or {}) for k, v in values.items()})


@dataclass(frozen=True)
class MetadataFiles:
    """Where each cell's treatment and MOA come from: a ``platemap`` (optionally with a
    ``barcode_platemap``) or a BBBC021-like ``image_metadata`` table; ``moa_metadata`` None for
    unlabelled data. ``control_compounds`` are controls (``Metadata_MOA`` ``"DMSO"``)."""

    platemap: str | None = None
    barcode_platemap: str | None = None
    image_metadata: str | None = None
    moa_metadata: str | None = None
    columns: MetadataColumns = field(default_factory=MetadataColumns)
    control_compounds: tuple[str, ...] = (CONTROL_MOA,)

    def __post_init__(self) -> None:
        if (self.platemap is None) == (self.image_metadata is None):
            raise InputDataError(
                "Give exactly one of data_source.files.platemap (plate, well → compound, concentration) and "
                f"data_source.files.image_metadata (a BBBC021_v1_image.csv-like table); got platemap={self.platemap!r}, "
                f"image_metadata={self.image_metadata!r}."
            )
        if self.barcode_platemap is not None and self.platemap is None:
            raise InputDataError("data_source.files.barcode_platemap needs data_source.files.platemap.")
        if isinstance(self.control_compounds, str):
            raise ValueError(f"control_compounds must be a list of compounds, got the string {self.control_compounds!r}.")
        object.__setattr__(self, "control_compounds", tuple(self.control_compounds))

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> MetadataFiles:
        """From a mapping holding (some of) the fields; ``columns`` as a nested mapping."""
        values = {k: v for k, v in params.items() if k in cls.__dataclass_fields__}
        values["columns"] = MetadataColumns.from_dict(values.get("columns"))
        return cls(**{k: str(v) if k in ("platemap", "barcode_platemap", "image_metadata", "moa_metadata")
                      and v is not None else v for k, v in values.items()})

    @property
    def source(self) -> str:
        """The metadata file(s), as named in messages."""
        if self.platemap is None:
            return f"image table '{self.image_metadata}'"
        barcode = f" with barcode file '{self.barcode_platemap}'" if self.barcode_platemap else ""
        return f"platemap '{self.platemap}'{barcode}"


def locate(frame: pd.DataFrame, columns: ExportColumns, *, per_well: bool) -> pd.DataFrame:
    """Where each row of an export's Image (or profile) table was taken, as text keys.

    Returns:
        The image keys present (``TableNumber`` as text, ``ImageNumber`` int) and, where the
        export has them, ``Metadata_Plate``, ``Metadata_Well`` (normalised) and, unless
        ``per_well``, ``Metadata_Site`` (int).

    Raises:
        InputDataError: ``ImageNumber`` or the site column holds a non-integer value.
    """
    out = pd.DataFrame(index=frame.index)
    if "TableNumber" in frame.columns:
        out["TableNumber"] = identifier_strings(frame["TableNumber"])
    if "ImageNumber" in frame.columns:
        out["ImageNumber"] = _integers(frame["ImageNumber"], "ImageNumber")
    if columns.plate in frame.columns:
        out[PLATE] = identifier_strings(frame[columns.plate])
    if columns.well in frame.columns:
        out[WELL] = normalize_wells(frame[columns.well])
    if not per_well and columns.site in frame.columns:
        out[SITE] = _integers(frame[columns.site], columns.site)
    return out


def _integers(values: pd.Series, column: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() | (numbers != np.round(numbers))
    if bad.any():
        raise InputDataError(f"The export's column {column!r} holds the non-integer value {values[bad].iloc[0]!r}.")
    return numbers.astype("int64")


class Annotation:
    """The metadata files, read once; ``annotate`` gives rows of an export their treatment and MOA."""

    def __init__(self, files: MetadataFiles) -> None:
        self.files = files
        self.moa = None if files.moa_metadata is None else read_moa_table(files.moa_metadata, files.columns.moa)
        self.barcodes = (None if files.barcode_platemap is None
                         else read_barcode_platemap(files.barcode_platemap, files.columns.barcode_platemap))
        if files.platemap is not None:
            self.rows = read_platemap(files.platemap, files.columns.platemap, by_platemap_name=self.barcodes is not None,
                                      control_compounds=files.control_compounds)
            self.batch_source = (f"column {files.columns.platemap.batch!r} of '{files.platemap}'"
                                 if self.rows.attrs["batch_column"] else
                                 f"the plate ('{files.platemap}' has no column {files.columns.platemap.batch!r}): "
                                 "NSCB then holds out the held-out compound's plates")
        else:
            self.rows = read_image_table(files.image_metadata)
            self.batch_source = f"first folder of Image_PathName_DAPI in '{files.image_metadata}'"
        self.rows[ROW] = np.arange(len(self.rows))

    def join_keys(self, located: pd.DataFrame) -> list[str]:
        """The columns ``annotate`` joins ``located`` on (see the module docstring).

        Raises:
            InputDataError: ``located`` lacks the plate / well (/ site) the metadata need.
        """
        if self.files.platemap is not None:
            needed = [PLATE, WELL]
        elif set(IMAGE_KEYS) <= set(located.columns) and located[IMAGE_KEYS].merge(
                self.rows[IMAGE_KEYS], on=IMAGE_KEYS).shape[0]:
            return IMAGE_KEYS
        else:
            needed = [PLATE, WELL, SITE] if SITE in located.columns else [PLATE, WELL]
        if not set(needed) <= set(located.columns):
            names = self.files.columns.export
            raise InputDataError(
                f"The export's Image table lacks the plate/well columns {names.plate!r} and {names.well!r} needed to "
                f"join it with the {self.files.source}. Set data_source.files.columns.export.plate / .well (or "
                "predict.columns.export) to the names of your export's plate and well columns."
            )
        return needed

    def annotate(self, located: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        """Metadata, MOA and status of each row of ``located`` (``locate`` output), joined on ``keys``.

        The metadata file's plate, well and site win over the export's; the export's stay where
        the row is unmatched (for the report's examples).

        Returns:
            Same rows and order: ``located``'s key columns, ``METADATA_COLUMNS`` (None where
            unknown), ``_status`` (``STATUSES``) and ``_metadata_row`` (-1 when unmatched).
        """
        left, rows, on = located, self.rows, list(keys)
        if self.barcodes is not None:
            left = located.assign(**{PLATEMAP_NAME: located[PLATE].map(self.barcodes)})
            on = [PLATEMAP_NAME, WELL]
        if on == [PLATE, WELL] and SITE in rows.columns:  # per-well profiles + image table: one row per well
            rows = rows.drop_duplicates(on).drop(columns=SITE)
        right = rows[[*on, *[c for c in METADATA_COLUMNS if c in rows.columns and c not in on], ROW]]
        joined = left.merge(right, on=on, how="left", suffixes=("_export", ""), validate="many_to_one")
        joined.index = located.index
        for column in [c for c in joined.columns if c.endswith("_export")]:
            name = column.removesuffix("_export")
            joined[name] = joined[name].where(joined[name].notna(), joined.pop(column))
        matched = joined[ROW].notna().to_numpy()
        joined[ROW] = joined[ROW].fillna(-1).astype("int64")
        joined[SITE] = joined[SITE].fillna(0).astype("int64") if SITE in joined.columns else 0
        joined[BATCH] = joined[BATCH].where(joined[BATCH].notna(), joined[PLATE])
        joined[MOA] = assign_moa(joined, self.moa, self.files.control_compounds)
        joined[STATUS] = np.where(~matched, NO_METADATA_ROW,
                                  np.where(joined[MOA].isna(), NO_MOA,
                                           np.where(joined[MOA] == CONTROL_MOA, CONTROL, ANNOTATED)))
        keys_out = [c for c in located.columns if c not in METADATA_COLUMNS]
        return joined[[*keys_out, *METADATA_COLUMNS, STATUS, ROW]]


@dataclass
class JoinAccount:
    """Counts of rows (cells, or wells of a profile table) by status, with unmatched examples.

    ``add`` each annotated chunk; ``summary`` for the report; ``check`` fails on too many
    unmatched non-control rows.
    """

    annotation: Annotation
    export: str
    counts: Counter = field(default_factory=Counter)
    unmatched: dict[str, Counter] = field(default_factory=lambda: {NO_METADATA_ROW: Counter(), NO_MOA: Counter()})
    used_rows: set = field(default_factory=set)
    used_treatments: set = field(default_factory=set)
    keys: list[str] = field(default_factory=list)
    example_columns: list[str] = field(default_factory=list)
    n_images: int | None = None  # images of a per-cell export (None: a profile table)

    def add(self, annotated: pd.DataFrame, keys: Sequence[str]) -> None:
        """Counts the rows of one chunk (``Annotation.annotate`` output joined on ``keys``)."""
        self.keys = list(keys)
        self.example_columns = self.example_columns or [
            c for c in dict.fromkeys([*keys, PLATE, WELL]) if c in annotated.columns and c != PLATEMAP_NAME]
        status = annotated[STATUS]
        self.counts.update(status.value_counts().to_dict())
        no_row = annotated.loc[status == NO_METADATA_ROW, self.example_columns].astype(object).fillna("")
        for key, n in no_row.value_counts(sort=False).items():
            self.unmatched[NO_METADATA_ROW][key] += int(n)
        for treatment, n in annotated.loc[status == NO_MOA, TREATMENT].value_counts().items():
            self.unmatched[NO_MOA][(treatment,)] += int(n)
        self.used_rows.update(annotated.loc[annotated[ROW] >= 0, ROW].unique().tolist())
        self.used_treatments.update(annotated.loc[status.isin(KEPT), TREATMENT].unique().tolist())

    @property
    def n_read(self) -> int:
        return sum(self.counts.values())

    @property
    def n_non_control(self) -> int:
        return self.n_read - self.counts[CONTROL]

    def _export_examples(self, reason: str) -> list[dict[str, Any]]:
        names = self.example_columns if reason == NO_METADATA_ROW else [TREATMENT]
        return [{**dict(zip(names, key)), "cells": n} for key, n in self.unmatched[reason].most_common(_EXAMPLES)]

    def _metadata_examples(self) -> tuple[int, list[dict[str, Any]]]:
        rows = self.annotation.rows
        unused = rows[~rows[ROW].isin(self.used_rows)]
        shown = [c for c in (*IMAGE_KEYS, PLATEMAP_NAME, PLATE, WELL, SITE)
                 if c in rows.columns and (c in self.keys or c in (PLATE, WELL, PLATEMAP_NAME))]
        return len(unused), unused[shown].head(_EXAMPLES).to_dict("records")

    def _moa_examples(self) -> tuple[int, list[str]]:
        moa = self.annotation.moa
        if moa is None:
            return 0, []
        unused = [t for t in moa.index if t not in self.used_treatments and moa[t] != CONTROL_MOA]
        return len(unused), unused[:_EXAMPLES]

    def _unmatched_plates(self) -> set:
        if PLATE not in self.example_columns:
            return set()
        at = self.example_columns.index(PLATE)
        return {key[at] for key in self.unmatched[NO_METADATA_ROW]}

    def _metadata_plates(self) -> set:
        annotation = self.annotation
        if annotation.barcodes is not None:
            return set(annotation.barcodes.index)
        return set(annotation.rows[PLATE].dropna()) if PLATE in annotation.rows.columns else set()

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable: rows read, matched (control + annotated), unmatched by reason,
        the unmatched shares of the non-control rows, and examples from both sides."""
        n_unused_rows, unused_rows = self._metadata_examples()
        n_unused_moa, unused_moa = self._moa_examples()
        denominator = max(self.n_non_control, 1)
        return {
            "metadata": self.annotation.files.source,
            "moa_table": self.annotation.files.moa_metadata,
            "joined_on": list(self.keys),
            "batch_from": self.annotation.batch_source,
            "cells_read": self.n_read,
            "cells_matched": self.counts[CONTROL] + self.counts[ANNOTATED],
            "cells_control": self.counts[CONTROL],
            "cells_annotated": self.counts[ANNOTATED],
            "cells_unmatched": {NO_METADATA_ROW: self.counts[NO_METADATA_ROW], NO_MOA: self.counts[NO_MOA]},
            "unmatched_share_of_non_control": {NO_METADATA_ROW: self.counts[NO_METADATA_ROW] / denominator,
                                               NO_MOA: self.counts[NO_MOA] / denominator},
            "examples": {
                "export_keys_without_metadata_row": _plain(self._export_examples(NO_METADATA_ROW)),
                "metadata_rows_without_cells": _plain(unused_rows),
                "n_metadata_rows_without_cells": n_unused_rows,
                "treatments_without_moa": _plain(self._export_examples(NO_MOA)),
                "moa_rows_without_cells": unused_moa,
                "n_moa_rows_without_cells": n_unused_moa,
            },
        }

    def check(self, max_unmatched_share: float, max_unannotated_share: float) -> None:
        """Raises ``InputDataError`` (both files, counts, examples, what to do) when more than
        ``max_unmatched_share`` of the non-control rows have no metadata row, or more than
        ``max_unannotated_share`` have no MOA."""
        summary = self.summary()
        examples, shares = summary["examples"], summary["unmatched_share_of_non_control"]
        files = self.annotation.files
        if self.n_read and shares[NO_METADATA_ROW] > max_unmatched_share:
            raise InputDataError(
                f"{self.counts[NO_METADATA_ROW]} of {self.n_non_control} non-control cells of '{self.export}' "
                f"({100 * shares[NO_METADATA_ROW]:.1f} %; allowed: {100 * max_unmatched_share:g} %, "
                f"ingestion.max_unmatched_share) have no row in the {files.source}.\n"
                "  Export keys without a metadata row (most cells first): "
                f"{_rows(examples['export_keys_without_metadata_row'])}\n"
                f"  Metadata rows without cells ({summary['examples']['n_metadata_rows_without_cells']}): "
                f"{_rows(examples['metadata_rows_without_cells'])}\n"
                f"{_hint(self._unmatched_plates(), self._metadata_plates())}"
                "  Write plates alike in both files (they are compared as text: '001' is not '1'); wells are compared "
                "as letter + 2-digit number (E6 = E06 = e06); if the export's plate/well columns have other names, set "
                "data_source.files.columns.export; a plate missing from a barcode file has no platemap row either."
            )
        if self.n_read and shares[NO_MOA] > max_unannotated_share:
            raise InputDataError(
                f"{self.counts[NO_MOA]} of {self.n_non_control} non-control cells of '{self.export}' "
                f"({100 * shares[NO_MOA]:.1f} %; allowed: {100 * max_unannotated_share:g} %, "
                f"ingestion.max_unannotated_share) have a treatment (compound@µM) with no row in the MOA table "
                f"'{files.moa_metadata}'.\n"
                f"  Treatments of the {files.source} without an MOA (most cells first): "
                f"{_rows(examples['treatments_without_moa'])}\n"
                f"  MOA table rows matching no cell ({examples['n_moa_rows_without_cells']}): "
                f"{examples['moa_rows_without_cells']}\n"
                "  Spell compounds and concentrations (µM) alike in both files. If these compounds have no known MOA "
                "on purpose, raise ingestion.max_unannotated_share (conf/local/parameters_ingestion.yml): they are "
                "then left out of training and listed in the ingestion report."
            )


def _plain(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v.item() if isinstance(v, np.generic) else v for k, v in r.items()} for r in records]


def _rows(records: list[dict[str, Any]]) -> str:
    """``[{Metadata_Plate: 'P1', Metadata_Well: 'E06', cells: 35}]`` →
    ``Metadata_Plate='P1' Metadata_Well='E06' (35 cells)``."""
    def row(record: dict[str, Any]) -> str:
        cells = f" ({record['cells']} cells)" if "cells" in record else ""
        return " ".join(f"{k}={v!r}" for k, v in record.items() if k != "cells") + cells

    return "; ".join(row(r) for r in records) or "none"


def _hint(export_plates: set, metadata_plates: set) -> str:
    """A line naming plates written differently in the two files ('1' vs '001', case), if any."""
    def loose(value: Any) -> str:
        return str(value).strip().lstrip("0").casefold()

    by_loose = {loose(m): m for m in metadata_plates}
    pairs = sorted((e, by_loose[loose(e)]) for e in export_plates - metadata_plates if loose(e) in by_loose)
    return f"  Plates written differently (export vs metadata): {pairs[:_EXAMPLES]}.\n" if pairs else ""
