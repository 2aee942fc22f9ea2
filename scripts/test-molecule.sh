#!/usr/bin/env bash
# Runs the Molecule scenarios (both by default: default, then swarm) with the shared base
# config, each as `molecule test` (its test_sequence: destroy, syntax, create, converge, ...,
# destroy). A scenario fails too if its destroy leaves a container, volume or network behind.
# Each scenario's log goes to test-artifacts/molecule/<scenario>.log, with what its lab was
# doing (destroy.yml saves it) in test-artifacts/molecule/<scenario>/services/; the summary (time
# of each scenario and the changed count of its second converge) to
# test-artifacts/molecule/summary.txt (one line per scenario: several runs of this script may
# run side by side, one scenario each). Each step is printed as it begins.
#   scripts/test-molecule.sh            every scenario
#   scripts/test-molecule.sh swarm      one scenario
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" NO_COLOR=1 ANSIBLE_NOCOLOR=1 PY_COLORS=0

scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(default swarm)
artifacts=test-artifacts/molecule
mkdir -p "$artifacts"
summary="$artifacts/summary.txt"
touch "$summary"

status=0
for scenario in "${scenarios[@]}"; do
  log="$artifacts/$scenario.log"
  rm -rf "${artifacts:?}/$scenario"
  sed -i "/^$scenario: /d" "$summary"
  echo "==> molecule test -s $scenario (log: $log)"
  start=$(date +%s)
  rc=0
  # The log keeps everything; the steps (create, converge, ...) show as progress.
  molecule -c molecule/resources/base.yml test -s "$scenario" 2>&1 | tee "$log" \
    | sed -un "s/^INFO *\[$scenario > \([a-z_]*\)\] Executing$/==> $scenario: \1/p" || rc=$?
  seconds=$(( $(date +%s) - start ))
  # The recap lines of the idempotence step: the changes of the second converge.
  changed=$(sed -n '/> idempotence\] Executing/,/> idempotence\] Executed/p' "$log" \
    | grep -o 'changed=[0-9]*' | awk -F= '{sum += $2; n++} END {if (n) print sum}' || true)
  # Destroy must leave nothing of the scenario on the host engine.
  leftovers=$( { docker ps -aq --filter "name=aisys-mol-$scenario"
                 docker volume ls -q --filter "name=aisys-mol-$scenario"
                 docker network ls -q --filter "name=aisys-mol-$scenario"; } | xargs)
  if [ -n "$leftovers" ] && [ "$rc" -eq 0 ]; then
    echo "$scenario: destroy left containers, volumes or networks behind: $leftovers"
    rc=1
  fi
  result=$([ "$rc" -eq 0 ] && echo passed || echo "FAILED (rc $rc)")
  if grep -q '> idempotence\] Executing' "$log"; then
    second="second converge changed=${changed:-?}"
  else
    second="no idempotence step"
  fi
  line="$scenario: $result in $((seconds / 60))m$((seconds % 60))s; $second"
  echo "$line" >>"$summary"
  echo "==> $line"
  if [ "$rc" -ne 0 ]; then
    # The failed tasks with their errors (scripts/run-tests.py shows the services' last lines too).
    grep -B3 -A25 -E '^(fatal|failed): \[' "$log" | grep -v '\.\.\.ignoring' | tail -n 80 || tail -n 60 "$log"
    status=1
  fi
done
exit "$status"
