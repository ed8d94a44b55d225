"""The runners' cost: per-unit overhead, and the quick grid on 1 and 2 Dask workers and 2 threads.

Run from the project root (prints figures; writes only under a temporary folder)::

    .venv/bin/python benchmarks/runner_overhead.py [--units 200] [--skip-grid]
        [--grid-runners sequential threads]

1. Per-unit overhead (scheduler + serialisation + dispatch): a pipeline of N trivial unit nodes
   (each loads a small JSON, adds one, saves a JSON) and one fan-in node, run in this process by
   the SequentialRunner and then by the DaskRunner on an already running LocalCluster of 1 and 2
   spawned workers (cluster start-up timed apart); Kedro's INFO logging off, best of 3 runs.
   Overhead per unit = (DaskRunner wall − SequentialRunner wall) / N, in ms; with 2 workers,
   units overlap.
2. The quick grid: the default configuration's ``transfer`` pipeline (``kedro run``'s grid), in a
   scratch copy of the project whose upstream data (``ingestion,psets``) are made once;
   then ``kedro run --pipelines=transfer`` with the SequentialRunner, with the DaskRunner on 1
   and 2 local workers and with Kedro's ThreadRunner on 2 threads (``make run``), each a fresh
   ``kedro`` process (wall time includes start-up and, for Dask, the cluster's). Units (source
   banks and grid units) are the nodes tagged ``unit``. Prints the walls, their ratios to the
   SequentialRunner's, and checks that Table 1's accuracy columns agree.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from hca_dtl.reporting.tables import ACCURACY

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ACCURACY_COLUMNS = ["Approach", "Transfer", "PS", "PT", "C", "Repetitions", ACCURACY]


def increment(record: dict) -> dict:
    return {"value": record["value"] + 1}


def total(*records: dict) -> dict:
    return {"total": sum(r["value"] for r in records)}


def _trivial_pipeline(n_units: int):
    from kedro.pipeline import Node, Pipeline

    units = [Node(increment, "seed", f"out_{i}", name=f"unit_{i}", tags=["unit"])
             for i in range(n_units)]
    return Pipeline([*units, Node(total, [f"out_{i}" for i in range(n_units)], "total",
                                  name="fan_in")])


def _trivial_catalog(folder: Path, n_units: int):
    from kedro.io import DataCatalog
    from kedro_datasets.json import JSONDataset

    folder.mkdir(parents=True)
    (folder / "seed.json").write_text(json.dumps({"value": 1}))
    names = ["seed", "total", *(f"out_{i}" for i in range(n_units))]
    return DataCatalog({name: JSONDataset(filepath=str(folder / f"{name}.json")) for name in names})


def _best_wall(run, repeats: int = 3) -> float:
    """The shortest of ``repeats`` wall times of ``run(i)``, in seconds."""
    walls = []
    for i in range(repeats):
        start = time.perf_counter()
        run(i)
        walls.append(time.perf_counter() - start)
    return min(walls)


def per_unit_overhead(n_units: int, scratch: Path) -> None:
    from distributed import Client, LocalCluster
    from kedro.runner import SequentialRunner

    from hca_dtl.runners import DaskRunner

    logging.disable(logging.INFO)  # both runners log per node; measure the runners, not logging
    pipeline = _trivial_pipeline(n_units)
    sequential = _best_wall(lambda i: SequentialRunner().run(
        pipeline, _trivial_catalog(scratch / f"sequential{i}", n_units)))
    print(f"\n[1] {n_units} trivial units + 1 fan-in node (best of 3)")
    print(f"    SequentialRunner: {sequential:.2f} s ({1000 * sequential / n_units:.1f} ms per unit)")
    for workers in (1, 2):
        start = time.perf_counter()
        with (LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster,
              Client(cluster) as client):
            started = time.perf_counter() - start
            client.run(logging.disable, logging.INFO)
            runner = DaskRunner(cluster="address", address=cluster.scheduler_address)
            wall = _best_wall(lambda i: runner.run(
                pipeline, _trivial_catalog(scratch / f"dask{workers}_{i}", n_units)))
        assert json.loads((scratch / f"dask{workers}_0" / "total.json").read_text()) == {
            "total": 2 * n_units}
        print(f"    DaskRunner, {workers} worker(s): {wall:.2f} s "
              f"(+{1000 * (wall - sequential) / n_units:.1f} ms per unit over sequential); "
              f"cluster start-up {started:.1f} s")
    logging.disable(logging.NOTSET)


GRID_RUNNERS = {
    "sequential": [],
    "dask-1": ["--runner=hca_dtl.runners.DaskRunner", "--runner-params=n_workers=1"],
    "dask-2": ["--runner=hca_dtl.runners.DaskRunner", "--runner-params=n_workers=2"],
    "threads": ["--runner=ThreadRunner", "--runner-params=max_workers=2"],
}


def _kedro(project: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kedro", "run", *args], cwd=project, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"})
    return time.perf_counter() - start


def quick_grid(scratch: Path, only: list[str]) -> None:
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    project = scratch / "project"
    project.mkdir()
    for name in ("conf", "pyproject.toml", ".telemetry"):
        source = PROJECT_ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, project / name)
    (project / "src").mkdir()
    bootstrap_project(project)
    units = sum("unit" in node.tags for node in pipelines["transfer"].nodes)
    print(f"\n[2] quick grid: `kedro run --pipelines=transfer`, default configuration; "
          f"{units} nodes tagged unit (source banks and units)")
    upstream = _kedro(project, "--pipelines=ingestion,psets")
    print(f"    upstream data (ingestion, psets; sequential): {upstream:.1f} s")
    table1 = project / "data" / "08_reporting" / "table1.csv"
    walls, tables = {}, {}
    for label, args in GRID_RUNNERS.items():
        if label not in only:
            continue
        walls[label] = _kedro(project, "--pipelines=transfer", *args)
        tables[label] = pd.read_csv(table1)[ACCURACY_COLUMNS]
        print(f"    {label}: {walls[label]:.1f} s")
    if "sequential" in walls:
        print("    SequentialRunner / each: " + ", ".join(
            f"{label} {walls['sequential'] / wall:.2f}×" for label, wall in walls.items()))
    same = all(t.equals(next(iter(tables.values()))) for t in tables.values())
    print(f"    Table 1 accuracy columns identical across the {len(tables)} runs: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--skip-grid", action="store_true", help="only the per-unit overhead")
    parser.add_argument("--skip-units", action="store_true", help="only the quick grid")
    parser.add_argument("--grid-runners", nargs="+", choices=list(GRID_RUNNERS),
                        default=list(GRID_RUNNERS), help="runners of the quick grid")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as scratch:
        if not args.skip_units:
            per_unit_overhead(args.units, Path(scratch))
        if not args.skip_grid:
            quick_grid(Path(scratch), args.grid_runners)


if __name__ == "__main__":
    main()
