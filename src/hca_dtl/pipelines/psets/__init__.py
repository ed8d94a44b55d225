"""The `psets` pipeline."""
