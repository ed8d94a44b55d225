"""The `predict` pipeline through a Kedro session: a tiny all12 model predicts held-out exports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from hca_dtl.data.schema import treatment_name
from hca_dtl.data.synthetic import (
    SyntheticConfig, platemap_from_image_table, synthetic_tables, write_cellprofiler_csv,
)

pytestmark = pytest.mark.slow

SEED = 3
TINY = {
    "data_source": {"synthetic": {"n_cells": 1500, "seed": SEED}},
    "saa": {"hidden_units": [16] * 7, "pretrain_epochs": 2, "pretrain_learning_rate": 0.05,
            "finetune_max_epochs": 10, "finetune_learning_rate": 0.5, "batch_size": 8, "seed": 0},
}
N_CLASSES = 12


def _run(project: Path, params: dict, **kwargs) -> None:
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=params) as session:
        session.run(**kwargs)


def _write_export(project: Path, name: str, config: SyntheticConfig, *, platemap: bool) -> tuple[dict, pd.Series]:
    """A CellProfiler CSV export + its platemap (or BBBC021 image table), no MOA table, in the
    project's ``01_raw/<name>``; returns ``params:predict`` for it and the true MOA of each
    treatment (the generator's MOA table)."""
    folder = project / "data" / "01_raw" / name
    tables = synthetic_tables(config)
    export = write_cellprofiler_csv({t: tables[t] for t in ("Image", "Cells", "Cytoplasm", "Nuclei")}, folder)
    image = tables["image_csv"]
    metadata = folder.parent / f"{folder.name}_{'platemap' if platemap else 'image'}.csv"
    (platemap_from_image_table(image) if platemap else image).to_csv(metadata, index=False)
    moa = tables["moa_csv"]
    truth = pd.Series(moa["moa"].to_numpy(),
                      index=[treatment_name(c, x) for c, x in zip(moa["compound"], moa["concentration"])])
    # All of params:predict: a partial runtime dict replaces the base one when conf/local has parameters.
    params = yaml.safe_load((project / "conf" / "base" / "parameters_predict.yml").read_text())["predict"]
    params.update(export=str(export), platemap=str(metadata) if platemap else None,
                  image_metadata=None if platemap else str(metadata),
                  description=f"held-out SYNTHETIC export (seed={config.seed}, n_cells={config.n_cells})")
    return params, truth


def test_predict_new_exports(project_copy: Path) -> None:
    data_source = {**TINY["data_source"], "raw_dir": str(project_copy / "data" / "01_raw")}
    _run(project_copy, {**TINY, "data_source": data_source},
         pipeline_names=["ingestion", "psets", "source_models"], to_outputs=["all12_model"])

    # Same seed, other size: the same generative model (MOA signatures, feature scales), new cells.
    predict, truth = _write_export(project_copy, "held_out", SyntheticConfig(seed=SEED, n_cells=800), platemap=True)
    _run(project_copy, {"predict": predict}, pipeline_names=["predict"])
    reporting = project_copy / "data" / "08_reporting"
    treatments = pd.read_csv(reporting / "predictions_treatments.csv")
    platemap = pd.read_csv(predict["platemap"])
    expected = {treatment_name(c, x) for c, x in zip(platemap["Metadata_Compound"],
                                                      platemap["Metadata_Concentration"]) if c != "DMSO"}
    assert sorted(treatments["Metadata_Treatment"]) == sorted(expected)  # each once, unannotated_1 too
    classes = json.loads((project_copy / "data" / "05_model_input" / "all12_classes.json").read_text())
    assert len(classes) == N_CLASSES
    np.testing.assert_allclose(treatments[classes].sum(axis=1), 1.0)
    assert treatments["weak_vote"].dtype == bool and treatments["out_of_range"].dtype == bool
    assert treatments["out_of_range"].mean() < 0.1  # same distribution as the training data

    # Chance is 1/12; this tiny model reaches 0.41–0.51 (treatments) and 0.36–0.39 (cells) over SAA seeds.
    labelled = treatments[treatments["Metadata_Treatment"].isin(truth.index)]
    accuracy = (labelled["predicted"] == labelled["Metadata_Treatment"].map(truth)).mean()
    assert accuracy > 0.25, f"treatment accuracy {accuracy:.2f} is not clearly above chance (1/12)"
    cells = pd.read_parquet(project_copy / "data" / "07_model_output" / "predictions_cells.parquet")
    assert "DMSO" not in set(cells["Metadata_Compound"].astype(str))
    assert len(cells) == treatments["n_cells"].sum()
    cells = cells[cells["Metadata_Treatment"].astype(str).isin(truth.index)]
    cell_accuracy = (cells["predicted"].astype(str) == cells["Metadata_Treatment"].astype(str).map(truth)).mean()
    assert cell_accuracy > 0.2, f"cell accuracy {cell_accuracy:.2f} is not clearly above chance (1/12)"

    figure = pio.read_json(reporting / "predictions_vote_shares.json")
    assert "held-out SYNTHETIC export" in figure.layout.title.text
    assert "trained on SYNTHETIC data" in figure.layout.title.text
    assert len(figure.data) == N_CLASSES and len(figure.data[0].y) == len(treatments)

    # Another seed draws other feature scales and MOA signatures: unlike the training data.
    predict, _ = _write_export(project_copy, "other", SyntheticConfig(seed=SEED + 1, n_cells=300), platemap=False)
    _run(project_copy, {"predict": predict}, pipeline_names=["predict"])
    assert pd.read_csv(reporting / "predictions_treatments.csv")["out_of_range"].mean() > 0.9
