#!/usr/bin/env python3
"""Runs the test stages of `make check` or `make test`, timed, two at a time where they may overlap.

Each stage is a make target with the stages it needs; a stage starts once those passed, and at
most --jobs stages run at once (the Molecule lab alongside the Python suites). Every stage's
output goes to test-artifacts/stages/<stage>.log; its progress lines (`==> ...`) are shown as
they come. When a stage fails, the lines that explain it are shown at once (a test's failure,
an Ansible task's error, the lab's last service logs), the stages that need it are skipped and
the others go on. At the end: a table of the stages' times and, from the playbook runs' records
(plugins/callback/timings.py), the lab's steps and slowest tasks; also written to
test-artifacts/timings.txt and test-artifacts/timings.json.

    scripts/run-tests.py check                    lint, types, unit and integration tests
    scripts/run-tests.py test                     everything, the Molecule lab included
    scripts/run-tests.py test --only lab-swarm    one stage (and what it needs)
    scripts/run-tests.py --list                   the stages
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
STAGE_LOGS = ARTIFACTS / "stages"
TIMINGS = ARTIFACTS / "timings"


@dataclass(frozen=True)
class Stage:
    name: str
    target: str  # the make target that runs it, with its variables (VAR=value)
    needs: tuple[str, ...] = ()
    about: str = ""


# `make check` runs the stages up to `integration`; `make test` all of them.
STAGES = (
    Stage("system", "system", about="Debian's packages the stages need (make system)"),
    Stage("venv", "venv", about="the controller's and the tests' Python tools in .venv"),
    Stage("node-deps", "node-deps", ("system",), "the Node.js worker's npm packages"),
    Stage("worker-go", "worker-go", ("system",), "the Go worker's binary"),
    Stage("worker-java", "worker-java", ("system",), "the Java worker's jars"),
    Stage("lint", "lint-all", ("venv", "node-deps"),
          "ruff, mypy --strict, eslint, the gRPC stubs, yamllint"),
    Stage("unit", "test-unit", ("venv", "node-deps", "worker-go", "worker-java"),
          "the Python, Node.js, Go and Java unit tests"),
    Stage("lab-images", "lab-images", ("venv", "system"),
          "the lab's node images and the hub images' stand-ins, on the host's Docker"),
    # The longest stage, so it starts first: the others fit beside it.
    Stage("lab-swarm", "test-molecule SCENARIOS=swarm", ("lab-images", "lint", "unit"),
          "Molecule swarm: the four-node lab's converge, idempotence and phases"),
    Stage("integration", "test-integration", ("lint", "unit"),
          "real Mosquitto, gRPC and Socket.IO: master and worker processes"),
    Stage("browser", "test-browser", ("integration",), "headless Chromium drives the chat"),
    Stage("conformance", "test-conformance", ("integration",),
          "the protocol's promises against the Python, Node.js, Go and Java workers"),
    Stage("ansible", "test-ansible", ("lint",),
          "ansible-lint, syntax, the broker's accounts, the collection build"),
    Stage("lab-single", "test-molecule SCENARIOS=default", ("lab-images", "lint", "unit"),
          "Molecule default: the docker role on a bare host, site.yml on one node"),
)
CHECK = ("system", "venv", "node-deps", "worker-go", "worker-java", "lint", "unit", "integration")
# What the check's stages need from Debian (make system installs these; make test's, all).
CHECK_SYSTEM = "mosquitto go node java"
# Lines of a stage's output shown as progress while it runs.
PROGRESS = re.compile(r"^==> ")


@dataclass
class Run:
    stage: Stage
    state: str = "waiting"  # waiting, running, passed, failed, skipped
    began: float = 0.0
    ended: float = 0.0
    log: Path = field(default_factory=Path)

    @property
    def seconds(self) -> float:
        return self.ended - self.began if self.ended else 0.0


def clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s"


class Runner:
    def __init__(self, stages: list[Stage], jobs: int) -> None:
        self.runs = {stage.name: Run(stage) for stage in stages}
        self.jobs = jobs
        self.start = time.monotonic()
        self.lock = threading.Lock()
        self.done = threading.Condition(self.lock)

    def say(self, text: str) -> None:
        print(f"[{clock(time.monotonic() - self.start)}] {text}", flush=True)

    def run(self) -> bool:
        STAGE_LOGS.mkdir(parents=True, exist_ok=True)
        with self.lock:
            while True:
                for run in self.runs.values():
                    if run.state == "waiting":
                        self._schedule(run)
                if not any(r.state in ("waiting", "running") for r in self.runs.values()):
                    break
                self.done.wait()
        return all(r.state == "passed" for r in self.runs.values())

    def _schedule(self, run: Run) -> None:
        needed = [self.runs[n] for n in run.stage.needs if n in self.runs]
        if any(n.state in ("failed", "skipped") for n in needed):
            run.state = "skipped"
            self.say(f"skip   {run.stage.name}: it needs "
                     f"{', '.join(n.stage.name for n in needed if n.state != 'passed')}")
            return
        running = sum(r.state == "running" for r in self.runs.values())
        if all(n.state == "passed" for n in needed) and running < self.jobs:
            run.state, run.began = "running", time.monotonic()
            run.log = STAGE_LOGS / f"{run.stage.name}.log"
            self.say(f"start  {run.stage.name}: {run.stage.about} (log: "
                     f"{run.log.relative_to(ROOT)})")
            threading.Thread(target=self._execute, args=(run,), daemon=True).start()

    def _execute(self, run: Run) -> None:
        with run.log.open("w", encoding="utf-8") as log:
            proc = subprocess.Popen(["make", "--no-print-directory", *run.stage.target.split()],
                                    cwd=ROOT,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    errors="replace", bufsize=1)
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                log.flush()
                if PROGRESS.match(line):
                    self.say(f"       {run.stage.name}: {line[4:].rstrip()}")
            code = proc.wait()
        with self.lock:
            run.ended = time.monotonic()
            run.state = "passed" if code == 0 else "failed"
            self.say(f"{run.state:7}{run.stage.name} in {clock(run.seconds)}")
            if code != 0:
                print(explain(run), flush=True)
            self.done.notify_all()


# --- explaining a failure ---------------------------------------------------------------------

def excerpt(lines: list[str], limit: int) -> list[str]:
    return lines if len(lines) <= limit else [*lines[:limit], f"... ({len(lines) - limit} more)"]


def pytest_failures(lines: list[str]) -> list[str]:
    """The FAILURES and ERRORS sections, each test's last lines, and the short summary."""
    out: list[str] = []
    heads = [i for i, line in enumerate(lines)
             if re.match(r"^_{3,} .+ _{3,}$", line) or "short test summary info" in line]
    for here, after in zip(heads, [*heads[1:], len(lines)], strict=False):
        block = lines[here:after]
        if "short test summary info" in block[0]:
            out += excerpt(block, 30)
        else:
            out += [block[0], *block[-25:]] if len(block) > 26 else block
    return out


