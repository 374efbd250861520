"""SageMaker training, batch transform and endpoints as local processes of the real model container.

`LocalContainer` is the `SageMakerModel` ``make run`` plugs into the embedded AWS. What SageMaker does
with a bring-your-own image, it does with ``container/train`` and ``container/serve`` run as processes
(the SageMaker paths come from the standard ``SM_*`` variables, see container/README.md):

- a training job downloads each input channel from the (embedded) S3 into ``input/data/<channel>``,
  writes ``hyperparameters.json``, runs ``train``, extracts the job's metric definitions from its log,
  and stores ``model.tar.gz`` at ``<S3OutputPath>/<job>/output/model.tar.gz``; a non-zero exit fails
  the job with the container's ``failure`` file as FailureReason (``AlgorithmError: ...``);
- a batch transform unpacks the model, starts ``serve``, sends each input object's records (split per
  line, ``InputFilter`` applied) to ``/invocations`` and writes ``<object>.out`` with ``JoinSource`` and
  ``OutputFilter`` applied, as SageMaker's data processing does;
- a baseline processing job (Model Monitor's analyzer on AWS) writes ``statistics.json`` and
  ``constraints.json`` computed by the stand-in analyzer ``tools.localaws.baseline``;
- an endpoint is ``serve`` on a free 127.0.0.1 port: Creating / Updating until ``/ping`` answers, then
  InService (an update keeps the old server answering until the new one is ready); InvokeEndpoint is
  forwarded to it, and a model's 4xx / 5xx becomes sagemaker-runtime's ``ModelError``.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3

from tools.localaws.baseline import run_baseline_job
from tools.localaws.emulator import REPO_ROOT, SageMakerModel, runtime_error

CONTAINER_DIR = REPO_ROOT / "container"
READY_TIMEOUT_SECONDS = 60
FAILURE_REASON_LIMIT = 1024

__all__ = ["LocalContainer", "ModelServer", "csv_filter", "free_port"]

Progress = Callable[[str, str, int, int, str], None]
"""(kind, job or endpoint name, step, steps, what is happening) - for a progress bar."""


class JobFailed(Exception):
    """A job ended Failed; the message is its FailureReason."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def csv_filter(expression: str, cells: list[str]) -> list[str]:
    """A SageMaker data-processing JSONPath applied to one CSV record: ``$``, ``$[i]``, ``$[i:j]``, ``$[i,j,...]``.

    Those are the forms SageMaker documents for CSV (indices may be negative). Anything else is refused
    with the reason, as SageMaker would fail the job.
    """
    expression = expression.strip()
    if expression == "$":
        return list(cells)
    match = re.fullmatch(r"\$\[(.*)\]", expression)
    if not match:
        raise ValueError(f"unsupported CSV filter {expression!r}: use $, $[i], $[i:j] or $[i,j,...]")
    inner = match.group(1).replace(" ", "")
    try:
        if ":" in inner:
            start, _, stop = inner.partition(":")
            return cells[int(start) if start else None:int(stop) if stop else None]
        picked = []
        for index in inner.split(","):
            position = int(index)
            if not -len(cells) <= position < len(cells):
                raise ValueError(f"filter {expression!r} selects column {position} of a record with {len(cells)} columns")
            picked.append(cells[position])
        return picked
    except ValueError as exc:
        if "selects column" in str(exc):
            raise
        raise ValueError(f"unsupported CSV filter {expression!r}: use $, $[i], $[i:j] or $[i,j,...]") from None


def _s3() -> Any:
    # A session per call: boto3's default session is not thread-safe, and jobs run in worker threads.
    return boto3.session.Session().client("s3")


