"""Scale benchmark: synthetic BBBC021 at the paper's size (148,649 non-control cells), then ingest.

Run:  PYTHONPATH=src python benchmarks/ingest_scale.py [--n-cells 148649] [--seed 0]

Writes the synthetic set into a temporary folder (prints time, size and peak RSS), then ingests it
in a fresh subprocess (prints wall time, cells/s and that process's peak RSS). Targets on 2 cores:
ingest <= 3 min, peak RSS <= 3 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hca_dtl.data.synthetic import SyntheticConfig, write_synthetic_bbbc021

_CHILD = """
import json, sys, time
from hca_dtl.data.annotate import MetadataFiles
from hca_dtl.data.ingest import IngestConfig, ingest_export
manifest = json.loads(sys.argv[1])
start = time.perf_counter()
cells, features, report = ingest_export(manifest["export"], MetadataFiles.from_dict(manifest), IngestConfig())
cells.to_parquet(sys.argv[2])
print(json.dumps({"wall_s": time.perf_counter() - start, "counts": report["counts"], "timings_s": report["timings_s"]}))
"""


def _peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-cells", type=int, default=148_649)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hca_dtl_scale_") as folder:
        start = time.perf_counter()
        manifest = write_synthetic_bbbc021(folder, SyntheticConfig(seed=args.seed, n_cells=args.n_cells))
        generate_s = time.perf_counter() - start
        size_mb = sum(p.stat().st_size for p in Path(folder).iterdir()) / 2**20
        print(f"generate: {args.n_cells} non-control cells in {generate_s:.1f} s, {size_mb:.0f} MiB on disk, "
              f"peak RSS {_peak_rss_mb(resource.RUSAGE_SELF):.0f} MiB")
        start = time.perf_counter()
        child = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(manifest), str(Path(folder) / "cells.parquet")],
                               check=True, capture_output=True, text=True)
        wall_s = time.perf_counter() - start
        result = json.loads(child.stdout.strip().splitlines()[-1])
        cells = result["counts"]["cells_read"]
        print(f"ingest: {cells} cells read, {result['counts']['cells_kept']} kept x "
              f"{result['counts']['features_kept']} features in {result['wall_s']:.1f} s "
              f"({cells / result['wall_s']:.0f} cells/s; subprocess wall {wall_s:.1f} s incl. imports and "
              f"Parquet write), peak RSS {_peak_rss_mb(resource.RUSAGE_CHILDREN):.0f} MiB")
        print(f"ingest timings (s): {result['timings_s']}")


if __name__ == "__main__":
    main()
