"""Synthetic BBBC021-shaped per-cell data, written in the real file formats.

SYNTHETIC data: no value here is a measurement. The generator mimics the *structure* of BBBC021
(MCF-7, Caie et al. 2010; per-cell CellProfiler database of Ljosa et al. 2013) so that the whole
pipeline can run without the real per-cell database:

- the 12 MOAs with, per MOA, the real number of compounds and of treatments (compound ×
  concentration) and the real week (batch) of each compound, taken once from
  ``BBBC021_v1_moa.csv`` / ``BBBC021_v1_image.csv.gz`` and hard-coded below (``DESIGN``); compounds
  get synthetic names (``actin_disruptors_1``...); concentrations are the real ones (µM);
- 10 weekly batches (``Week1``...``Week10``) of 3 replicate plates each; every treatment has one
  well on each replicate plate of its compound's week (3 wells); the positive-control-like third
  microtubule stabilizer is spread over many weeks, as taxol is; each plate has DMSO wells;
  one compound without an MOA (``unannotated_1``) appears in the image table, as in the real one;
- 4 sites (fields of view) per well; cells per image vary (Gamma-distributed image weights).

Generative model (per cell ``i`` of compound ``c`` with MOA ``m`` at concentration ``x`` µM, on
plate ``p`` of batch ``b``; ``K = latent_dim``):

1. MOA effect ``mu_m ~ N(0, moa_effect² I_K)``; compound effect
   ``mu_c = mu_m + N(0, compound_sd² I_K)``.
2. Dose: strength ``s(x) = sigmoid((log10 x − log10 EC50_c) / 0.35)``, with ``log10 EC50_c`` the
   middle of the compound's concentration range ``+ N(0, 0.3²)``.
3. A cell responds with probability ``responder_share``; a non-responder looks like DMSO.
   Latent state ``z_i = r_i s(x) mu_c + N(0, I_K)`` (the second term: cell-to-cell variation).
4. Features come in families (compartment × measurement module × channel, e.g.
   ``Cells_Intensity_CorrTub``). Family ``f`` sees ``h_f = z_i A_f + N(0, family_noise² I_2)``
   (``A_f``: K × 2); feature ``j`` of ``f`` is ``u_j = h_f · l_j + plate_j + batch_j + t_j``,
   with loadings ``l_j``, plate and batch offsets ``N(0, plate_sd²)``, ``N(0, batch_sd²)`` and
   heavy-tailed noise ``t_j ~ noise_sd · Student-t(4)``. Features of a family are correlated.
5. ``u_j`` is mapped to a CellProfiler-like scale: ``base_j · exp(0.25 u_j)`` for positive
   measurements (areas, lengths, intensities, granularity, texture variances; areas rounded),
   a logistic map for fractions in (0, 1), ``base_j + scale_j u_j`` for signed ones, and rounded
   counts for numbers of neighbours.

Besides the 453 features, each compartment table carries the columns a curation recipe must drop:
object numbers, parent/child links and counts, locations and centres, Euler numbers, neighbours'
object numbers, three constant columns (``Cells_Granularity_16_*``) and two texture columns that are
NaN in ~30 % of cells; ``Nuclei_RadialDistribution_RadialCV_CorrDAPI_4of4`` is NaN in ~0.2 % of
cells (for the NaN policy).
"""

from __future__ import annotations

import csv
import hashlib
import logging
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hca_dtl.config import config_from_dict
from hca_dtl.data.files import atomic_path
from hca_dtl.data.schema import COMPARTMENTS

logger = logging.getLogger(__name__)

