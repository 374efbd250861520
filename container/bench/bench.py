"""Benchmark: the model server against the classic Flask + pandas predictor, in one command.

    apt-get install -y wrk                                        # the load generator (Debian package)
    .venv/bin/pip install -r container/bench/requirements.txt     # flask and pandas, for the baseline only
    .venv/bin/python container/bench/bench.py

What it does, all on 127.0.0.1 and bounded in time (about 2.5 minutes with the defaults):

1. trains a model on the sample data by running `container/train` as a process;
2. starts `container/serve` with its production worker setup (the defaults: one asgi worker per CPU)
   and the baseline (`baseline.py`: Flask under sync gunicorn with one worker per CPU, as the classic
   sample ran it), both on the same model file, and checks they answer the same 1,000 records alike;
3. drives each with the same wrk command at --connections concurrent connections, for one record per
   request and 1,000 records per request: a short warm-up, then --duration seconds measured;
4. repeats that --runs times, interleaving the two servers, and prints the medians: requests/s,
   records/s, p50 and p99 latency, the ratios against the baseline, and whether the targets are met.

Exit status: 0 when every target is met, 1 when one is not, 2 when the benchmark could not run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
CONTAINER = BENCH.parent
SAMPLE = CONTAINER / "local_test"
PYTHON = sys.executable

# Targets from the issue, at 8 concurrent connections.
TARGET_RPS_RATIO_1 = 5.0  # requests/s, one record per request
TARGET_RECORDS_RATIO_1000 = 3.0  # records/s, 1,000 records per request
TARGET_P99_MS_1 = 20.0  # p99 latency, one record per request

WRK_SCRIPT = r"""
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "text/csv"
wrk.headers["Accept"] = "text/csv"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


# Loopback only: never through a proxy, whatever the environment says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))


def post(url: str, body: bytes) -> bytes:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "text/csv"})
    with _OPENER.open(request, timeout=30) as response:
        return response.read()


class Server:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, log_path: Path):
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(argv, env={**os.environ, **env}, stdout=self.log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_ready(self, seconds: float = 60.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log.name}")
            try:
                with _OPENER.open(self.url + "/ping", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer /ping within {seconds:.0f} s; see {self.log.name}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def run_wrk(url: str, body_file: Path, script: Path, connections: int, threads: int, seconds: int) -> dict:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script),
            url + "/invocations"]
    completed = subprocess.run(argv, env={**os.environ, "BENCH_BODY_FILE": str(body_file)}, capture_output=True,
                               text=True, timeout=seconds + 60)
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line.split(" ", 1)[1])
    raise RuntimeError(f"wrk printed no result (exit {completed.returncode}):\n{completed.stdout}{completed.stderr}")


def summarise(result: dict, records_per_request: int) -> dict:
    seconds = result["duration_us"] / 1e6
    rps = result["requests"] / seconds
    return {
        "requests_per_s": rps,
        "records_per_s": rps * records_per_request,
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "errors": sum(result["errors"].values()),
    }


def train_model(work: Path) -> Path:
    env = {
        **os.environ,
        "SM_CHANNEL_TRAINING": str(SAMPLE / "input" / "data" / "training"),
        "SM_CHANNEL_VALIDATION": str(SAMPLE / "input" / "data" / "validation"),
        "SM_INPUT_CONFIG_DIR": str(SAMPLE / "input" / "config"),
        "SM_MODEL_DIR": str(work / "model"),
        "SM_OUTPUT_DIR": str(work / "output"),
    }
    completed = subprocess.run([PYTHON, str(CONTAINER / "train")], env=env, capture_output=True, text=True,
                               timeout=120)
    if completed.returncode != 0:
        raise RuntimeError(f"train failed ({completed.returncode}):\n{completed.stdout}{completed.stderr}")
    return work / "model"


