"""``make bench``: throughput and overhead latency of the whole system on this machine.

Starts Mosquitto, the master and W workers (offline provider, no simulated work) with
the launcher behind ``make run``, then S closed-loop Socket.IO sessions (bench/loadgen.py,
in one or more processes). After a warm-up it measures, over a fixed window:

- tasks per second: answers that arrived in the window, divided by its length;
- overhead per task: end-to-end latency seen by the client minus the worker's
  processing_time_ms (provider + simulated work) and minus the queue_wait_ms the master
  reports; with more sessions than workers a closed loop always queues (Little's law:
  mean latency = sessions / throughput), so queueing is shown apart, not as overhead;
- CPU per task of each component, from /proc/<pid>/stat over the same window.

Prints a table and writes bench/results/<UTC timestamp>.json; ``--repeat N`` measures N
windows one after another and reports the median of each figure (the machine is shared).
A benchmark, not a test: it fails only when the system does not answer (errors, or no
answers at all), never on speed. ``--smoke`` is a two-second run that checks the
benchmark itself still works.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ai_system.local.ports import free_port
from ai_system.local.processes import StartupError
from ai_system.local.system import LocalConfig, LocalSystem

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
LOADGEN = BENCH / "loadgen.py"
# The worker kinds --worker chooses between: (program and arguments, worker id prefix);
# an empty program is the Python worker (``ai-worker``).
WORKER_KINDS: dict[str, tuple[tuple[str, ...], str]] = {
    "python": ((), "python-worker-local"),
    "node": (("node", str(REPO / "services" / "worker-node" / "src" / "main.js")),
             "node-worker-local"),
    "go": ((str(REPO / "services" / "worker-go" / "ai-worker-go"),), "go-worker-local"),
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The aims with 8 workers and 50 sessions.
AIM_TASKS_PER_SECOND = 300.0
AIM_P99_OVERHEAD_MS = 50.0
AIM_SHAPE = (8, 50)  # workers, sessions
# Above this share of one core the generator may itself be what limits throughput.
GENERATOR_BUSY_WARNING = 0.8
# A generator whose event loop is this late (p99) measures its own delays too.
GENERATOR_LAG_WARNING_MS = 20.0
# A run of a fixed number of questions (measure(questions=...)) is cut off after this long.
QUESTIONS_DEADLINE_SECONDS = 300.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8, help="worker processes (8)")
    parser.add_argument("--worker", choices=sorted(WORKER_KINDS), default="python",
                        help="which worker program: python (ai-worker), node "
                             "(services/worker-node) or go (services/worker-go); `make bench` "
                             "installs and builds them")
    parser.add_argument("--sessions", type=int, default=50, help="concurrent chat sessions (50)")
    add_window_options(parser)
    parser.add_argument("--repeat", type=int, default=1,
                        help="measured windows, one after another; figures are medians (1)")
    parser.add_argument("--smoke", action="store_true",
                        help="2 workers, 2 sessions, 2 s: checks that the benchmark works")
    args = parser.parse_args(argv)
    if args.smoke:
        args.workers, args.sessions, args.duration, args.warmup = 2, 2, 2.0, 1.0
        args.repeat = 1
    check_options(parser, args, "workers", "sessions", "generators", "repeat")
    return args


def add_window_options(parser: argparse.ArgumentParser) -> None:
    """The options bench/compare.py shares: the window, the generators, the output."""
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds (20)")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first (3)")
    parser.add_argument("--generators", type=int, default=1,
                        help="load generator processes sharing the sessions (1)")
    parser.add_argument("--output-dir", type=Path, default=BENCH / "results",
                        help="where the JSON result goes (bench/results)")


def check_options(parser: argparse.ArgumentParser, args: argparse.Namespace,
                  *counts: str) -> None:
    """Refuses a count (the options named) below 1, a window <= 0 s or a negative warm-up;
    gives no generator fewer than one session."""
    if min(getattr(args, name) for name in counts) < 1 or args.duration <= 0:
        parser.error(f"{', '.join(counts[:-1])} and {counts[-1]} must be >= 1, duration > 0")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    args.generators = min(args.generators, args.sessions)


# --- CPU time from /proc ----------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # the name may contain spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def cpu_snapshot(groups: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in groups.items()}


def harness_cpu_seconds() -> float:
    """This process: the launcher's log readers and the window bookkeeping."""
    times = os.times()
    return times.user + times.system


