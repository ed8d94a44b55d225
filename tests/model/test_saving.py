"""A saved classifier reloads in a fresh process with its scaler, metadata and predictions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np

from hca_dtl.model import SAAConfig, load_model, save_model, train_folds

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


def test_save_and_reload_in_a_fresh_process(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(90, 5)) * 3 + 10).astype(np.float32)
    y = (np.arange(90) % 2).astype(np.int32)
    roles = np.array([[1]] * 60 + [[2]] * 30, np.int8)
    config = SAAConfig(hidden_units=(6, 4), pretrain_epochs=1, finetune_max_epochs=2, batch_size=16)
    metadata = {"features": [f"Cells_f{i}" for i in range(5)], "classes": ["a", "b"],
                "config": config.to_dict()}
    model = train_folds(x, y, roles, 2, config, progress=False).to_keras_model(0, metadata)
    path = tmp_path / "model.keras"
    save_model(model, path)
    x_new = (x + rng.normal(size=x.shape).astype(np.float32) * 8)  # includes out-of-range values
    np.save(tmp_path / "x.npy", x_new)
    env = {**os.environ, "PYTHONPATH": str(SRC), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", RELOAD, str(path), str(tmp_path / "x.npy"),
                             str(tmp_path / "p.npy")], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == metadata
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), model.predict(x_new, verbose=0),
                               rtol=1e-6, atol=1e-7)
    reloaded = load_model(path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded.scaling.minimum),
                                  keras.ops.convert_to_numpy(model.scaling.minimum))
