"""Splits a registered pipeline into the three stages of a Slurm job-array campaign.

    python deploy/slurm/unit_plan.py PIPELINES OUTDIR [--namespaces-file FILE] [--env ENV]

PIPELINES is one registered pipeline or several, comma-separated (as ``kedro run --pipelines``).

Writes three files into OUTDIR, one name per line:

- ``namespaces.txt``: the units, one array task each (``kedro run --namespaces=NS``). From FILE if
  given, else every namespace of the pipeline's nodes that no other namespace extends (what
  ``kedro registry describe PIPELINE`` shows as ``<namespace>.<node>`` names, deepest namespace
  kept: ``transfer.pset1_nsc.dtl_1.r0-1``, not ``transfer``), whatever the naming scheme.
- ``prelude_nodes.txt``: the other nodes the units depend on (e.g. fold plans), run first.
- ``fanin_nodes.txt``: every remaining node (tables, figures, tracking), run after all units.

Opening the Kedro context also creates the run environment's MLflow store (kedro-mlflow), so that
array tasks starting together do not race to create its schema.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.pipeline import Pipeline


def deepest_namespaces(namespaces: set[str]) -> list[str]:
    """Namespaces that are not a dotted prefix of another one, sorted."""
    return sorted(ns for ns in namespaces
                  if not any(other.startswith(f"{ns}.") for other in namespaces))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pipelines")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--namespaces-file", type=Path)
    parser.add_argument("--env")
    args = parser.parse_args()

    project = Path.cwd()
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=args.env) as session:
        session.load_context()  # kedro-mlflow's after_context_created hook creates the store
    pipeline = sum((pipelines[name] for name in args.pipelines.split(",")), Pipeline([]))
    if args.namespaces_file:
        units = [line.strip() for line in args.namespaces_file.read_text().splitlines()
                 if line.strip() and not line.startswith("#")]
    else:
        units = deepest_namespaces({node.namespace for node in pipeline.nodes if node.namespace})
    if not units:
        raise SystemExit(f"Pipelines {args.pipelines!r} have no namespaced nodes: nothing to split.")
    unit_nodes = pipeline.only_nodes_with_namespaces(units).nodes
    others = [node for node in pipeline.nodes if node not in set(unit_nodes)]  # topological order
    upstream = {node.name for node in pipeline.to_nodes(*(n.name for n in unit_nodes)).nodes}
    prelude = [node.name for node in others if node.name in upstream]
    fanin = [node.name for node in others if node.name not in upstream]

    args.outdir.mkdir(parents=True, exist_ok=True)
    for name, lines in (("namespaces", units), ("prelude_nodes", prelude), ("fanin_nodes", fanin)):
        (args.outdir / f"{name}.txt").write_text("".join(f"{line}\n" for line in lines))
    print(f"{len(units)} units ({len(unit_nodes)} nodes), {len(prelude)} prelude and "
          f"{len(fanin)} fan-in nodes -> {args.outdir}")


if __name__ == "__main__":
    main()