def check_prerequisites() -> str | None:
    if shutil.which("wrk") is None:
        return "wrk is not installed: apt-get install -y wrk"
    missing = []
    for module in ("flask", "pandas"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        return (f"{' and '.join(missing)} missing for the baseline: "
                f"{PYTHON} -m pip install -r {BENCH / 'requirements.txt'}")
    return None


def fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="measurements per server and case (medians reported)")
    parser.add_argument("--duration", type=int, default=10, help="seconds measured per wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load before each run")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--json", type=Path, help="also write every measurement and the medians to this file")
    args = parser.parse_args(argv)
    if not (1 <= args.runs <= 10 and 1 <= args.duration <= 60 and 0 <= args.warmup <= 10
            and 1 <= args.connections <= 64 and 1 <= args.threads <= args.connections):
        parser.error("keep --runs 1-10, --duration 1-60, --warmup 0-10, --connections 1-64, --threads <= connections")

    problem = check_prerequisites()
    if problem:
        print(f"bench: {problem}", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="model-bench-"))
    servers: list[Server] = []
    try:
        model_dir = train_model(work)
        payload = (SAMPLE / "payload.csv").read_text(encoding="utf-8").splitlines()
        cases = {1: payload[:1], 1000: list(itertools.islice(itertools.cycle(payload), 1000))}
        bodies = {}
        for size, lines in cases.items():
            bodies[size] = work / f"body_{size}.csv"
            bodies[size].write_text("\n".join(lines) + "\n", encoding="utf-8")
        script = work / "post.lua"
        script.write_text(WRK_SCRIPT, encoding="utf-8")

        workers = cpu_count()
        ours = Server("model server", [PYTHON, str(CONTAINER / "serve")], {
            "SM_MODEL_DIR": str(model_dir), "SAGEMAKER_BIND_TO_PORT": str(port := free_port()),
            "MODEL_SERVER_HOST": "127.0.0.1"}, port, work / "serve.log")
        servers.append(ours)
        baseline = Server("baseline", [
            PYTHON, "-m", "gunicorn", "--worker-class", "sync", "--workers", str(workers), "--timeout", "60",
            "--no-control-socket", "--bind", f"127.0.0.1:{(bport := free_port())}", "--chdir", str(BENCH),
            "baseline:app"], {"SM_MODEL_DIR": str(model_dir)}, bport, work / "baseline.log")
        servers.append(baseline)
        for server in servers:
            server.wait_ready()
        expected = post(baseline.url + "/invocations", bodies[1000].read_bytes()).decode().split()
        got = post(ours.url + "/invocations", bodies[1000].read_bytes()).decode().split()
        if got != expected:
            raise RuntimeError("the model server and the baseline disagree on the 1,000-record payload")

        print(f"{workers} CPU(s); model server: {workers} asgi workers (keep-alive); baseline: {workers} sync "
              f"workers (connection closed after each response); wrk -t{args.threads} "
              f"-c{args.connections}, {args.duration:g} s measured after {args.warmup:g} s warm-up, "
              f"{args.runs} run(s)", flush=True)
        measurements: dict[str, dict[int, list[dict]]] = {s.name: {size: [] for size in cases} for s in servers}
        for run in range(1, args.runs + 1):
            for size in cases:
                for server in (servers if run % 2 else servers[::-1]):
                    if args.warmup:
                        run_wrk(server.url, bodies[size], script, args.connections, args.threads, args.warmup)
                    result = summarise(run_wrk(server.url, bodies[size], script, args.connections, args.threads,
                                               args.duration), size)
                    measurements[server.name][size].append(result)
                    print(f"  run {run} {server.name:>12} {size:>5} record(s)/request: "
                          f"{fmt(result['requests_per_s'])} req/s, {fmt(result['records_per_s'])} records/s, "
                          f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, "
                          f"errors {result['errors']}", flush=True)

        medians = {name: {size: {key: statistics.median(m[key] for m in runs) for key in runs[0]}
                          for size, runs in by_size.items()} for name, by_size in measurements.items()}
        print()
        print(f"medians of {args.runs} run(s) at {args.connections} connections")
        print(f"{'records/request':>15} {'server':>12} {'requests/s':>11} {'records/s':>11} {'p50 ms':>7} "
              f"{'p99 ms':>7} {'errors':>6}")
        for size in cases:
            for server in servers:
                m = medians[server.name][size]
                print(f"{size:>15} {server.name:>12} {fmt(m['requests_per_s']):>11} {fmt(m['records_per_s']):>11} "
                      f"{m['p50_ms']:>7.2f} {m['p99_ms']:>7.2f} {m['errors']:>6.0f}")
        ours_m, base_m = medians[ours.name], medians[baseline.name]
        ratio_rps_1 = ours_m[1]["requests_per_s"] / base_m[1]["requests_per_s"]
        ratio_records_1000 = ours_m[1000]["records_per_s"] / base_m[1000]["records_per_s"]
        p99_1 = ours_m[1]["p99_ms"]
        our_errors = sum(m["errors"] for runs in measurements[ours.name].values() for m in runs)
        checks = [
            (f"requests/s at 1 record/request: {ratio_rps_1:.1f}x the baseline (target >= {TARGET_RPS_RATIO_1:g}x)",
             ratio_rps_1 >= TARGET_RPS_RATIO_1),
            (f"records/s at 1,000 records/request: {ratio_records_1000:.1f}x the baseline "
             f"(target >= {TARGET_RECORDS_RATIO_1000:g}x)", ratio_records_1000 >= TARGET_RECORDS_RATIO_1000),
            (f"p99 at 1 record/request: {p99_1:.2f} ms (target < {TARGET_P99_MS_1:g} ms)", p99_1 < TARGET_P99_MS_1),
            (f"errors in the model server's runs: {our_errors} (target 0)", our_errors == 0),
        ]
        print()
        for text, ok in checks:
            print(f"{'PASS' if ok else 'FAIL'}  {text}")
        if args.json:
            args.json.write_text(json.dumps({"settings": vars(args) | {"json": str(args.json), "cpus": workers},
                                             "measurements": measurements, "medians": medians,
                                             "ratios": {"requests_per_s_1": ratio_rps_1,
                                                        "records_per_s_1000": ratio_records_1000}},
                                            indent=2, default=str) + "\n", encoding="utf-8")
        return 0 if all(ok for _, ok in checks) else 1
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