def ansible_failures(lines: list[str]) -> list[str]:
    """Each failed task (not one whose failure was ignored): its TASK line and its error."""
    out: list[str] = []
    task = ""
    for i, line in enumerate(lines):
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line.rstrip("* ")
        elif re.match(r"^(fatal|failed): \[", line):
            block = [line]
            for follow in lines[i + 1:i + 80]:
                if follow.startswith(("TASK [", "PLAY ", "RUNNING ")):
                    break
                block.append(follow)
            if not any("...ignoring" in b for b in block):
                out += [task, *excerpt([b for b in block if b.strip()], 40), ""]
    return out[-150:]


def second_converge_changes(lines: list[str]) -> list[str]:
    """The tasks that reported a change in Molecule's idempotence step (it should be none)."""
    out: list[str] = []
    inside, task = False, ""
    for line in lines:
        if re.search(r"> idempotence\] Execut(ing|ed)", line):
            inside = "Executing" in line
        elif inside and line.startswith("TASK ["):
            task = line.rstrip("* ")
        elif inside and line.startswith("changed: ["):
            out.append(f"{task}: {line}")
    return [f"the second converge changed {len(out)} task(s):", *out] if out else []


def service_logs(scenario: str) -> list[str]:
    """The lab's tasks that failed and its services' last lines, as destroy.yml saved them."""
    folder = ARTIFACTS / "molecule" / scenario / "services"
    out: list[str] = []
    tasks = folder / "tasks.txt"
    if tasks.exists():
        failed = [line for line in tasks.read_text(errors="replace").splitlines()
                  if re.search(r"\b(Failed|Rejected|Pending)\b", line)]
        out += [f"--- {tasks.relative_to(ROOT)}: tasks that failed or wait", *excerpt(failed, 20)]
    for path in sorted(folder.glob("*.log")):
        tail = path.read_text(errors="replace").splitlines()[-8:]
        out += [f"--- {path.relative_to(ROOT)} (its last lines)", *tail]
    return out


def explain(run: Run) -> str:
    lines = run.log.read_text(errors="replace").splitlines()
    found = pytest_failures(lines) or ansible_failures(lines)
    # A lab stage's log names its scenario's own log: the errors are in that one.
    scenario = run.stage.target.partition("SCENARIOS=")[2]
    path = ARTIFACTS / "molecule" / f"{scenario}.log"
    if scenario and path.exists():
        scenario_lines = path.read_text(errors="replace").splitlines()
        errors = ansible_failures(scenario_lines) + second_converge_changes(scenario_lines)
        if errors:
            found += [f"--- {path.relative_to(ROOT)}", *errors, *service_logs(path.stem)]
    tail = lines[-15:] if found else lines[-60:]
    bar = "-" * 100
    return "\n".join([bar, f"{run.stage.name} FAILED: {run.stage.about}; whole log: "
                      f"{run.log.relative_to(ROOT)}", *found, "... the log ends:", *tail, bar])


