"""Saving and loading SAA classifiers as ``.keras`` files, on any Keras backend."""

from __future__ import annotations

from pathlib import Path

import keras


def save_model(model: keras.Model, path: str | Path) -> None:
    """Writes ``model`` (e.g. an ``SAAClassifier`` with its scaler and metadata) to a ``.keras`` file."""
    model.save(str(path))


def load_model(path: str | Path) -> keras.Model:
    """Reads a ``.keras`` file written by ``save_model`` (the custom layers are registered)."""
    return keras.saving.load_model(str(path))