def _split(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


def _download_prefix(uri: str, target: Path) -> int:
    """Every object under the S3 prefix `uri`, into `target` with the key's path below the prefix."""
    bucket, prefix = _split(uri)
    s3, count = _s3(), 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith("/"):
                continue
            relative = obj["Key"][len(prefix):].lstrip("/") or obj["Key"].rsplit("/", 1)[-1]
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            count += 1
    return count


def _unpack_model(model_data_url: str, target: Path) -> None:
    bucket, key = _split(model_data_url)
    body = _s3().get_object(Bucket=bucket, Key=key)["Body"].read()
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        archive.extractall(target, filter="data")


class ModelServer:
    """``container/serve`` as a process on 127.0.0.1, one worker (the container's own server)."""

    def __init__(self, model_dir: Path, log_path: Path, base_env: Mapping[str, str], python: str, port: int | None = None):
        self.model_dir, self.log_path = model_dir, log_path
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**base_env, "SM_MODEL_DIR": str(model_dir), "SAGEMAKER_BIND_TO_PORT": str(self.port),
               "MODEL_SERVER_HOST": "127.0.0.1", "MODEL_SERVER_WORKERS": "1", "MODEL_SERVER_USER": ""}
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab")
        self.process = subprocess.Popen([python, str(CONTAINER_DIR / "serve")], env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise JobFailed(f"the model server exited with code {self.process.returncode} before it was ready: {self.log_tail()}")
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise JobFailed(f"the model server did not answer /ping within {timeout:.0f} s: {self.log_tail()}")
            time.sleep(0.2)

    def invoke(self, body: bytes, content_type: str, accept: str, timeout: float = 60) -> tuple[int, str, bytes]:
        request = urllib.request.Request(f"{self.url}/invocations", data=body, method="POST",
                                         headers={"Content-Type": content_type or "text/csv", **({"Accept": accept} if accept else {})})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return answer.status, answer.headers.get("Content-Type", ""), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Content-Type", ""), error.read()

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@dataclass
class _Deployment:
    config_name: str
    server: ModelServer | None = None
    future: Future | None = None


class LocalContainer(SageMakerModel):
    """SageMaker jobs and endpoints run by the model container as local processes (module docstring)."""

    def __init__(self, workdir: Path, *, python: str = sys.executable, progress: Progress | None = None):
        super().__init__()
        self.workdir = workdir
        self.python = python
        self.progress = progress or (lambda *args: None)
        self._base_env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "SAGEMAKER_", "MODEL_SERVER_"))}
        self._executor = ThreadPoolExecutor(max_workers=3, thread_name_prefix="sagemaker")
        self._jobs: dict[tuple[str, str], Future] = {}
        self._requests: dict[tuple[str, str], Mapping[str, Any]] = {}
        self.endpoints: dict[str, ModelServer] = {}
        self._pending: dict[str, _Deployment] = {}

    # jobs --------------------------------------------------------------------------------
    def job_created(self, kind: str, name: str, request: Mapping[str, Any] | None = None) -> None:
        super().job_created(kind, name)
        job = self.job(kind, name)
        if kind == "training" and request:
            # moto replaces the job's metric definitions with a sample of its own: keep the request's.
            job.algorithm_specification["MetricDefinitions"] = list(request.get("AlgorithmSpecification", {}).get("MetricDefinitions", []))
        work = {"training": self._train, "transform": self._transform, "processing": self._baseline}[kind]
        self._jobs[(kind, name)] = self._executor.submit(work, name)

    def poll_job(self, kind: str, name: str) -> None:
        future = self._jobs.get((kind, name))
        job = self.job(kind, name)
        if future is None or not future.done() or getattr(job, f"{kind}_job_status") != "InProgress":
            return
        now = datetime.now(tz=UTC)
        try:
            future.result()
        except JobFailed as failure:
            job.failure_reason = str(failure)[:FAILURE_REASON_LIMIT]
            setattr(job, f"{kind}_job_status", "Failed")
        except Exception as error:  # noqa: BLE001 - any local problem fails the job with its reason, as SageMaker would
            job.failure_reason = f"InternalServerError: {type(error).__name__}: {error}"[:FAILURE_REASON_LIMIT]
            setattr(job, f"{kind}_job_status", "Failed")
        else:
            setattr(job, f"{kind}_job_status", "Completed")
        if kind == "training":
            job.secondary_status = job.training_job_status
            job.training_end_time = now
        elif kind == "transform":
            job.transform_end_time = now
        else:
            job.processing_end_time = now
        job.last_modified_time = now

    def _train(self, name: str) -> None:
        job = self.job("training", name)
        root = self.workdir / "training" / name
        shutil.rmtree(root, ignore_errors=True)
        channels = job.input_data_config or []
        steps = len(channels) + 3
        env = dict(self._base_env)
        for step, channel in enumerate(channels, start=1):
            channel_name = channel["ChannelName"]
            self.progress("training", name, step, steps, f"downloading channel {channel_name}")
            target = root / "input" / "data" / channel_name
            target.mkdir(parents=True, exist_ok=True)
            uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
            if _download_prefix(uri, target) == 0:
                raise JobFailed(f"ClientError: No S3 objects found under S3 URL \"{uri}\" given in input data source. "
                                f"Please ensure that the bucket exists in the selected region, that objects exist under that S3 prefix, "
                                f"and that the role has s3:ListBucket permissions on the bucket.")
            env[f"SM_CHANNEL_{channel_name.upper()}"] = str(target)
        config_dir, model_dir, output_dir = root / "input" / "config", root / "model", root / "output"
        for folder in (config_dir, model_dir, output_dir):
            folder.mkdir(parents=True, exist_ok=True)
        (config_dir / "hyperparameters.json").write_text(json.dumps(job.hyper_parameters or {}))
        env.update(SM_INPUT_CONFIG_DIR=str(config_dir), SM_MODEL_DIR=str(model_dir), SM_OUTPUT_DIR=str(output_dir),
                   SM_OUTPUT_DATA_DIR=str(output_dir / "data"))

        self.progress("training", name, len(channels) + 1, steps, "running container/train")
        timeout = (job.stopping_condition or {}).get("MaxRuntimeInSeconds", 3600)
        log_path = root / "train.log"
        try:
            with log_path.open("wb") as log:
                result = subprocess.run([self.python, str(CONTAINER_DIR / "train")], env=env, stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise JobFailed(f"MaxRuntimeExceeded: training ran longer than {timeout} seconds") from None
        log_text = log_path.read_text(errors="replace")
        if result.returncode != 0:
            failure_file = output_dir / "failure"
            reason = failure_file.read_text(errors="replace").strip() if failure_file.is_file() else ""
            raise JobFailed(f"AlgorithmError: {reason or f'train exited with code {result.returncode}; see {log_path}'}")
        job.final_metric_data_list = _metrics(job.algorithm_specification.get("MetricDefinitions", []), log_text)

        self.progress("training", name, steps - 1, steps, "packaging model.tar.gz")
        bucket, key = _split(job.model_artifacts["S3ModelArtifacts"])
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for path in sorted(model_dir.rglob("*")):
                archive.add(path, arcname=path.relative_to(model_dir).as_posix(), recursive=False)
        _s3().put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
        self.progress("training", name, steps, steps, f"stored s3://{bucket}/{key}")

    def _baseline(self, name: str) -> None:
        self.progress("processing", name, 0, 1, "baselining the training data")
        try:
            target = run_baseline_job(self.job("processing", name), _s3())
        except ValueError as error:
            raise JobFailed(str(error)) from None
        self.progress("processing", name, 1, 1, f"stored {target}/statistics.json and constraints.json")

    def _transform(self, name: str) -> None:
        job = self.job("transform", name)
        root = self.workdir / "transform" / name
        shutil.rmtree(root, ignore_errors=True)
        model = self.backend._models.get(job.model_name)
        if model is None:
            raise JobFailed(f"ClientError: Could not find model \"{job.model_name}\".")
        _unpack_model(model.primary_container["ModelDataUrl"], root / "model")
        processing = job.data_processing or {}
        input_filter, output_filter = processing.get("InputFilter", "$"), processing.get("OutputFilter", "$")
        join_input = processing.get("JoinSource", "None") == "Input"
        if (job.transform_input or {}).get("SplitType", "None") != "Line":
            raise JobFailed("ClientError: the local transform splits records by line only (SplitType Line)")
        server = ModelServer(root / "model", root / "serve.log", self._base_env, self.python)
        try:
            server.wait_ready()
            source_bucket, source_prefix = _split(job.transform_input["DataSource"]["S3DataSource"]["S3Uri"])
            target_bucket, target_prefix = _split(job.transform_output["S3OutputPath"])
            s3 = _s3()
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=source_bucket, Prefix=source_prefix):
                for obj in page.get("Contents", []):
                    if obj["Key"].endswith("/"):
                        continue
                    text = s3.get_object(Bucket=source_bucket, Key=obj["Key"])["Body"].read().decode("utf-8")
                    records = [line.split(",") for line in text.splitlines() if line.strip()]
                    try:
                        sent = [csv_filter(input_filter, cells) for cells in records]
                    except ValueError as exc:
                        raise JobFailed(f"ClientError: {exc}") from None
                    status, _, answer = server.invoke("\n".join(",".join(cells) for cells in sent).encode(), "text/csv", "text/csv")
                    if status != 200:
                        raise JobFailed(f"ClientError: the model answered {status} for s3://{source_bucket}/{obj['Key']}: "
                                        f"{answer.decode(errors='replace')[:300]}")
                    predictions = answer.decode().splitlines()
                    if len(predictions) != len(records):
                        raise JobFailed(f"ClientError: {len(predictions)} predictions for {len(records)} records of s3://{source_bucket}/{obj['Key']}")
                    lines = []
                    for cells, prediction in zip(records, predictions, strict=True):
                        joined = [*cells, *prediction.split(",")] if join_input else prediction.split(",")
                        lines.append(",".join(csv_filter(output_filter, joined)))
                    key = f"{target_prefix.rstrip('/')}/{obj['Key'].rsplit('/', 1)[-1]}.out"
                    s3.put_object(Bucket=target_bucket, Key=key, Body=("\n".join(lines) + "\n").encode())
        finally:
            server.stop()

    # endpoints ---------------------------------------------------------------------------
    def endpoint_changing(self, name: str, status: str) -> None:
        super().endpoint_changing(name, status)
        endpoint = self.backend.endpoints[name]
        deployment = _Deployment(config_name=endpoint.endpoint_config_name)
        deployment.future = self._executor.submit(self._start_endpoint, name, deployment)
        with self.lock:
            self._pending[name] = deployment

    def _start_endpoint(self, name: str, deployment: _Deployment) -> None:
        config = self.backend.endpoint_configs[deployment.config_name]
        variant = config.production_variants[0]
        model = self.backend._models[variant["ModelName"]]
        root = self.workdir / "endpoints" / name / deployment.config_name
        shutil.rmtree(root, ignore_errors=True)
        self.progress("endpoint", name, 1, 3, "unpacking the model")
        _unpack_model(model.primary_container["ModelDataUrl"], root / "model")
        self.progress("endpoint", name, 2, 3, "starting container/serve")
        deployment.server = ModelServer(root / "model", root / "serve.log", self._base_env, self.python)
        deployment.server.wait_ready()
        self.progress("endpoint", name, 3, 3, f"serving on {deployment.server.url}")

    def advance_endpoint(self, name: str) -> None:
        with self.lock:
            deployment = self._pending.get(name)
            if deployment is None or deployment.future is None or not deployment.future.done():
                return
            del self._pending[name]
            endpoint = self.backend.endpoints[name]
            try:
                deployment.future.result()
            except Exception as error:  # noqa: BLE001 - the endpoint fails with the reason, as SageMaker reports it
                if deployment.server is not None:
                    deployment.server.stop()
                endpoint.endpoint_status = "Failed"
                endpoint.failure_reason = f"The primary container for production variant AllTraffic did not pass the ping health check. {error}"[:FAILURE_REASON_LIMIT]  # type: ignore[assignment]  # moto types it None
                return
            previous = self.endpoints.get(name)
            assert deployment.server is not None
            self.endpoints[name] = deployment.server
            if previous is not None:
                previous.stop()
            endpoint.endpoint_status = "InService"

    def invoke(self, endpoint_name: str, body: bytes, content_type: str, accept: str) -> tuple[int, dict[str, str], bytes]:
        refusal = self.not_in_service(endpoint_name)
        server = self.endpoints.get(endpoint_name)
        if refusal or server is None:
            return refusal or runtime_error(400, "ValidationException", f"Endpoint {endpoint_name} has no local model server.")
        status, answer_type, answer = server.invoke(body, content_type, accept)
        if status != 200:
            return runtime_error(424, "ModelError", f"Received client error ({status}) from primary with message \"{answer.decode(errors='replace')[:500]}\".",
                                 OriginalStatusCode=status, OriginalMessage=answer.decode(errors="replace")[:500])
        return 200, {"Content-Type": answer_type, "x-Amzn-Invoked-Production-Variant": "AllTraffic"}, answer

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self.lock:
            servers = list(self.endpoints.values()) + [d.server for d in self._pending.values() if d.server]
            self.endpoints.clear()
            self._pending.clear()
        for server in servers:
            server.stop()


def _metrics(definitions: list[Mapping[str, str]], log_text: str) -> list[dict[str, Any]]:
    """FinalMetricDataList: the last value each metric definition's regex finds in the log."""
    found = []
    for definition in definitions:
        values = re.findall(definition["Regex"], log_text)
        if values:
            found.append({"MetricName": definition["Name"], "Value": float(values[-1]), "Timestamp": datetime.now(tz=UTC)})
    return found

