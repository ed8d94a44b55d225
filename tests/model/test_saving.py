"""A saved classifier (SAA or MLP) reloads in a fresh process with its scaler, metadata and
predictions, and predicts new cells."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from hca_dtl.data.schema import (BATCH, COMPOUND, CONCENTRATION, MOA, PLATE, SITE, TREATMENT,
                                 UNKNOWN_MOA, WELL)
from hca_dtl.evaluation.prediction import predict_cells
from hca_dtl.model import (MLPClassifier, MLPConfig, SAAConfig, load_model, save_model, train_folds,
                           train_folds_mlp)

SRC = Path(__file__).resolve().parents[2] / "src"

RELOAD = """
import json, sys
import keras
import numpy as np
from hca_dtl.model import load_model
model = load_model(sys.argv[1])
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))
print(json.dumps(model.metadata))
"""



def _reloads_in_a_fresh_process(model, metadata: dict, x_new: np.ndarray, tmp_path) -> Path:
    """Saves ``model``, reloads it in a fresh Python process and checks that its metadata and its
    predictions of ``x_new`` survive; returns the saved file."""
    path = tmp_path / "model.keras"
    save_model(model, path)
    np.save(tmp_path / "x.npy", x_new)
    env = {**os.environ, "PYTHONPATH": str(SRC), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", RELOAD, str(path), str(tmp_path / "x.npy"),
                             str(tmp_path / "p.npy")], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == metadata
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), model.predict(x_new, verbose=0),
                               rtol=1e-6, atol=1e-7)
    return path

def test_save_and_reload_in_a_fresh_process(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(90, 5)) * 3 + 10).astype(np.float32)
    y = (np.arange(90) % 2).astype(np.int32)
    roles = np.array([[1]] * 60 + [[2]] * 30, np.int8)
    config = SAAConfig(hidden_units=(6, 4), pretrain_epochs=1, finetune_max_epochs=2, batch_size=16)
    metadata = {"features": [f"Cells_f{i}" for i in range(5)], "classes": ["a", "b"],
                "config": config.to_dict()}
    model = train_folds(x, y, roles, 2, config, progress=False).to_keras_model(0, metadata)
    x_new = x + rng.normal(size=x.shape).astype(np.float32) * 8  # includes out-of-range values
    path = _reloads_in_a_fresh_process(model, metadata, x_new, tmp_path)
    reloaded = load_model(path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded.scaling.minimum),
                                  keras.ops.convert_to_numpy(model.scaling.minimum))


def test_mlp_saves_and_reloads_in_a_fresh_process_and_predicts_cells(tmp_path):
    rng = np.random.default_rng(1)
    features = [f"Cells_f{i}" for i in range(5)]
    x = (rng.normal(size=(90, 5)) * 3 + 10).astype(np.float32)
    x[:, 4] = 2.0  # constant in training: ignored by the network and by the range check
    y = (np.arange(90) % 2).astype(np.int32)
    roles = np.array([[1]] * 60 + [[2]] * 30, np.int8)
    config = MLPConfig(hidden_units=(6, 4), layer_norm=True, max_epochs=2, batch_size=16)
    metadata = {"features": features, "classes": ["a", "b"], "config": config.to_dict(),
                "learner": "mlp"}
    model = train_folds_mlp(x, y, roles, 2, config, progress=False).to_keras_model(0, metadata)
    x_new = x + rng.normal(size=x.shape).astype(np.float32) * 8  # includes out-of-range values
    path = _reloads_in_a_fresh_process(model, metadata, x_new, tmp_path)

    reloaded = load_model(path)
    assert isinstance(reloaded, MLPClassifier) and reloaded.layer_norm
    cells = pd.DataFrame({PLATE: "P1", WELL: [f"W{i // 3}" for i in range(90)], SITE: 1,
                          BATCH: "Week1", COMPOUND: "c", CONCENTRATION: 1.0,
                          TREATMENT: [f"t{i // 30}" for i in range(90)], MOA: UNKNOWN_MOA})
    cells[features] = x_new
    predicted = predict_cells(reloaded, cells)
    probabilities = model.predict(x_new, verbose=0)
    np.testing.assert_array_equal(predicted["predicted"].cat.codes, probabilities.argmax(axis=1))
    assert list(predicted["predicted"].cat.categories) == ["a", "b"]
    minimum, span = x[:60].min(axis=0), x[:60].max(axis=0) - x[:60].min(axis=0)
    scaled = (x_new - minimum) / np.where(span > 0, span, 1)
    beyond = ((scaled < -0.1) | (scaled > 1.1))[:, :4].sum(axis=1)
    np.testing.assert_array_equal(predicted["n_features_out_of_range"], beyond)
    assert 0 < predicted["out_of_range"].sum() < 90
