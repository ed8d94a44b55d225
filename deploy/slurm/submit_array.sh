#!/usr/bin/env bash
# A pipeline on Slurm without Dask: one `sbatch --array` task per unit namespace
# (`kedro run --pipelines=P --namespaces=NS`), after a prelude job running the other nodes the
# units need (e.g. fold plans), and before a fan-in job (`--dependency=afterok`) running the rest
# (tables, figures, the MLflow metrics). Run from the project root, on a Slurm login node:
#
#   deploy/slurm/submit_array.sh PIPELINES [NAMESPACES_FILE]
#
# PIPELINES: one registered pipeline or several, comma-separated (as `kedro run --pipelines`).
# Units come from NAMESPACES_FILE (one namespace per line) or from the pipeline's deepest
# namespaces (deploy/slurm/unit_plan.py, the names `kedro registry describe PIPELINE` shows).
# The split needs no tags: a unit is a namespace; prelude and fan-in follow from the DAG.
# The pipeline's inputs from other pipelines must exist (e.g. `kedro run --pipelines=ingestion,psets`).
# Environment:
#   KEDRO_ARGS    added to every `kedro run`, e.g. "--env=paper"
#   SBATCH_ARGS   added to every sbatch, e.g. "--partition=cpu --time=04:00:00 --cpus-per-task=2 --mem=8G"
#   MAX_PARALLEL  at most this many array tasks at once (default: no limit)
#   WAIT=1        wait for the campaign to end, then print each job's time and the total
# Each task is its own `kedro run`, hence its own MLflow run; on a shared filesystem with many
# tasks prefer an MLflow server to the SQLite file (conf/<env>/mlflow.yml, mlflow_tracking_uri).
set -euo pipefail
pipeline=${1:?usage: deploy/slurm/submit_array.sh PIPELINES [NAMESPACES_FILE]}
namespaces_file=${2:-}
here=$(dirname "$0")
python=${PYTHON:-.venv/bin/python}
run_dir=$PWD/data/slurm/${pipeline//,/+}-$(date +%Y%m%dT%H%M%S)
env_arg=$(grep -o -- '--env=[^ ]*' <<<"${KEDRO_ARGS:-}" | cut -d= -f2 || true)

"$python" "$here/unit_plan.py" "$pipeline" "$run_dir" ${namespaces_file:+--namespaces-file "$namespaces_file"} \
    ${env_arg:+--env "$env_arg"}
n_units=$(wc -l < "$run_dir/namespaces.txt")
submit() { sbatch --parsable --chdir="$PWD" --export=ALL ${SBATCH_ARGS:-} "$@"; }

dependency=()
if [[ -s $run_dir/prelude_nodes.txt ]]; then
    prelude=$(submit -J "$pipeline-prelude" -o "$run_dir/prelude-%j.out" "$here/run_stage.sh" prelude "$run_dir" "$pipeline")
    dependency=(--dependency="afterok:$prelude" --kill-on-invalid-dep=yes)
fi
units=$(submit -J "$pipeline-units" "${dependency[@]}" --array="0-$((n_units - 1))${MAX_PARALLEL:+%$MAX_PARALLEL}" \
    -o "$run_dir/unit-%A_%a.out" "$here/run_stage.sh" unit "$run_dir" "$pipeline")
jobs="${prelude:-} $units"
if [[ -s $run_dir/fanin_nodes.txt ]]; then
    fanin=$(submit -J "$pipeline-fanin" --dependency="afterok:$units" --kill-on-invalid-dep=yes -o "$run_dir/fanin-%j.out" \
        "$here/run_stage.sh" fanin "$run_dir" "$pipeline")
    jobs="$jobs $fanin"
fi
echo "submitted: prelude=${prelude:-none} units=$units ($n_units tasks) fanin=${fanin:-none}; logs in $run_dir"

if [[ ${WAIT:-0} == 1 ]]; then
    start=$(date +%s)
    while [[ -n $(squeue -h -j "${jobs// /,}" 2>/dev/null) ]]; do sleep 2; done
    grep -h "^stage=.*seconds=" "$run_dir"/*.out | sort
    expected=$(wc -w <<<"$jobs")
    expected=$(( expected - 1 + n_units ))  # the array counts once in $jobs, n_units times here
    succeeded=$(cat "$run_dir"/*.out | grep -c "^stage=.*exit=0$" || true)
    echo "campaign wall time: $(( $(date +%s) - start )) s from submission; $succeeded of $expected jobs succeeded"
    [[ $succeeded == "$expected" ]]
fi
