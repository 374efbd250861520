"""Benchmark: the offline preview's wall time with PYTHONDONTWRITEBYTECODE set, against a baseline run.

    .venv/bin/python -m tools.bench_preview                      # 5 runs each, stack dev, this Python
    .venv/bin/python -m tools.bench_preview --runs 3 --python /tmp/other-venv/bin/python
    .venv/bin/python -m tools.bench_preview --against main --stack dev --stack staging   # before/after

``--against REF`` compares two versions of the program instead (``tools/bench_against.py``): this
working tree against git ``REF``, same Python and environment, runs interleaved, per stack, plus the
import time of sagemaker-core alone; see there.

Runs ``python -m tools.preview --stack STACK`` (the whole preview, the policy pack's process included)
``--runs`` times with ``PYTHONDONTWRITEBYTECODE=1``, as many CI images set it, interleaved with as many
baseline runs, and prints each run, the medians of wall and CPU time and their ratios.

With the variable set, Python reads the ``.pyc`` files that are there but writes none, so every process
compiles whatever has none: ``pulumi_aws`` alone takes seconds. The baseline is Python with a warm
bytecode cache of its own: the variable unset and ``PYTHONPYCACHEPREFIX`` pointing to a scratch folder
(filled by one unmeasured run first), so baseline runs never leave ``.pyc`` files in the virtualenv
for the other runs to find. ``make`` installs with ``uv pip sync --compile-bytecode``, so the ratio is
about 1; a virtualenv installed without it (``uv pip sync --python <venv>/bin/python
requirements-dev.lock``) shows the cost.

Exit status: 0 when the wall median with the variable is under --target seconds, 1 when not, 2 when a
preview failed. On a shared machine wall times move with the load; CPU time and the ratios much less.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Timing:
    wall: float
    """Seconds from start to exit: what a person waits."""
    cpu: float
    """User + system CPU seconds of the preview and the processes it waited for (the policy pack's):
    compiling is CPU work, and this figure moves much less than wall time on a shared machine."""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(command: list[str], *, cwd: Path, env: dict[str, str]) -> Timing:
    """Run ``command`` once; RuntimeError with the end of its stderr when it fails."""
    cpu_before, started = _children_cpu(), time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            check=False)
    timing = Timing(wall=time.perf_counter() - started, cpu=_children_cpu() - cpu_before)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:])} failed (exit {result.returncode}): {result.stderr.strip()[-500:]}")
    return timing


def time_preview(python: str, stack: str, *, pycache_prefix: str | None) -> Timing:
    """One preview; ``pycache_prefix`` None: with PYTHONDONTWRITEBYTECODE=1, else the baseline."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    if pycache_prefix is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env["PYTHONPYCACHEPREFIX"] = pycache_prefix
    return time_command([python, "-m", "tools.preview", "--stack", stack], cwd=ROOT, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_preview",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="previews per variant (medians reported), 1-20")
    parser.add_argument("--stack", action="append", help="the stack to preview (repeatable; default dev)")
    parser.add_argument("--against", metavar="REF",
                        help="compare this working tree with git REF instead (runs interleaved, per stack)")
    parser.add_argument("--python", default=sys.executable,
                        help="the virtualenv's Python that runs the preview (default: this one)")
    parser.add_argument("--target", type=float, default=5.0, help="seconds the median with the variable must stay under")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 20:
        parser.error("keep --runs between 1 and 20")
    stacks = args.stack or ["dev"]
    if args.against:
        from tools.bench_against import compare

        return compare(args.against, stacks, runs=args.runs, python=args.python, target=args.target)
    if len(stacks) > 1:
        parser.error("give one --stack without --against")
    args.stack = stacks[0]

    with_label, base_label = "PYTHONDONTWRITEBYTECODE=1", "baseline (warm cache)"
    timings: dict[str, list[Timing]] = {with_label: [], base_label: []}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pycache-") as cache:
            warm_up = time_preview(args.python, args.stack, pycache_prefix=cache)
            print(f"{'warm-up (fills the cache)':<27}       {warm_up.wall:6.2f} s wall, {warm_up.cpu:6.2f} s CPU")
            for run in range(1, args.runs + 1):
                for label, prefix in ((with_label, None), (base_label, cache)):
                    timing = time_preview(args.python, args.stack, pycache_prefix=prefix)
                    timings[label].append(timing)
                    print(f"{label:<27} run {run}: {timing.wall:6.2f} s wall, {timing.cpu:6.2f} s CPU", flush=True)
    except RuntimeError as error:
        print(f"bench_preview: {error}", file=sys.stderr)
        return 2

    medians = {label: (statistics.median(t.wall for t in runs), statistics.median(t.cpu for t in runs))
               for label, runs in timings.items()}
    print()
    print(f"preview of {args.stack} with {args.python}, {args.runs} runs each (medians)")
    print(f"  {'':<27} {'wall':>8} {'CPU':>8}")
    for label in (with_label, base_label):
        print(f"  {label:<27} {medians[label][0]:7.2f}s {medians[label][1]:7.2f}s")
    print(f"  {'ratio':<27} {medians[with_label][0] / medians[base_label][0]:8.2f} "
          f"{medians[with_label][1] / medians[base_label][1]:8.2f}")
    met = medians[with_label][0] < args.target
    print(f"  target (wall median with the variable < {args.target:g} s): {'met' if met else 'not met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
