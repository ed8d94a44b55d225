"""Reading, generating and curating CellProfiler per-cell data (no Kedro imports)."""
