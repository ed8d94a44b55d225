"""The `baselines` pipeline (alias `evaluation`)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
