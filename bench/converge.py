"""How long site.yml takes on a four-host lab: from bare hosts to an answered chat, then again.

A lab built apart from the Molecule scenarios, with the lab inventory's own variables
(inventories/lab/group_vars/all/main.yml: ten seconds of simulated work, every worker kind, the
offline provider without keys): four Docker-in-Docker hosts made by molecule/resources/create.yml
from the bare node image (Debian and python3, no Docker), named and addressed as the lab's
(manager1 .166, worker2 .163, worker3 .178, worker4 .173 on 172.30.40.0/24), reached with the
docker connection. Only what this machine cannot give is replaced (bench/converge-in-a-box.yml):
the hub's images by the local stand-ins, PyPI in nested builds by a wheelhouse, IPVS by dnsrr
and host-mode ports, SSH and sudo by the docker connection as root.

site.yml runs twice with the timings callback; the report gives each run's time, its changed
count and its slowest plays and tasks, and bench/results/converge-<UTC time>.json keeps them.
The hosts are removed at the end (--keep leaves them for more runs: ansible-playbook site.yml -i
the inventory it prints; --remove removes them later).

    make bench-converge
    .venv/bin/python bench/converge.py --keep
    .venv/bin/python bench/converge.py --remove
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "molecule" / "resources"
SUBNET = "172.30.40"
# The lab's hosts (inventories/lab/hosts.yml), with its last octets.
HOSTS = {"manager1": ("swarm_managers", 166), "worker2": ("swarm_workers", 163),
         "worker3": ("swarm_workers", 178), "worker4": ("swarm_workers", 173)}
PREFIX = "aisys-bench-"


def platforms() -> list[dict[str, Any]]:
    """The hosts as molecule/resources/create.yml and destroy.yml read them."""
    network = {"name": f"{PREFIX}lab", "subnet": f"{SUBNET}.0/24"}
    return [{"name": PREFIX + host, "image": "aisys-mol/node:bookworm", "groups": [group],
             "network": network, "ipv4_address": f"{SUBNET}.{octet}"}
            for host, (group, octet) in HOSTS.items()]


def inventory(folder: Path) -> Path:
    """The lab's inventory for the four hosts: its group_vars as they are, and the in-a-box file."""
    groups: dict[str, Any] = {"swarm_managers": {"hosts": {}}, "swarm_workers": {"hosts": {}}}
    for host, (group, octet) in HOSTS.items():
        groups[group]["hosts"][host] = {"ansible_host": PREFIX + host,
                                        "ansible_connection": "community.docker.docker",
                                        "lab_address": f"{SUBNET}.{octet}"}
    (folder / "group_vars" / "all").mkdir(parents=True)
    (folder / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": groups}}))
    lab_vars = ROOT / "inventories" / "lab" / "group_vars" / "all" / "main.yml"
    (folder / "group_vars" / "all" / "main.yml").write_text(lab_vars.read_text())
    box = (ROOT / "bench" / "converge-in-a-box.yml").read_text()
    (folder / "group_vars" / "all" / "zz-in-a-box.yml").write_text(
        box.replace("@MANAGER@", f"{SUBNET}.{HOSTS['manager1'][1]}")
           .replace("@ARCHIVE@", str(ROOT / ".cache" / "molecule-images" / "stand-ins.tar")))
    return folder


def playbook(args: list[str], env: dict[str, str], log: Path) -> tuple[int, str]:
    with log.open("a") as out:
        done = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), *args], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, check=False)
        out.write(done.stdout)
    return done.returncode, done.stdout


def changed(output: str) -> int:
    return sum(int(n) for n in re.findall(r"\bchanged=(\d+)", output.split("PLAY RECAP")[-1]))


def slowest(record: dict[str, Any], count: int = 8) -> list[str]:
    tasks = [(t["seconds"] or 0.0, t["name"]) for p in record["plays"] for t in p["tasks"]]
    return [f"    {s:6.1f} s  {name}" for s, name in sorted(tasks, reverse=True)[:count]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the hosts running")
    parser.add_argument("--remove", action="store_true",
                        help="only remove the hosts that --keep left")
    parser.add_argument("--log", type=Path, default=ROOT / "bench" / "results" / "converge.log",
                        help="every playbook's output (default: bench/results/converge.log)")
    args = parser.parse_args(argv)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    args.log.write_text("")
    work = Path(tempfile.mkdtemp(prefix="converge-"))
    timings = work / "timings.jsonl"
    env = {**os.environ, "MOLECULE_PROJECT_DIRECTORY": str(ROOT),
           "MOLECULE_SCENARIO_NAME": "bench-converge", "AI_SYSTEM_TIMINGS_FILE": str(timings),
           "ANSIBLE_CALLBACKS_ENABLED": "upb.ai_system.timings,ansible.posix.profile_tasks",
           "ANSIBLE_NOCOLOR": "1"}
    hosts = work / "hosts.json"
    hosts.write_text(json.dumps({"molecule_yml": {"platforms": platforms()},
                                 "molecule_instance_config": str(work / "instances.yml")}))
    box = ["-i", str(RESOURCES / "inventory"), "-e", f"@{hosts}"]
    if args.remove:
        return playbook([*box, str(RESOURCES / "destroy.yml")], env, args.log)[0]
    print(f"==> the four hosts (molecule/resources/create.yml; log: {args.log})", flush=True)
    code, _ = playbook([*box, str(RESOURCES / "create.yml")], env, args.log)
    if code:
        print(f"converge: the hosts could not be made; see {args.log}", file=sys.stderr)
        return 1
    lab = inventory(work / "inventory")
    runs = []
    try:
        for label in ("from bare hosts", "again, nothing to change"):
            print(f"==> site.yml {label}", flush=True)
            started = time.monotonic()
            code, output = playbook(["-i", str(lab), "site.yml"], env, args.log)
            seconds = time.monotonic() - started
            record = [json.loads(line) for line in timings.read_text().splitlines()][-1]
            runs.append({"run": label, "seconds": round(seconds, 1), "ok": code == 0,
                         "changed": changed(output), "record": record})
            print(f"    {seconds:6.1f} s, changed={runs[-1]['changed']}"
                  f"{'' if code == 0 else f', FAILED (see {args.log})'}", flush=True)
            print("\n".join(slowest(record)), flush=True)
            if code:
                break
    finally:
        if args.keep:
            print(f"==> kept: ansible-playbook site.yml -i {lab}")
        else:
            playbook([*box, str(RESOURCES / "destroy.yml")], env, args.log)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    result = ROOT / "bench" / "results" / f"converge-{stamp}.json"
    result.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    print(f"==> {result.relative_to(ROOT)}")
    return 0 if runs and all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
