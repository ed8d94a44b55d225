"""Saving and loading the project's models as ``.keras`` files, on any Keras backend."""

from __future__ import annotations

import importlib
from pathlib import Path

import keras

# Modules whose classes are registered with Keras (``register_keras_serializable``): imported
# before loading so that a saved model's custom classes resolve.
MODEL_MODULES = ("hca_dtl.model.layers", "hca_dtl.model.mlp.layers", "hca_dtl.model.bank")


def save_model(model: keras.Model, path: str | Path) -> None:
    """Writes ``model`` (e.g. an ``SAAClassifier`` with its scaler and metadata) to a ``.keras`` file."""
    model.save(str(path))


def load_model(path: str | Path) -> keras.Model:
    """Reads a ``.keras`` file written by ``save_model`` (the custom classes are registered first)."""
    for module in MODEL_MODULES:
        importlib.import_module(module)
    return keras.saving.load_model(str(path))
