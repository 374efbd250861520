"""Fixtures for the model container: `train` and `serve` run as real processes, as SageMaker runs them.

The SageMaker paths are pointed at temporary directories through the standard environment variables,
and servers listen on a free port on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONTAINER = REPO / "container"
SAMPLE = CONTAINER / "local_test"
TRAINING = SAMPLE / "input" / "data" / "training"
VALIDATION = SAMPLE / "input" / "data" / "validation"
TEST_DATA = SAMPLE / "input" / "data" / "test"

if str(CONTAINER) not in sys.path:
    sys.path.insert(0, str(CONTAINER))

# Never through a proxy, whatever the environment says: these servers are on 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# Variables that would leak a developer's own settings into the processes under test.
_SCRUBBED = ("SM_", "SAGEMAKER_", "MODEL_SERVER_")


def clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
    # The scripts' shebang is `/usr/bin/env python3`: put this interpreter first on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(overrides)
    return env


@dataclass
class Job:
    """The directories of one training job, laid out as SageMaker's /opt/ml."""

    root: Path

    @property
    def training(self) -> Path:
        return self.root / "input" / "data" / "training"

    @property
    def validation(self) -> Path:
        return self.root / "input" / "data" / "validation"

    @property
    def config(self) -> Path:
        return self.root / "input" / "config"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def failure(self) -> Path:
        return self.output / "failure"

    def env(self) -> dict[str, str]:
        return clean_env(
            SM_CHANNEL_TRAINING=str(self.training),
            SM_CHANNEL_VALIDATION=str(self.validation),
            SM_INPUT_CONFIG_DIR=str(self.config),
            SM_MODEL_DIR=str(self.model),
            SM_OUTPUT_DIR=str(self.output),
            SM_OUTPUT_DATA_DIR=str(self.output / "data"),
        )

    def train(self, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([str(CONTAINER / "train")], env=self.env(), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)


def new_job(root: Path, validation: bool = True) -> Job:
    """A job with the sample training (and validation) data copied in."""
    job = Job(root)
    shutil.copytree(TRAINING, job.training)
    if validation:
        shutil.copytree(VALIDATION, job.validation)
    job.config.mkdir(parents=True)
    return job


@pytest.fixture
def job(tmp_path: Path) -> Job:
    return new_job(tmp_path / "ml")


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> Path:
    job = new_job(tmp_path_factory.mktemp("trained") / "ml")
    result = job.train()
    assert result.returncode == 0, result.stdout + result.stderr
    return job.model


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Response:
    status: int
    headers: Message  # case-insensitive
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


class Server:
    """`container/serve` as a process on 127.0.0.1."""

    def __init__(self, model_dir: Path, log_path: Path, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [str(CONTAINER / "serve")],
            env=clean_env(SM_MODEL_DIR=str(model_dir), SAGEMAKER_BIND_TO_PORT=str(self.port),
                          MODEL_SERVER_HOST="127.0.0.1", **env),
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 30) -> Response:
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                return Response(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.headers, error.read())

    def post(self, body: bytes | str, content_type: str | None = "text/csv", accept: str | None = None,
             **kwargs) -> Response:
        headers = {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if accept is not None:
            headers["Accept"] = accept
        if isinstance(body, str):
            body = body.encode()
        return self.request("POST", "/invocations", body, headers, **kwargs)

    def wait_listening(self, seconds: float = 60) -> None:
        """Until the port answers HTTP at all (any status)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                self.request("GET", "/ping", timeout=5)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        raise AssertionError(f"serve did not listen within {seconds} s:\n{self.log()}")

    def wait_ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        self.wait_listening(seconds)
        while time.monotonic() < deadline:
            if self.request("GET", "/ping").status == 200:
                return
            time.sleep(0.1)
        raise AssertionError(f"/ping did not turn 200 within {seconds} s:\n{self.log()}")

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


@pytest.fixture
def start_server(tmp_path: Path):
    """Factory: start_server(model_dir, **env) -> a Server; every server is stopped afterwards."""
    servers: list[Server] = []

    def start(model_dir: Path, **env: str) -> Server:
        server = Server(model_dir, tmp_path / f"serve-{len(servers)}.log", **env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def server(trained_model: Path, tmp_path_factory) -> Server:
    """One server on the trained sample model, shared by a module's request tests."""
    srv = Server(trained_model, tmp_path_factory.mktemp("serve") / "serve.log", MODEL_SERVER_WORKERS="2")
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()