# --- where the time went ----------------------------------------------------------------------

def playbook_runs() -> list[dict]:
    path = TIMINGS / "playbooks.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def lab_table(runs: list[dict]) -> list[str]:
    """Per scenario: each top-level playbook run (create, converge, ...) and its plays' times;
    then the slowest tasks of all runs."""
    out: list[str] = []
    # A run inside another run of its scenario is one of its commands (the operator's day).
    tops = [r for r in runs if not any(o is not r and o["scenario"] == r["scenario"]
                                       and o["start"] <= r["start"]
                                       and r["start"] + r["seconds"] <= o["start"] + o["seconds"]
                                       for o in runs)]
    for scenario in dict.fromkeys(r["scenario"] for r in tops):
        out.append(f"lab scenario {scenario or '(none)'}: its playbook runs, their longest plays")
        seen: set[str] = set()
        for run in (r for r in tops if r["scenario"] == scenario):
            name = os.path.basename(run["playbook"])
            label = f"{name} (again)" if name in seen else name
            seen.add(name)
            plays = sorted(run["plays"], key=lambda p: -(p["seconds"] or 0))[:4]
            detail = ", ".join(f"{p['name'][:36]} {clock(p['seconds'] or 0)}" for p in plays
                               if (p["seconds"] or 0) >= 5)
            out.append(f"  {label:20} {clock(run['seconds']):>7}"
                       f"{'' if run['ok'] else ' FAILED'}  {detail}")
    tasks = [(t["seconds"] or 0, r["scenario"], t["name"]) for r in runs for p in r["plays"]
             for t in p["tasks"]]
    if tasks:
        out.append("slowest tasks (all playbook runs):")
        out += [f"  {clock(s):>7}  {sc:8} {name[:90]}" for s, sc, name in sorted(tasks)[::-1][:10]]
    return out


def report(runner: Runner) -> str:
    total = time.monotonic() - runner.start
    lines = [f"{'stage':12} {'result':8} {'time':>7} {'began':>7}  what"]
    for run in sorted(runner.runs.values(), key=lambda r: (r.began or 1e12, r.stage.name)):
        began = clock(run.began - runner.start) if run.began else ""
        lines.append(f"{run.stage.name:12} {run.state:8} {clock(run.seconds):>7} {began:>7}  "
                     f"{run.stage.about}")
    lines.append(f"{'total':12} {'':8} {clock(total):>7}")
    runs = playbook_runs()
    if runs:
        lines += ["", *lab_table(runs)]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "timings.txt").write_text("\n".join(lines) + "\n")
    (ARTIFACTS / "timings.json").write_text(json.dumps({
        "total_seconds": round(total, 1),
        "stages": [{"stage": r.stage.name, "result": r.state, "seconds": round(r.seconds, 1),
                    "began": round(r.began - runner.start, 1) if r.began else None}
                   for r in runner.runs.values()],
        "playbook_runs": runs}, indent=1) + "\n")
    return "\n".join(lines)


def select(suite: str, only: list[str]) -> list[Stage]:
    """The suite's stages, or the named ones with every stage they need."""
    by_name = {s.name: s for s in STAGES}
    if not only:
        return [s for s in STAGES if suite == "test" or s.name in CHECK]
    unknown = [n for n in only if n not in by_name]
    if unknown:
        sys.exit(f"run-tests: no stage {', '.join(unknown)}; --list shows them")
    wanted: set[str] = set()
    todo = list(only)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo += by_name[name].needs
    return [s for s in STAGES if s.name in wanted]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suite", nargs="?", choices=["check", "test"], default="test")
    parser.add_argument("--only", action="append", default=[], metavar="STAGE",
                        help="run this stage and what it needs (repeatable)")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("TEST_JOBS", "2")),
                        help="stages at once (default 2, or $TEST_JOBS)")
    parser.add_argument("--list", action="store_true", help="list the stages and exit")
    args = parser.parse_args()
    if args.list:
        for stage in STAGES:
            needs = f" (after {', '.join(stage.needs)})" if stage.needs else ""
            print(f"{stage.name:12} make {stage.target:32} {stage.about}{needs}")
        return 0
    TIMINGS.mkdir(parents=True, exist_ok=True)
    (TIMINGS / "playbooks.jsonl").unlink(missing_ok=True)
    os.environ["AI_SYSTEM_TIMINGS_FILE"] = str(TIMINGS / "playbooks.jsonl")
    if args.suite == "check":
        os.environ["SYSTEM_COMPONENTS"] = CHECK_SYSTEM
    runner = Runner(select(args.suite, args.only), max(1, args.jobs))
    ok = runner.run()
    print("\n" + report(runner), flush=True)
    failed = [r for r in runner.runs.values() if r.state == "failed"]
    if failed:
        print(f"\nFAILED: {', '.join(r.stage.name for r in failed)} "
              f"(logs in {STAGE_LOGS.relative_to(ROOT)}/)")
        for run in failed:
            print(explain(run))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