# MOA -> per compound: (week, concentrations in µM). Week None: spread over weeks like taxol.
DESIGN: dict[str, list[tuple[int | None, tuple[float, ...]]]] = {
    "Actin disruptors": [(1, (10, 30)), (2, (0.3,)), (1, (1, 3))],
    "Aurora kinase inhibitors": [(1, (0.1, 0.3, 1, 3, 10, 30)), (4, (0.1, 0.3, 1)), (3, (0.1, 0.3, 1))],
    "Cholesterol-lowering": [(9, (1.5, 5, 15)), (9, (2, 6, 20))],
    "DNA damage": [(3, (10,)), (3, (10,)), (3, (1, 3, 10)), (4, (0.1, 0.3, 1, 3))],
    "DNA replication": [(8, (0.003, 0.01, 0.03)), (9, (10, 30)), (2, (10,)), (9, (0.003, 0.01))],
    "Eg5 inhibitors": [(3, (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1)), (10, (0.03, 0.1, 0.3, 1, 3))],
    "Epithelial": [(5, (1, 3, 10)), (10, (1, 3, 10)), (8, (3, 10))],
    "Kinase inhibitors": [(7, (3, 10)), (7, (1, 3)), (7, (0.3,))],
    "Microtubule destabilizers": [
        (1, (0.03,)), (3, (0.3, 1, 3, 10)), (1, (1, 3)), (3, (0.003, 0.01, 0.03, 0.1, 0.3, 1, 3)),
    ],
    "Microtubule stabilizers": [(7, (0.03, 0.1, 0.3)), (1, (0.1, 0.3, 1)), (None, (0.3, 1, 3))],
    "Protein degradation": [(2, (3, 100)), (2, (0.1, 3)), (6, (10,)), (7, (0.1, 3))],
    "Protein synthesis": [(4, (0.3, 1)), (4, (5, 15, 50)), (3, (0.1, 0.3, 1))],
}
N_WEEKS = 10
N_REPLICATES = 3
N_SITES = 4
UNANNOTATED = ("unannotated_1", 5, 1.0)  # compound, week, concentration (µM): no MOA row
CHANNELS = ("CorrDAPI", "CorrTub", "CorrActin")
_WELLS = [f"{row}{col:02d}" for row in "BCDEFG" for col in range(2, 12)]  # 60 inner wells
_IMAGE_SIZE = (1280.0, 1024.0)  # pixels (x, y)

_SHAPE = (
    "Area", "Compactness", "Eccentricity", "Extent", "FormFactor", "MajorAxisLength",
    "MaxFeretDiameter", "MaximumRadius", "MeanRadius", "MedianRadius", "MinFeretDiameter",
    "MinorAxisLength", "Orientation", "Perimeter", "Solidity",
)
_ZERNIKE = tuple(f"Zernike_{n}_{m}" for n in range(9) for m in range(n % 2, n + 1, 2))  # order <= 8: 25
_INTENSITY = (
    "IntegratedIntensity", "IntegratedIntensityEdge", "LowerQuartileIntensity", "MADIntensity",
    "MaxIntensity", "MeanIntensity", "MeanIntensityEdge", "MedianIntensity", "StdIntensity",
    "UpperQuartileIntensity",
)
_HARALICK = (
    "AngularSecondMoment", "Contrast", "Correlation", "DifferenceEntropy", "DifferenceVariance",
    "Entropy", "InfoMeas1", "InfoMeas2", "InverseDifferenceMoment", "SumAverage", "SumVariance",
    "Variance",
)
_NEIGHBOURS = {  # measured on cells (adjacent / within 10 px) and nuclei (within 2 / 10 px)
    "Cells": ("AngleBetweenNeighbors", "FirstClosestDistance", "NumberOfNeighbors", "PercentTouching",
              "SecondClosestDistance"),
    "Nuclei": ("FirstClosestDistance", "NumberOfNeighbors", "PercentTouching", "SecondClosestDistance"),
}
_NEIGHBOUR_SCALES = {"Cells": ("Adjacent", "10"), "Nuclei": ("2", "10")}
_POSITIVE = ("Area", "Compactness", "Length", "Diameter", "Radius", "Perimeter", "Intensity", "Granularity",
             "Zernike", "Variance", "Contrast", "Entropy", "SumAverage", "Distance", "RadialCV")
_SIGNED = ("Orientation", "Correlation", "InfoMeas1", "AngleBetween")
_FRACTION = ("Eccentricity", "Extent", "FormFactor", "Solidity", "FracAtD",
             "MeanFrac", "PercentTouching", "AngularSecondMoment", "InverseDifferenceMoment",
             "InfoMeas2")