class CpuMeter:
    """CPU seconds of each group of processes, and of this process (``own``), between
    ``start()`` and ``stop()``; ``stop()`` also gives the interval's length."""

    def __init__(self, groups: dict[str, list[int]], own: str = "bench harness") -> None:
        self.groups = groups
        self.own = own
        self._before: dict[str, float] = {}
        self._own_before = self._started = 0.0

    def start(self) -> None:
        self._before, self._own_before = cpu_snapshot(self.groups), harness_cpu_seconds()
        self._started = time.monotonic()

    def stop(self) -> tuple[dict[str, float], float]:
        after, own_after = cpu_snapshot(self.groups), harness_cpu_seconds()
        seconds = time.monotonic() - self._started
        cpu = {name: after[name] - self._before[name] for name in self.groups}
        cpu[self.own] = own_after - self._own_before
        return cpu, seconds


def split(total: int, parts: int) -> list[int]:
    """``total`` shared out over ``parts`` as evenly as whole numbers allow."""
    share, extra = divmod(total, parts)
    return [share + (1 if index < extra else 0) for index in range(parts)]


# --- the load generators ----------------------------------------------------------------

class Generators:
    """``count`` loadgen.py processes sharing ``sessions`` (and ``questions``, when the run
    is a fixed number of them) between them."""

    def __init__(self, url: str, sessions: int, count: int,
                 questions: int | None = None) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        first = 0
        asks: Sequence[int | None] = ([None] * count if questions is None
                                      else split(questions, count))
        for size, ask in zip(split(sessions, count), asks, strict=True):
            limit = [] if ask is None else ["--questions", str(ask)]
            self.procs.append(subprocess.Popen(
                [sys.executable, str(LOADGEN), "--url", url, "--sessions", str(size),
                 "--first-index", str(first), *limit],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
            first += size

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]

    def _read(self, proc: subprocess.Popen[str]) -> dict[str, Any]:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise StartupError(f"load generator {proc.pid} exited with code {proc.wait()}")
        return json.loads(line)

    def wait_ready(self) -> None:
        for proc in self.procs:
            self._read(proc)

    def start_window(self, measure_from: float, measure_to: float) -> None:
        line = json.dumps({"measure_from": measure_from, "measure_to": measure_to}) + "\n"
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(line)
            proc.stdin.flush()

    def results(self) -> list[dict[str, Any]]:
        """Each generator's result line (written before it disconnects its sessions)."""
        return [self._read(proc) for proc in self.procs]

    def wait(self) -> None:
        for proc in self.procs:
            proc.wait(timeout=30)

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


# --- figures ----------------------------------------------------------------------------

def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def distribution(values: list[float]) -> dict[str, float]:
    return {
        "mean": round(statistics.fmean(values), 2) if values else 0.0,
        "p50": round(percentile(values, 0.50), 2),
        "p95": round(percentile(values, 0.95), 2),
        "p99": round(percentile(values, 0.99), 2),
        "max": round(max(values), 2) if values else 0.0,
    }


@dataclass
class Window:
    seconds: float
    cpu: dict[str, float]  # CPU seconds per component over the window
    counted: int  # the system's own count of answered tasks in the window (the master's)
    load_average: float  # the machine's 1-minute load average at the window's end


LATENCIES = (  # result key, label in the table
    ("overhead_ms", "overhead (e2e - proc - queue)"),
    ("end_to_end_minus_processing_ms", "e2e - processing"),
    ("queue_wait_ms", "queue wait (master)"),
    ("processing_time_ms", "processing (worker)"),
    ("ack_ms", "user-query ack (client)"),
    ("end_to_end_ms", "end to end (client)"),
    ("generator_loop_lag_ms", "load generator's loop lag"),
)


def common_figures(window: Window, generated: list[dict[str, Any]], tasks: int) -> dict[str, Any]:
    """What any system's window shows: throughput, CPU per component, the errors the load
    met (``generated``: one dict per process with ``errors`` and ``unfinished_sessions``)."""
    errors: dict[str, int] = {}
    for result in generated:
        for message, count in result["errors"].items():
            errors[message] = errors.get(message, 0) + count
    return {
        "tasks": tasks,
        "tasks_per_second": round(tasks / window.seconds, 1),
        "cpu_ms_per_task": {name: round(seconds * 1000 / tasks, 3) if tasks else None
                            for name, seconds in window.cpu.items()},
        "cpu_cores_busy": {name: round(seconds / window.seconds, 3)
                           for name, seconds in window.cpu.items()},
        "load_average": window.load_average,
        "errors": errors,
        "unfinished_sessions": sum(r["unfinished_sessions"] for r in generated),
    }


def figures(window: Window, generated: list[dict[str, Any]]) -> dict[str, Any]:
    """One measured window: throughput, latency distributions, CPU per component."""
    samples = [sample for result in generated for sample in result["samples"]]
    series = {
        "overhead_ms": [s[0] - s[1] - s[2] for s in samples],
        "end_to_end_minus_processing_ms": [s[0] - s[1] for s in samples],
        "queue_wait_ms": [float(s[2]) for s in samples],
        "processing_time_ms": [float(s[1]) for s in samples],
        "ack_ms": [s[3] for s in samples],
        "end_to_end_ms": [s[0] for s in samples],
        "generator_loop_lag_ms": [lag for result in generated for lag in result["loop_lag_ms"]],
    }
    common = common_figures(window, generated, len(samples))
    return {  # the keys in the order run.py has always written them
        **{key: common[key] for key in ("tasks", "tasks_per_second")},
        "master_completed_in_window": window.counted,
        **{key: distribution(values) for key, values in series.items()},
        **common,
    }


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each headline figure over the runs (each figure on its own)."""
    def med(pick: Any) -> float:
        return round(statistics.median(pick(run) for run in runs), 2)

    result: dict[str, Any] = {"tasks_per_second": med(lambda r: r["tasks_per_second"])}
    for key, _ in LATENCIES:
        result[key] = {q: med(lambda r, k=key, q=q: r[k][q]) for q in ("p50", "p95", "p99")}
    result["cpu_ms_per_task"] = {
        name: med(lambda r, n=name: r["cpu_ms_per_task"][n] or 0.0)
        for name in runs[0]["cpu_ms_per_task"]}
    result["cpu_cores_busy"] = {
        name: med(lambda r, n=name: r["cpu_cores_busy"][n]) for name in runs[0]["cpu_cores_busy"]}
    result["load_average"] = med(lambda r: r["load_average"])
    return result


def provenance() -> dict[str, Any]:
    """When, from which commit and on what a result was measured (its JSON's first keys)."""
    return {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
    }


def publish(doc: dict[str, Any], text: str, output_dir: Path, answered: bool, program: str,
            prefix: str = "") -> int:
    """Writes ``doc`` to <output_dir>/<prefix><UTC timestamp>.json, prints ``text``; the exit
    code: 1 when not every question was ``answered``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    stamp = doc["timestamp"].replace(":", "").replace("+0000", "Z")
    path = output_dir / f"{prefix}{stamp}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(text)
    print(f"\nwritten to {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    if not answered:
        print(f"{program}: the system did not answer every question (see errors above)",
              file=sys.stderr)
        return 1
    return 0


def answered_all(runs: Iterable[dict[str, Any]]) -> bool:
    """Whether every window had answers and no errors."""
    return all(run["tasks"] and not run["errors"] for run in runs)


def document(args: argparse.Namespace, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON written to bench/results/: what ran, where, and the figures."""
    median = median_of(runs)
    return {
        **provenance(),
        "params": {k: args.__dict__[k] for k in
                   ("worker", "workers", "sessions", "duration", "warmup", "generators",
                    "repeat")},
        "aims": {"tasks_per_second": AIM_TASKS_PER_SECOND,
                 "p99_overhead_ms": AIM_P99_OVERHEAD_MS,
                 # Judged only in the shape the aims were set for.
                 "met": (median["tasks_per_second"] >= AIM_TASKS_PER_SECOND
                         and median["overhead_ms"]["p99"] <= AIM_P99_OVERHEAD_MS)
                 if (args.workers, args.sessions) == AIM_SHAPE else None},
        "median": median,
        "runs": runs,
    }


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"], text=True,
                               capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def table(figs: dict[str, Any], generators: int) -> list[str]:
    """One window's (or the median's) figures as aligned text."""
    lines = [f"{'latency (ms)':32} {'p50':>8} {'p95':>8} {'p99':>8}"]
    for key, label in LATENCIES:
        d = figs[key]
        lines.append(f"{label:32} {d['p50']:8.1f} {d['p95']:8.1f} {d['p99']:8.1f}")
    lines += ["", f"{'CPU':32} {'ms/task':>8} {'cores':>8}"]
    for name, per_task in figs["cpu_ms_per_task"].items():
        shown = f"{per_task:8.3f}" if per_task is not None else f"{'-':>8}"
        lines.append(f"{name:32} {shown} {figs['cpu_cores_busy'][name]:8.2f}")
    busy = figs["cpu_cores_busy"]["load generator"] / generators
    if busy > GENERATOR_BUSY_WARNING:
        lines.append(f"warning: each load generator kept {busy:.0%} of a core busy; it may be "
                     "the bottleneck (try --generators 2)")
    lag = figs["generator_loop_lag_ms"]["p99"]
    if lag > GENERATOR_LAG_WARNING_MS:
        lines.append(f"warning: the load generator's event loop ran up to {lag:.0f} ms late "
                     "(p99): the client-side latencies include that; if its CPU is low, the "
                     "machine is overloaded (see the load average)")
    return lines


def report(doc: dict[str, Any]) -> str:
    p = doc["params"]
    lines = [f"{p['workers']} {p.get('worker', 'python')} workers, {p['sessions']} sessions, "
             f"{p['duration']:g} s measured after {p['warmup']:g} s warm-up, "
             f"{doc['machine']['cores']} cores"]
    for number, run in enumerate(doc["runs"], start=1):
        lines += ["", f"run {number}/{len(doc['runs'])}: {run['tasks_per_second']:.1f} tasks/s "
                      f"({run['tasks']} answers; the master counted "
                      f"{run['master_completed_in_window']}), load average "
                      f"{run['load_average']:.2f}, errors: {run['errors'] or 'none'}"]
        if len(doc["runs"]) == 1:
            lines += table(run, p["generators"])
    median = doc["median"]
    if len(doc["runs"]) > 1:
        lines += ["", f"median of {len(doc['runs'])} runs: {median['tasks_per_second']:.1f} "
                      f"tasks/s, load average {median['load_average']:.2f}"]
        lines += table(median, p["generators"])
    if doc["aims"]["met"] is not None:
        lines += ["", f"aims (>= {AIM_TASKS_PER_SECOND:g} tasks/s, p99 overhead <= "
                      f"{AIM_P99_OVERHEAD_MS:g} ms): {'met' if doc['aims']['met'] else 'not met'}"]
    return "\n".join(lines)


# --- one run ----------------------------------------------------------------------------

def bench_env() -> dict[str, str]:
    """The caller's environment minus API keys, with per-task logging off, the abuse limits
    off (closed-loop sessions ask as fast as they are answered, by design) and whole answers
    (no streamed chunks: the figures measure the question's path)."""
    env = {name: value for name, value in os.environ.items() if "_API_KEY" not in name}
    env.update(LLM_PROVIDER="offline", LOG_LEVEL="WARNING", MQTT_LOG_LEVEL="WARNING",
               SESSION_RATE_PER_MINUTE="0", ADDRESS_RATE_PER_MINUTE="0",
               MAX_PENDING_PER_SESSION="0", MAX_QUEUED="0", STREAM_ANSWERS="false")
    return env


def completed(system: LocalSystem) -> int:
    return int(system.status().get("tasks", {}).get("completed", 0))


# --- the two ways of timing a run: a window, or a fixed number of questions -------------

class Load(Protocol):
    """What asks the questions: loadgen.py's processes here, compare.py's Celery clients.
    ``results()`` gives one dict per process or pool, each with the ``last_answer_at`` of
    its answers (time.monotonic())."""

    def start_window(self, measure_from: float, measure_to: float) -> None: ...

    def results(self) -> list[dict[str, Any]]: ...


def no_count() -> int:
    """For a system that keeps no count of its own answers."""
    return 0


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def timed_window(load: Load, meter: CpuMeter, warmup: float, duration: float,
                 count: Callable[[], int] = no_count) -> tuple[Window, list[dict[str, Any]]]:
    """Ask without pause; measure from ``warmup`` seconds on, for ``duration`` seconds."""
    measure_from = time.monotonic() + warmup
    measure_to = measure_from + duration
    load.start_window(measure_from, measure_to)
    time.sleep(max(0.0, measure_from - time.monotonic()))
    meter.start()
    counted = count()
    time.sleep(max(0.0, measure_to - time.monotonic()))
    cpu, seconds = meter.stop()
    window = Window(seconds, cpu, count() - counted, load_average())
    return window, load.results()


def timed_questions(load: Load, meter: CpuMeter,
                    count: Callable[[], int] = no_count) -> tuple[Window, list[dict[str, Any]]]:
    """Ask the load's fixed number of questions from now; time it until the last answer."""
    meter.start()
    counted = count()
    started = time.monotonic()
    load.start_window(started, started + QUESTIONS_DEADLINE_SECONDS)
    generated = load.results()  # they report once their questions are answered
    cpu, seconds = meter.stop()
    last = max(result["last_answer_at"] for result in generated)
    # Up to the last answer, not to the reports (which follow it by a few milliseconds).
    window = Window(last - started if last > started else seconds, cpu, count() - counted,
                    load_average())
    return window, generated


def cpu_groups(system: LocalSystem, generators: Generators) -> dict[str, list[int]]:
    """The processes whose CPU is measured, by component."""
    assert system.master is not None and system.broker.process is not None
    groups = {
        "master": [system.master.pid],
        "workers (all)": [proc.pid for proc in system.workers.values()],
        "mosquitto": [system.broker.process.pid],
        "load generator": generators.pids,
    }
    return {name: [pid for pid in pids if pid is not None] for name, pids in groups.items()}


def measure(args: argparse.Namespace, system: LocalSystem,
            questions: int | None = None) -> dict[str, Any]:
    """One window of ``args.duration`` seconds after ``args.warmup``; or, with ``questions``,
    that many questions from a standing start, timed until the last answer."""
    generators = Generators(system.url, args.sessions, args.generators, questions)
    try:
        generators.wait_ready()
        meter = CpuMeter(cpu_groups(system, generators))
        count = functools.partial(completed, system)
        window, generated = (
            timed_window(generators, meter, args.warmup, args.duration, count)
            if questions is None else timed_questions(generators, meter, count))
        generators.wait()
    finally:
        generators.kill()
    return figures(window, generated)


def local_config(workers: int, worker: str = "python") -> LocalConfig:
    """The system as the benchmark runs it: free ports, no simulated work."""
    command, prefix = WORKER_KINDS[worker]
    return LocalConfig(workers=workers, web_port=free_port(), grpc_port=free_port(),
                       mqtt_port=free_port(), simulated_seconds=0, worker_command=command,
                       worker_prefix=prefix)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = local_config(args.workers, args.worker)
    print(f"Starting Mosquitto, the master and {args.workers} {args.worker} workers…",
          flush=True)
    runs: list[dict[str, Any]] = []
    try:
        with LocalSystem(config, base_env=bench_env()) as system:
            for number in range(1, args.repeat + 1):
                print(f"Run {number}/{args.repeat}: {args.sessions} sessions, {args.warmup:g} s "
                      f"warm-up, {args.duration:g} s measured…", flush=True)
                runs.append(measure(args, system))
    except StartupError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    doc = document(args, runs)
    return publish(doc, report(doc), args.output_dir, answered_all(runs), "bench")


if __name__ == "__main__":
    sys.exit(main())
