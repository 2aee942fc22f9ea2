#!/usr/bin/env bash
# Static checks of the Ansible side (make test-ansible): ansible-lint (production profile),
# syntax of every playbook against both inventories, the lab inventory's groups,
# no plaintext vault in git, the collection's plugins and the broker's accounts and ACL
# against a real Mosquitto (tests/ansible), and the collection: built, installed into a
# temporary directory, its FQCN playbooks syntax-checked from there.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
export ANSIBLE_CONFIG="$PWD/ansible.cfg" ANSIBLE_NOCOLOR=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "==> ansible-lint --profile production"
# In a home of its own: ansible-lint also reads ~/.ansible/collections, where Molecule's prerun
# installs this collection anew (a lab stage beside this one may be halfway through that).
mkdir "$tmp/home"
HOME="$tmp/home" "$BIN/ansible-lint" --profile production --offline --nocolor -q

echo "==> syntax of every playbook against both inventories"
# One ansible-playbook per inventory, all playbooks at once (it names the one that fails).
for inventory in inventories/lab inventories/local; do
  "$BIN/ansible-playbook" --syntax-check -i "$inventory" site.yml playbooks/*.yml >"$tmp/syntax.log" 2>&1 \
    || { cat "$tmp/syntax.log"; echo "syntax check failed with $inventory" >&2; exit 1; }
done
echo "ok"

echo "==> the lab inventory's hosts and groups"
"$BIN/ansible-inventory" -i inventories/lab --list >"$tmp/lab.json"
"$BIN/python" - "$tmp/lab.json" <<'PY'
import json
import sys

with open(sys.argv[1], encoding="utf-8") as handle:
    inventory = json.load(handle)
hostvars = inventory["_meta"]["hostvars"]
address = {host: hostvars[host]["ansible_host"] for host in hostvars}
managers = sorted(address[h] for h in inventory["swarm_managers"]["hosts"])
workers = sorted(address[h] for h in inventory["swarm_workers"]["hosts"])
expected = (["10.1.2.166"], ["10.1.2.163", "10.1.2.173", "10.1.2.178"])
if (managers, workers) != expected:
    sys.exit(f"lab inventory: managers {managers}, workers {workers}; expected {expected}")
print(f"ok: managers {managers}, workers {workers}")
PY

echo "==> no plaintext vault in git"
plain=$(git ls-files -- '*vault.yml' | while read -r file; do
  head -c 14 "$file" | grep -q '^\$ANSIBLE_VAULT' || echo "$file"; done)
[ -z "$plain" ] || { echo "unencrypted vault files are tracked: $plain (ansible-vault encrypt them)" >&2; exit 1; }
echo "ok"

echo "==> the Mosquitto password filter, accounts and ACL against a real broker (tests/ansible)"
scripts/ensure-system.sh mosquitto
"$BIN/pytest" -q -p no:cacheprovider tests/ansible

echo "==> the collection: build, install, FQCN playbooks"
"$BIN/ansible-galaxy" collection build --output-path "$tmp/dist" . >/dev/null
tarball=$(ls "$tmp"/dist/upb-ai_system-*.tar.gz)
if tar -tzf "$tarball" | grep -E '(^|/)(collections|\.venv|molecule|inventories)/' | head -3 | grep -q .; then
  echo "the collection tarball carries paths it must not: $(tar -tzf "$tarball" | grep -E '(collections|\.venv|molecule|inventories)/' | head -3)" >&2
  exit 1
fi
# An empty configuration: the checkout's collections/ would make the collection look installed.
mkdir "$tmp/elsewhere"
printf '[defaults]\ncollections_path = %s\n' "$tmp/collections" >"$tmp/elsewhere/ansible.cfg"
ANSIBLE_CONFIG="$tmp/elsewhere/ansible.cfg" \
  "$BIN/ansible-galaxy" collection install --offline --no-deps -p "$tmp/collections" "$tarball" >/dev/null
# From that directory, so that nothing of the checkout (ansible.cfg, roles/) is used.
fqcn=()
for playbook in site docker swarm registry images stack verify status scale logs update stop backup restore teardown; do
  fqcn+=("upb.ai_system.$playbook")
done
(cd "$tmp/elsewhere" && ANSIBLE_CONFIG="$tmp/elsewhere/ansible.cfg" \
  "$OLDPWD/$BIN/ansible-playbook" --syntax-check -i "$OLDPWD/inventories/lab" "${fqcn[@]}") \
  >"$tmp/fqcn.log" 2>&1 || { cat "$tmp/fqcn.log"; echo "the FQCN playbooks failed their syntax check" >&2; exit 1; }
echo "ok: $(basename "$tarball") installs; upb.ai_system.site and the operations playbooks parse"