def feature_families() -> dict[str, list[str]]:
    """The 453 synthetic feature names, grouped by family (compartment_module[_channel])."""
    families: dict[str, list[str]] = {}
    for comp in COMPARTMENTS:
        families[f"{comp}_AreaShape"] = [f"{comp}_AreaShape_{m}" for m in _SHAPE]
        families[f"{comp}_Zernike"] = [f"{comp}_AreaShape_{m}" for m in _ZERNIKE]
        for ch in CHANNELS:
            families[f"{comp}_Intensity_{ch}"] = [f"{comp}_Intensity_{m}_{ch}" for m in _INTENSITY]
            families[f"{comp}_Texture_{ch}"] = [f"{comp}_Texture_{m}_{ch}_3_0" for m in _HARALICK]
        families[f"{comp}_Correlation"] = [
            f"{comp}_Correlation_Correlation_{a}_{b}"
            for i, a in enumerate(CHANNELS) for b in CHANNELS[i + 1:]
        ]
    for comp in ("Cells", "Nuclei"):
        for ch in CHANNELS:
            families[f"{comp}_Granularity_{ch}"] = [f"{comp}_Granularity_{k}_{ch}" for k in range(1, 7)]
            families[f"{comp}_RadialDistribution_{ch}"] = [
                f"{comp}_RadialDistribution_{m}_{ch}_{k}of4"
                for m in ("FracAtD", "MeanFrac", "RadialCV") for k in range(1, 5)
            ]
        families[f"{comp}_Neighbors"] = [
            f"{comp}_Neighbors_{m}_{s}" for m in _NEIGHBOURS[comp] for s in _NEIGHBOUR_SCALES[comp]
        ]
    return families


@dataclass(frozen=True)
class SyntheticConfig:
    """Size, seed and effect sizes of the synthetic data set (see the module docstring)."""

    seed: int = 0
    n_cells: int = 8000  # non-control cells of annotated treatments (the paper: 148,649)
    control_fraction: float = 0.15  # share of all (annotated + control) cells in DMSO wells
    n_control_wells: int = 6  # DMSO wells per plate
    latent_dim: int = 12
    moa_effect: float = 2.0
    compound_sd: float = 0.5
    responder_share: float = 0.75
    family_noise: float = 0.5
    noise_sd: float = 0.6
    plate_sd: float = 0.15
    batch_sd: float = 0.25

    def __post_init__(self) -> None:
        if self.n_cells < 1:
            raise ValueError(f"SyntheticConfig.n_cells must be >= 1, got {self.n_cells}.")
        if not 0.0 <= self.control_fraction < 1.0:
            raise ValueError(f"SyntheticConfig.control_fraction must be in [0, 1), got {self.control_fraction}.")
        if not 0.0 <= self.responder_share <= 1.0:
            raise ValueError(f"SyntheticConfig.responder_share must be in [0, 1], got {self.responder_share}.")
        if not 1 <= self.n_control_wells <= 20:
            raise ValueError(f"SyntheticConfig.n_control_wells must be in [1, 20], got {self.n_control_wells}.")

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> SyntheticConfig:
        """Builds a config from a (Kedro parameters) mapping; unknown keys raise ``ValueError``."""
        return config_from_dict(cls, params)


def _slug(moa: str) -> str:
    return moa.lower().replace("-", "_").replace(" ", "_")


def compound_table() -> pd.DataFrame:
    """One row per synthetic treatment: compound, concentration (µM), moa, week (0: spread)."""
    rows = []
    for moa, compounds in DESIGN.items():
        for k, (week, concentrations) in enumerate(compounds, start=1):
            for conc in concentrations:
                rows.append((f"{_slug(moa)}_{k}", float(conc), moa, week or 0))
    return pd.DataFrame(rows, columns=["compound", "concentration", "moa", "week"])


def _plate_name(week: int, replicate: int) -> str:
    return f"Week{week}_{20000 + 2000 * week + 20 * replicate + 1}"


def _layout(config: SyntheticConfig) -> pd.DataFrame:
    """One row per image: week, replicate, plate, well, site, compound, concentration, moa."""
    treatments = compound_table()
    wells = []  # (week, replicate, compound, concentration, moa)
    dose_index = treatments.groupby("compound").cumcount()
    for t, k in zip(treatments.itertuples(index=False), dose_index):
        for r in range(1, N_REPLICATES + 1):
            # week 0 (spread): dose k, replicate r in a week of its own, as taxol is in every week
            week = t.week or 1 + (3 * k + r) % (N_WEEKS - 1)
            wells.append((week, r, t.compound, t.concentration, t.moa))
    compound, week, conc = UNANNOTATED
    wells += [(week, r, compound, conc, "") for r in range(1, N_REPLICATES + 1)]
    wells += [
        (w, r, "DMSO", 0.0, "DMSO")
        for w in range(1, N_WEEKS + 1) for r in range(1, N_REPLICATES + 1) for _ in range(config.n_control_wells)
    ]
    frame = pd.DataFrame(wells, columns=["week", "replicate", "compound", "concentration", "moa"])
    rng = np.random.default_rng([config.seed, 1])
    frame["order"] = rng.permutation(len(frame))  # random well positions within a plate
    frame = frame.sort_values(["week", "replicate", "order"]).reset_index(drop=True)
    frame["well"] = [_WELLS[i] for i in frame.groupby(["week", "replicate"]).cumcount()]
    frame["plate"] = [_plate_name(w, r) for w, r in zip(frame.week, frame.replicate)]
    images = frame.loc[frame.index.repeat(N_SITES)].reset_index(drop=True)
    images["site"] = np.tile(np.arange(1, N_SITES + 1), len(frame))
    images["TableNumber"] = images.week % N_WEEKS
    images["ImageNumber"] = images.groupby("week").cumcount() + 1
    return images.drop(columns="order")


