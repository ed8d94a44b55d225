#!/usr/bin/env bash
# One job of a job-array campaign (submitted by submit_array.sh; not meant to be run by hand):
#   run_stage.sh prelude|unit|fanin RUN_DIR PIPELINE
# prelude/fanin run the nodes listed in RUN_DIR/<stage>_nodes.txt; unit (an array task) runs the
# namespace on line SLURM_ARRAY_TASK_ID + 1 of RUN_DIR/namespaces.txt. KEDRO_ARGS (exported by
# sbatch from the submitting shell) is added to every `kedro run`.
set -euo pipefail
stage=$1 run_dir=$2 pipeline=$3
kedro=(${PYTHON:-.venv/bin/python} -m kedro run --pipelines="$pipeline")
case $stage in
    prelude|fanin) selection=(--nodes="$(paste -sd, "$run_dir/${stage}_nodes.txt")") ;;
    unit) selection=(--namespaces="$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" "$run_dir/namespaces.txt")") ;;
    *) echo "unknown stage $stage" >&2; exit 2 ;;
esac
echo "stage=$stage job=${SLURM_JOB_ID:-} task=${SLURM_ARRAY_TASK_ID:-} host=$(hostname) ${selection[*]}"
start=$(date +%s.%N)
status=0
"${kedro[@]}" "${selection[@]}" ${KEDRO_ARGS:-} || status=$?
echo "stage=$stage seconds=$(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $start}") exit=$status"
exit $status
