"""The `transfer` pipeline."""