def _cells_per_image(images: pd.DataFrame, config: SyntheticConfig) -> np.ndarray:
    """Number of cells in each image: multinomial over Gamma(4)-distributed image weights."""
    rng = np.random.default_rng([config.seed, 2])
    weights = rng.gamma(4.0, size=len(images))
    counts = np.zeros(len(images), dtype=np.int64)
    control = images.moa.eq("DMSO").to_numpy()
    annotated = images.moa.ne("DMSO").to_numpy() & images.moa.ne("").to_numpy()
    n_control = round(config.n_cells * config.control_fraction / (1.0 - config.control_fraction))
    for mask, n in ((annotated, config.n_cells), (control, n_control)):
        counts[mask] = rng.multinomial(n, weights[mask] / weights[mask].sum())
    unannotated = ~(control | annotated)  # same density as annotated wells, in addition
    counts[unannotated] = rng.poisson(config.n_cells / annotated.sum() * weights[unannotated] / 4.0)
    return counts


class _Model:
    """The drawn parameters of the generative model (module docstring)."""

    def __init__(self, config: SyntheticConfig, images: pd.DataFrame) -> None:
        rng = np.random.default_rng([config.seed, 3])
        k = config.latent_dim
        self.config = config
        families = feature_families()
        self.features = [f for names in families.values() for f in names]
        treatments = compound_table()
        moa_mu = {m: config.moa_effect * rng.standard_normal(k) for m in DESIGN}
        self.compound_mu, self.ec50 = {}, {}
        for compound, group in treatments.groupby("compound", sort=True):
            moa = group.moa.iloc[0]
            self.compound_mu[compound] = moa_mu[moa] + config.compound_sd * rng.standard_normal(k)
            logs = np.log10(group.concentration)
            self.ec50[compound] = (logs.min() + logs.max()) / 2 + 0.3 * rng.standard_normal()
        self.compound_mu[UNANNOTATED[0]] = config.moa_effect * rng.standard_normal(k)
        self.ec50[UNANNOTATED[0]] = np.log10(UNANNOTATED[2])
        n_fam = len(families)
        self.projection = rng.standard_normal((k, 2 * n_fam)) / np.sqrt(k)
        self.loadings = np.zeros((2 * n_fam, len(self.features)))
        start = 0
        for f, names in enumerate(families.values()):
            block = rng.standard_normal((2, len(names)))
            self.loadings[2 * f:2 * f + 2, start:start + len(names)] = block / np.linalg.norm(block, axis=0)
            start += len(names)
        p = len(self.features)
        self.batch_offset = {w: config.batch_sd * rng.standard_normal(p) for w in range(1, N_WEEKS + 1)}
        self.plate_offset = {pl: config.plate_sd * rng.standard_normal(p) for pl in sorted(images.plate.unique())}
        self.kind = np.array([_kind(f) for f in self.features])
        self.base = np.exp(rng.uniform(np.log(0.05), np.log(2000.0), p))
        self.base[np.char.find(np.array(self.features, dtype=str), "_Area") >= 0] = 1500.0
        self.frac = rng.uniform(0.2, 0.8, p)
        self.scale = rng.uniform(0.1, 10.0, p)

    def cells(self, images: pd.DataFrame, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Features (cells × 453, float64) of the cells of ``images`` (``counts`` cells each)."""
        c = self.config
        rows = np.repeat(np.arange(len(images)), counts)
        n = len(rows)
        mu = np.zeros((n, c.latent_dim))
        strength = np.zeros(n)
        for i, img in enumerate(images.itertuples(index=False)):
            if img.compound == "DMSO" or counts[i] == 0:
                continue
            sel = rows == i
            mu[sel] = self.compound_mu[img.compound]
            strength[sel] = 1.0 / (1.0 + np.exp(-(np.log10(img.concentration) - self.ec50[img.compound]) / 0.35))
        responder = rng.random(n) < c.responder_share
        z = (responder * strength)[:, None] * mu + rng.standard_normal((n, c.latent_dim))
        h = z @ self.projection + c.family_noise * rng.standard_normal((n, self.projection.shape[1]))
        u = h @ self.loadings + c.noise_sd * rng.standard_t(4, size=(n, len(self.features)))
        u += np.stack([self.plate_offset[p] + self.batch_offset[w] for p, w in zip(images.plate, images.week)])[rows]
        return self._to_cellprofiler_scale(u)

    def _to_cellprofiler_scale(self, u: np.ndarray) -> np.ndarray:
        out = np.empty_like(u)
        pos, frac, count = self.kind == "positive", self.kind == "fraction", self.kind == "count"
        signed = self.kind == "signed"
        out[:, pos] = self.base[pos] * np.exp(0.25 * u[:, pos])
        logit = np.log(self.frac[frac] / (1 - self.frac[frac]))
        out[:, frac] = 1.0 / (1.0 + np.exp(-(logit + 0.5 * u[:, frac])))
        out[:, signed] = self.scale[signed] * u[:, signed]
        out[:, count] = np.round(4.0 * np.exp(0.3 * u[:, count]))
        area = np.array([f.endswith("_Area") for f in self.features])
        out[:, area] = np.round(out[:, area])
        return out


def _kind(feature: str) -> str:
    """How a feature's latent value maps to its scale: count, fraction, signed or positive."""
    if "NumberOfNeighbors" in feature:
        return "count"
    if any(k in feature for k in _FRACTION):
        return "fraction"
    if any(k in feature for k in _SIGNED):
        return "signed"
    return "positive" if any(k in feature for k in _POSITIVE) else "signed"


def _compartment_tables(
    images: pd.DataFrame, counts: np.ndarray, features: np.ndarray, names: list[str], rng: np.random.Generator
) -> dict[str, pd.DataFrame]:
    """Splits the cells × features matrix into the cytominer Cells / Cytoplasm / Nuclei tables."""
    n = int(counts.sum())
    rows = np.repeat(np.arange(len(images)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    obj = np.arange(n) - first + 1  # object number within its image
    keys = {
        "TableNumber": images.TableNumber.to_numpy()[rows],
        "ImageNumber": images.ImageNumber.to_numpy()[rows],
        "ObjectNumber": obj,
    }
    x = rng.uniform(0, _IMAGE_SIZE[0], n)
    y = rng.uniform(0, _IMAGE_SIZE[1], n)
    per_image = np.repeat(counts, counts)
    neighbour = 1 + (obj + rng.integers(0, np.maximum(per_image - 1, 1))) % per_image
    ones = np.ones(n)
    tables = {}
    for comp in COMPARTMENTS:
        cols = {f: features[:, j] for j, f in enumerate(names) if f.startswith(comp + "_")}
        cols[f"{comp}_Number_Object_Number"] = obj
        cols[f"{comp}_Location_Center_X"] = x + rng.normal(0, 0.5, n)
        cols[f"{comp}_Location_Center_Y"] = y + rng.normal(0, 0.5, n)
        cols[f"{comp}_AreaShape_Center_X"] = np.round(x)
        cols[f"{comp}_AreaShape_Center_Y"] = np.round(y)
        cols[f"{comp}_AreaShape_EulerNumber"] = np.where(rng.random(n) < 0.97, 1.0, 0.0)
        for s in _NEIGHBOUR_SCALES.get(comp, ()):
            cols[f"{comp}_Neighbors_FirstClosestObjectNumber_{s}"] = neighbour
            cols[f"{comp}_Neighbors_SecondClosestObjectNumber_{s}"] = neighbour % per_image + 1
        tables[comp] = cols
    tables["Cells"]["Cells_Parent_Nuclei"] = obj
    tables["Cells"]["Cells_Children_Cytoplasm_Count"] = ones
    for ch in CHANNELS:
        tables["Cells"][f"Cells_Granularity_16_{ch}"] = 0.0 * ones  # constant: scale beyond cell size
    tables["Cytoplasm"]["Cytoplasm_Parent_Cells"] = obj
    tables["Cytoplasm"]["Cytoplasm_Parent_Nuclei"] = obj
    for m in ("Correlation", "InfoMeas1"):  # undefined texture at scale 10 in thin cytoplasm
        tables["Cytoplasm"][f"Cytoplasm_Texture_{m}_CorrDAPI_10_0"] = np.where(
            rng.random(n) < 0.3, np.nan, rng.normal(0.2, 0.1, n))
    tables["Nuclei"]["Nuclei_Children_Cells_Count"] = ones
    tables["Nuclei"]["Nuclei_Children_Cytoplasm_Count"] = ones
    rare = tables["Nuclei"]["Nuclei_RadialDistribution_RadialCV_CorrDAPI_4of4"]
    rare[rng.random(n) < 0.002] = np.nan
    return {
        comp: pd.DataFrame({**keys, **{c: cols[c] for c in sorted(cols)}})
        for comp, cols in tables.items()
    }


def _image_table(images: pd.DataFrame, counts: np.ndarray) -> pd.DataFrame:
    """The cytominer ``Image`` table (one row per image)."""
    table = pd.DataFrame({"TableNumber": images.TableNumber, "ImageNumber": images.ImageNumber})
    for comp in COMPARTMENTS:
        table[f"Image_Count_{comp}"] = counts.astype(float)
    for ch, name in zip(CHANNELS, _file_names(images)):
        table[f"Image_FileName_Orig{ch[4:]}"] = name
        table[f"Image_PathName_Orig{ch[4:]}"] = [f"Week{w}/{p}" for w, p in zip(images.week, images.plate)]
    table["Image_Metadata_Plate"] = images.plate.to_numpy()
    table["Image_Metadata_Well"] = images.well.to_numpy()
    table["Image_Metadata_Site"] = images.site.to_numpy()
    return table


def _file_names(images: pd.DataFrame) -> list[list[str]]:
    """File names like the real ones (``G10_s1_w1<hash>.tif``) for the DAPI, Tubulin, Actin images."""
    names = []
    for wavelength in (1, 2, 4):
        names.append([
            f"{w}_s{s}_w{wavelength}{hashlib.md5(f'{p}{w}{s}{wavelength}'.encode()).hexdigest()[:32].upper()}.tif"
            for p, w, s in zip(images.plate, images.well, images.site)
        ])
    return names


def _metadata_csvs(images: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``BBBC021_v1_image.csv`` and ``BBBC021_v1_moa.csv`` tables (real column names)."""
    dapi, tub, actin = _file_names(images)
    path = [f"Week{w}/{p}" for w, p in zip(images.week, images.plate)]
    image_csv = pd.DataFrame({
        "TableNumber": images.TableNumber, "ImageNumber": images.ImageNumber,
        "Image_FileName_DAPI": dapi, "Image_PathName_DAPI": path,
        "Image_FileName_Tubulin": tub, "Image_PathName_Tubulin": path,
        "Image_FileName_Actin": actin, "Image_PathName_Actin": path,
        "Image_Metadata_Plate_DAPI": images.plate, "Image_Metadata_Well_DAPI": images.well,
        "Replicate": images.replicate, "Image_Metadata_Compound": images.compound,
        "Image_Metadata_Concentration": images.concentration,
    })
    treatments = compound_table()
    moa_csv = pd.concat([
        treatments[["compound", "concentration", "moa"]],
        pd.DataFrame({"compound": ["DMSO"], "concentration": [0.0], "moa": ["DMSO"]}),
    ], ignore_index=True)
    return image_csv, moa_csv


def platemap_from_image_table(image_csv: pd.DataFrame) -> pd.DataFrame:
    """A pycytominer-style platemap (``Metadata_Plate``, ``Metadata_Well``, ``Metadata_Compound``,
    ``Metadata_Concentration`` in µM, ``Metadata_Batch``; one row per plate × well) of a
    ``BBBC021_v1_image.csv``-like table, such as ``synthetic_tables(...)["image_csv"]``."""
    wells = image_csv.drop_duplicates(["Image_Metadata_Plate_DAPI", "Image_Metadata_Well_DAPI"])
    return pd.DataFrame({
        "Metadata_Plate": wells["Image_Metadata_Plate_DAPI"].to_numpy(),
        "Metadata_Well": wells["Image_Metadata_Well_DAPI"].to_numpy(),
        "Metadata_Compound": wells["Image_Metadata_Compound"].to_numpy(),
        "Metadata_Concentration": wells["Image_Metadata_Concentration"].to_numpy(),
        "Metadata_Batch": wells["Image_PathName_DAPI"].str.split("/").str[0].to_numpy(),
    })


def _plates(config: SyntheticConfig) -> Iterator[tuple[pd.DataFrame, dict[str, pd.DataFrame]]]:
    """Per plate: its image rows and its cytominer tables (Image, Cells, Cytoplasm, Nuclei)."""
    images = _layout(config)
    counts = _cells_per_image(images, config)
    model = _Model(config, images)
    for index, (plate, group) in enumerate(images.groupby("plate", sort=True)):
        rng = np.random.default_rng([config.seed, 4, index])
        c = counts[group.index.to_numpy()]
        features = model.cells(group, c, rng)
        tables = {"Image": _image_table(group, c), **_compartment_tables(group, c, features, model.features, rng)}
        yield group, tables


def synthetic_tables(config: SyntheticConfig) -> dict[str, pd.DataFrame]:
    """The whole synthetic data set in memory (small configs): cytominer tables + metadata CSVs.

    Returns:
        ``{"Image", "Cells", "Cytoplasm", "Nuclei"}`` (cytominer layout) plus ``"image_csv"`` and
        ``"moa_csv"`` (the BBBC021 metadata tables).
    """
    parts: dict[str, list[pd.DataFrame]] = {}
    for _, tables in _plates(config):
        for name, table in tables.items():
            parts.setdefault(name, []).append(table)
    out = {name: pd.concat(p, ignore_index=True) for name, p in parts.items()}
    out["image_csv"], out["moa_csv"] = _metadata_csvs(_layout(config))
    return out


_SQL_TYPE = {"i": "BIGINT", "u": "BIGINT", "f": "FLOAT", "b": "BIGINT"}


def _create_table(con: sqlite3.Connection, name: str, table: pd.DataFrame) -> str:
    columns = ", ".join(f'"{c}" {_SQL_TYPE.get(table[c].dtype.kind, "TEXT")}' for c in table.columns)
    con.execute(f'CREATE TABLE "{name}" ({columns})')
    marks = ", ".join("?" * table.shape[1])
    return f'INSERT INTO "{name}" VALUES ({marks})'


def _insert(con: sqlite3.Connection, statement: str, table: pd.DataFrame) -> None:
    """Inserts rows; all-numeric tables go through one float64 matrix, which is fast (SQLite's
    column affinity stores integral floats in BIGINT columns as INTEGER)."""
    if all(table[c].dtype.kind in "iufb" for c in table.columns):
        con.executemany(statement, table.to_numpy(dtype=np.float64).tolist())  # NaN binds as NULL
    else:
        con.executemany(statement, table.astype(object).where(table.notna(), None).itertuples(index=False, name=None))


def write_sqlite(
    tables: Iterator[dict[str, pd.DataFrame]], path: str | Path, indexes: Mapping[str, tuple[str, ...]]
) -> None:
    """Writes chunks of tables into a new SQLite file atomically (one transaction).

    Args:
        tables: chunks, each ``{table name: rows}``; the first chunk fixes each table's columns.
        path: the database to create (replaced if it exists, only once complete).
        indexes: index name -> (table, column, ...), created after the rows.
    """
    with atomic_path(path) as tmp:
        con = sqlite3.connect(tmp)
        try:
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            statements: dict[str, str] = {}
            with con:
                for chunk in tables:
                    for name, table in chunk.items():
                        if name not in statements:
                            statements[name] = _create_table(con, name, table)
                        _insert(con, statements[name], table)
                for index, (table, *columns) in indexes.items():
                    cols = ", ".join(f'"{c}"' for c in columns)
                    con.execute(f'CREATE INDEX "{index}" ON "{table}" ({cols})')
        finally:
            con.close()


_CYTOMINER_INDEXES = {
    "table_image_idx": ("Image", "TableNumber", "ImageNumber"),
    **{
        f"table_image_object_{c.lower()}_idx": (c, "TableNumber", "ImageNumber", "ObjectNumber")
        for c in COMPARTMENTS
    },
}


def write_synthetic_bbbc021(out_dir: str | Path, config: SyntheticConfig) -> dict[str, Any]:
    """Writes the synthetic data set: a cytominer-layout SQLite and the two BBBC021 metadata CSVs.

    Each file is written atomically; the SQLite is written plate by plate in one transaction,
    so memory stays bounded by one plate's cells (the paper's 148,649 cells: ~1 GB on disk).

    Returns:
        The manifest: ``layout``, ``export``, ``image_metadata``, ``moa_metadata`` (str paths),
        ``synthetic`` (True), ``description``, ``config`` (the config as a dict).
    """
    out_dir = Path(out_dir)
    start = time.perf_counter()
    export = out_dir / "synthetic_bbbc021.sqlite"
    image_path, moa_path = out_dir / "BBBC021_v1_image.csv", out_dir / "BBBC021_v1_moa.csv"
    n_plates = N_WEEKS * N_REPLICATES

    def logged_plates() -> Iterator[dict[str, pd.DataFrame]]:
        for i, (_, tables) in enumerate(_plates(config), start=1):
            logger.info("Synthetic plate %d/%d: %d cells", i, n_plates, len(tables["Cells"]))
            yield tables

    write_sqlite(logged_plates(), export, _CYTOMINER_INDEXES)
    image_csv, moa_csv = _metadata_csvs(_layout(config))
    for table, path in ((image_csv, image_path), (moa_csv, moa_path)):
        with atomic_path(path) as tmp:
            table.to_csv(tmp, index=False, quoting=csv.QUOTE_MINIMAL if path == image_path else csv.QUOTE_NONNUMERIC)
    logger.info("Wrote synthetic BBBC021 to %s in %.1f s", out_dir, time.perf_counter() - start)
    return {
        "layout": "cytominer_sqlite",
        "export": str(export),
        "image_metadata": str(image_path),
        "moa_metadata": str(moa_path),
        "synthetic": True,
        "description": (
            f"SYNTHETIC BBBC021-shaped data generated by hca_dtl (seed={config.seed}, "
            f"n_cells={config.n_cells}): not real measurements"
        ),
        "config": asdict(config),
    }


def _cellprofiler_numbering(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Drops ``TableNumber`` and renumbers images 1..n across the export, as CellProfiler does."""
    order = tables["Image"][["TableNumber", "ImageNumber"]].drop_duplicates()
    order = order.assign(_new=np.arange(1, len(order) + 1))
    out = {}
    for name in ("Image", *COMPARTMENTS):
        table = tables[name].merge(order, on=["TableNumber", "ImageNumber"], how="left", validate="many_to_one")
        table["ImageNumber"] = table.pop("_new")
        out[name] = table.drop(columns="TableNumber")
    return out


def write_cellprofiler_sqlite(
    tables: Mapping[str, pd.DataFrame], path: str | Path, *, single_object_table: bool = False, prefix: str = ""
) -> Path:
    """Writes cytominer-layout tables as a CellProfiler ExportToDatabase SQLite.

    Tables ``<prefix>Per_Image`` and either ``<prefix>Per_Cells`` / ``Per_Cytoplasm`` /
    ``Per_Nuclei`` (keys ``ImageNumber``, ``<Compartment>_Number_Object_Number``) or one
    ``<prefix>Per_Object`` (keys ``ImageNumber``, ``ObjectNumber``; one row per cell with all
    compartments, which assumes one nucleus and one cytoplasm per cell, numbered alike).
    """
    t = _cellprofiler_numbering(tables)
    chunk = {f"{prefix}Per_Image": t["Image"]}
    if single_object_table:
        merged = t["Cells"]
        for comp in ("Cytoplasm", "Nuclei"):
            merged = merged.merge(t[comp], on=["ImageNumber", "ObjectNumber"], validate="one_to_one")
        chunk[f"{prefix}Per_Object"] = merged
    else:
        for comp in COMPARTMENTS:
            chunk[f"{prefix}Per_{comp}"] = t[comp].drop(columns="ObjectNumber")
    write_sqlite(iter([chunk]), path, {})
    return Path(path)


def write_cellprofiler_csv(tables: Mapping[str, pd.DataFrame], out_dir: str | Path) -> Path:
    """Writes cytominer-layout tables as CellProfiler ExportToSpreadsheet CSVs.

    ``Image.csv``, ``Cells.csv``, ``Cytoplasm.csv``, ``Nuclei.csv`` in ``out_dir``; as CellProfiler
    writes them, column names lack the table's prefix (``AreaShape_Area``, ``Count_Cells``) and
    images are numbered 1..n across the export.
    """
    out_dir = Path(out_dir)
    for name, table in _cellprofiler_numbering(tables).items():
        renamed = table.rename(columns=lambda c: c.removeprefix(f"{name}_"))
        with atomic_path(out_dir / f"{name}.csv") as tmp:
            renamed.to_csv(tmp, index=False)
    return out_dir
