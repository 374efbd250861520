"""Before/after benchmark: the offline preview of this working tree against a git ref of the project.

    .venv/bin/python -m tools.bench_preview --against main --stack dev --stack staging --runs 5

Extracts ``REF`` with ``git archive`` into a scratch folder (the repository and its worktrees are not
touched), runs one unmeasured preview per tree and stack first (each tree compiles its own modules'
bytecode once, as on any machine), then ``--runs`` rounds of, per stack, the ref's preview and this
tree's, interleaved so that the machine's load weighs on both alike. Both use the same Python (and so
the same installed packages) and the environment as it is. Last, as many runs of the import of
sagemaker-core's ``image_uris`` alone (``python -c "import sagemaker.core.image_uris"``, against
``python -c pass``): what a preview pays when it asks sagemaker-core for an image URI.

Prints each run, then per stack the medians of wall and CPU time and the ratio this tree / ``REF``.
Exit status: 0 when every stack's wall median of this tree is under ``--target`` seconds, 1 when not,
2 when a preview failed or ``REF`` cannot be extracted.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from tools.bench_preview import ROOT, Timing, time_command

IMPORT_PROBE = "import sagemaker.core.image_uris"


def extract(ref: str, into: Path) -> Path:
    """The tracked files of ``ref`` in ``into`` (ValueError when git cannot give them)."""
    archive = into / "ref.tar"
    result = subprocess.run(["git", "archive", "--format=tar", f"--output={archive}", ref], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ValueError(f"git archive {ref}: {result.stderr.strip()}")
    tree = into / "tree"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    archive.unlink()
    return tree


def _median(timings: list[Timing]) -> tuple[float, float]:
    return statistics.median(t.wall for t in timings), statistics.median(t.cpu for t in timings)


def compare(ref: str, stacks: list[str], *, runs: int, python: str, target: float) -> int:
    env = dict(os.environ)
    this = f"this tree ({ROOT.name})"
    results: dict[tuple[str, str], list[Timing]] = {}
    imports: dict[str, list[Timing]] = {"pass": [], IMPORT_PROBE: []}
    """Python code -> its runs (``python -c CODE``)."""
    try:
        with tempfile.TemporaryDirectory(prefix="bench-against-") as scratch:
            trees = {f"{ref} (git archive)": extract(ref, Path(scratch)), this: ROOT}

            def preview(label: str, stack: str) -> Timing:
                return time_command([python, "-m", "tools.preview", "--stack", stack], cwd=trees[label], env=env)

            for stack in stacks:
                for label in trees:
                    warm = preview(label, stack)
                    print(f"warm-up {stack:<8} {label:<32} {warm.wall:6.2f} s wall, {warm.cpu:6.2f} s CPU", flush=True)
            for run in range(1, runs + 1):
                for stack in stacks:
                    for label in trees:
                        timing = preview(label, stack)
                        results.setdefault((stack, label), []).append(timing)
                        print(f"run {run} {stack:<8} {label:<32} {timing.wall:6.2f} s wall, {timing.cpu:6.2f} s CPU",
                              flush=True)
            for _ in range(runs):
                for code, timings in imports.items():
                    timings.append(time_command([python, "-c", code], cwd=ROOT, env=env))
    except (RuntimeError, ValueError) as error:
        print(f"bench_preview: {error}", file=sys.stderr)
        return 2

    before = next(label for label in trees if label != this)
    print()
    print(f"preview medians of {runs} runs each with {python}")
    print(f"  {'stack':<8} {'tree':<32} {'wall':>8} {'CPU':>8}")
    met = True
    for stack in stacks:
        medians = {label: _median(results[(stack, label)]) for label in (before, this)}
        for label, (wall, cpu) in medians.items():
            print(f"  {stack:<8} {label:<32} {wall:7.2f}s {cpu:7.2f}s")
        print(f"  {stack:<8} {'ratio this / ' + ref:<32} {medians[this][0] / medians[before][0]:8.2f} "
              f"{medians[this][1] / medians[before][1]:8.2f}")
        met = met and medians[this][0] < target
    bare, probe = _median(imports["pass"]), _median(imports[IMPORT_PROBE])
    print(f"  import of sagemaker-core's image_uris alone: {probe[0] - bare[0]:.2f} s wall, "
          f"{probe[1] - bare[1]:.2f} s CPU (medians, minus a bare interpreter's {bare[0]:.2f} s)")
    print(f"  target (wall median of this tree < {target:g} s on every stack): {'met' if met else 'not met'}")
    return 0 if met else 1
