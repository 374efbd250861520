"""`serve` as a process: the SageMaker inference contract, every bad request, loading and shutdown."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import CONTAINER, SAMPLE, TEST_DATA, Response, Server, clean_env, new_job

pytestmark = pytest.mark.slow

SETOSA = "5.1,3.5,1.4,0.2"
LIMIT = 6 * 1024 * 1024
RECORD_16_BYTES = b"5.1,3.5,1.4,0.2\n"


def assert_healthy(server: Server) -> None:
    assert server.request("GET", "/ping").status == 200
    assert server.post(SETOSA).text == "setosa\n"


# --- the contract -------------------------------------------------------------------------------------


def test_ping_is_200_once_the_model_is_loaded(server: Server):
    response = server.request("GET", "/ping")
    assert response.status == 200
    assert json.loads(response.body)["classes"] == ["setosa", "versicolor", "virginica"]


def test_one_csv_record_is_setosa(server: Server):
    response = server.post(SETOSA)
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv"
    assert response.text == "setosa\n"


def test_csv_content_type_parameters_are_accepted(server: Server):
    assert server.post(SETOSA, content_type="text/csv; charset=utf-8").text == "setosa\n"
    assert server.post(SETOSA, content_type="Text/CSV;charset=UTF-8").text == "setosa\n"


def test_many_csv_records_answer_one_label_per_line_in_order(server: Server):
    payload = (SAMPLE / "payload.csv").read_bytes()
    response = server.post(payload)
    assert response.status == 200
    predictions = response.text.splitlines()
    truth = [line.split(",", 1)[0] for line in (TEST_DATA / "iris_test.csv").read_text().splitlines()]
    assert len(predictions) == len(truth) == 30
    assert sum(p == t for p, t in zip(predictions, truth, strict=True)) >= 27


def test_a_batch_of_1000_records(server: Server):
    response = server.post(RECORD_16_BYTES * 1000)
    assert response.status == 200
    assert response.text.splitlines() == ["setosa"] * 1000


def test_json_answer_for_csv_request(server: Server):
    response = server.post(f"{SETOSA}\n6.5,3,5.8,2.2\n", accept="application/json")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body) == {"predictions": ["setosa", "virginica"]}


@pytest.mark.parametrize("body", [
    {"instances": [[5.1, 3.5, 1.4, 0.2], [6.5, 3, 5.8, 2.2]]},
    [[5.1, 3.5, 1.4, 0.2], [6.5, 3, 5.8, 2.2]],
])
def test_json_requests(server: Server, body):
    response = server.post(json.dumps(body), content_type="application/json")
    assert response.status == 200
    assert json.loads(response.body) == {"predictions": ["setosa", "virginica"]}


def test_json_single_record(server: Server):
    response = server.post("[5.1, 3.5, 1.4, 0.2]", content_type="application/json")
    assert json.loads(response.body) == {"predictions": ["setosa"]}


def test_csv_answer_for_json_request(server: Server):
    response = server.post('{"instances": [[5.1, 3.5, 1.4, 0.2]]}', content_type="application/json",
                           accept="text/csv")
    assert response.headers["Content-Type"] == "text/csv"
    assert response.text == "setosa\n"


def test_execution_parameters_for_batch_transform(server: Server):
    response = server.request("GET", "/execution-parameters")
    assert response.status == 200
    assert json.loads(response.body) == {"MaxConcurrentTransforms": 2, "BatchStrategy": "MULTI_RECORD",
                                         "MaxPayloadInMB": 6}


def test_a_body_of_exactly_the_limit_is_accepted(server: Server):
    body = RECORD_16_BYTES * (LIMIT // len(RECORD_16_BYTES))
    assert len(body) == LIMIT
    response = server.post(body, timeout=60)
    assert response.status == 200
    assert response.text.count("\n") == LIMIT // 16


# --- bad requests: a 4xx that says what was wrong, never a 500 ----------------------------------------


def assert_rejected(response, status: int, *phrases: str) -> None:
    assert response.status == status, (response.status, response.text)
    assert response.headers["Content-Type"].startswith("text/plain")
    for phrase in phrases:
        assert phrase in response.text, response.text


def test_wrong_column_count_csv(server: Server):
    assert_rejected(server.post("1,2,3\n"), 400, "wrong column count", "CSV line 1 has 3 values",
                    "expects 4 features")
    assert_healthy(server)


def test_label_column_sent_with_the_features(server: Server):
    assert_rejected(server.post(f"{SETOSA}\nsetosa,{SETOSA}\n"), 400, "CSV line 2 has 5 values",
                    "without the label")


def test_wrong_column_count_json(server: Server):
    assert_rejected(server.post('{"instances": [[1, 2, 3, 4], [1, 2]]}', content_type="application/json"),
                    400, "wrong column count", "record 2 has 2 values")


def test_non_numeric_value_csv(server: Server):
    assert_rejected(server.post(f"{SETOSA}\n5.1,abc,1.4,0.2\n"), 400, "non-numeric value",
                    "CSV line 2, column 2 is 'abc'")
    assert_healthy(server)


def test_non_numeric_value_json(server: Server):
    assert_rejected(server.post('{"instances": [[5.1, "wide", 1.4, 0.2]]}', content_type="application/json"),
                    400, "non-numeric value", "record 1, column 2")


def test_non_finite_value(server: Server):
    assert_rejected(server.post("5.1,inf,1.4,0.2\n"), 400, "CSV line 1, column 2", "finite")


def test_blank_line_between_records(server: Server):
    assert_rejected(server.post(f"{SETOSA}\n\n{SETOSA}\n"), 400, "CSV line 2 is empty")


def test_empty_body_csv(server: Server):
    assert_rejected(server.post(b""), 400, "body is empty")


def test_empty_body_json(server: Server):
    assert_rejected(server.post(b"", content_type="application/json"), 400, "body is empty")


def test_invalid_json(server: Server):
    assert_rejected(server.post("{instances: [", content_type="application/json"), 400, "not valid JSON")


def test_unsupported_content_type(server: Server):
    assert_rejected(server.post(SETOSA, content_type="text/plain"), 415, "unsupported content type 'text/plain'",
                    "text/csv or application/json")
    # a large body too: the client that sends it all before reading still gets the message
    assert_rejected(server.post(RECORD_16_BYTES * 65536, content_type="application/x-parquet"), 415,
                    "'application/x-parquet'")


def test_missing_content_type(server: Server):
    # urllib adds application/x-www-form-urlencoded to a POST without one.
    assert_rejected(server.post(SETOSA, content_type=None), 415, "unsupported content type")


def test_body_over_the_limit(server: Server):
    body = RECORD_16_BYTES * (LIMIT // len(RECORD_16_BYTES)) + b"1"
    assert_rejected(server.post(body), 413, "too large", f"{LIMIT + 1:,} bytes", "limit of 6,291,456 bytes")
    assert_healthy(server)


def test_declared_body_far_over_the_limit_is_refused_without_reading_it(server: Server):
    answer = _raw_request(server, b"POST /invocations HTTP/1.1\r\nHost: test\r\nContent-Type: text/csv\r\n"
                                  b"Content-Length: 100000000\r\n\r\n", [])
    assert_rejected(answer, 413, "100,000,000 bytes, over the limit of 6,291,456 bytes")
    assert_healthy(server)


def _read_response(sock: socket.socket) -> Response:
    """One HTTP response from a raw socket (the connection may stay open: keep-alive)."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    return Response(response.status, response.headers, response.read())


def _raw_request(server: Server, head: bytes, chunks: list[bytes]) -> Response:
    """Send a request exactly as given, all of it, and only then read the answer (as most clients do)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head)
        for chunk in chunks:
            sock.sendall(chunk)
        return _read_response(sock)


def test_chunked_body_over_the_limit(server: Server):
    piece = RECORD_16_BYTES * 4096
    chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
    count = LIMIT // len(piece) + 2
    answer = _raw_request(server, b"POST /invocations HTTP/1.1\r\nHost: test\r\nContent-Type: text/csv\r\n"
                                  b"Transfer-Encoding: chunked\r\n\r\n", [chunk] * count + [b"0\r\n\r\n"])
    assert_rejected(answer, 413, "over the limit of 6,291,456 bytes")
    assert_healthy(server)


def test_chunked_body_under_the_limit(server: Server):
    answer = _raw_request(server, b"POST /invocations HTTP/1.1\r\nHost: test\r\nContent-Type: text/csv\r\n"
                                  b"Transfer-Encoding: chunked\r\n\r\n",
                          [b"10\r\n" + RECORD_16_BYTES + b"\r\n0\r\n\r\n"])
    assert (answer.status, answer.body) == (200, b"setosa\n")


def test_unacceptable_accept(server: Server):
    assert_rejected(server.post(SETOSA, accept="application/xml"), 406, "application/xml",
                    "text/csv or application/json")


def test_wrong_method_and_unknown_path(server: Server):
    response = server.request("GET", "/invocations")
    assert_rejected(response, 405, "use POST")
    assert response.headers["Allow"] == "POST"
    assert_rejected(server.request("POST", "/ping", b""), 405, "use GET")
    assert_rejected(server.request("GET", "/predict"), 404, "/invocations")


# --- loading, workers, shutdown -----------------------------------------------------------------------


def test_ping_is_not_200_before_the_model_is_loaded_then_turns_200(tmp_path: Path, start_server):
    job = new_job(tmp_path / "ml")
    server = start_server(job.model)
    server.wait_listening()

    ping = server.request("GET", "/ping")
    assert_rejected(ping, 503, "model not loaded", "run train first")
    assert_rejected(server.post(SETOSA), 503, "model not loaded")

    result = job.train()
    assert result.returncode == 0, result.stdout + result.stderr
    server.wait_ready(seconds=30)  # each worker retries the load at most once a second
    assert server.post(SETOSA).text == "setosa\n"


def test_a_corrupt_model_is_not_served(tmp_path: Path, trained_model: Path, start_server):
    model_dir = tmp_path / "model"
    shutil.copytree(trained_model, model_dir)
    (model_dir / "model.joblib").write_bytes(b"not a pickle")
    server = start_server(model_dir)
    server.wait_listening()
    assert_rejected(server.request("GET", "/ping"), 503, "could not be loaded")


def test_workers_and_timeout_come_from_the_environment(trained_model: Path, start_server):
    server = start_server(trained_model, MODEL_SERVER_WORKERS="3", MODEL_SERVER_TIMEOUT="7")
    server.wait_ready()
    deadline = time.monotonic() + 30
    while len(server.children()) != 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(server.children()) == 3
    assert json.loads(server.request("GET", "/execution-parameters").body)["MaxConcurrentTransforms"] == 3
    assert "3 asgi worker(s), timeout 7s" in server.log()


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs a root master")
def test_workers_drop_to_the_model_server_user(trained_model: Path, start_server):
    import pwd
    import tempfile

    nobody = pwd.getpwnam("nobody")
    public = Path(tempfile.mkdtemp(prefix="model-public-"))
    try:
        public.chmod(0o755)
        shutil.copytree(trained_model, public / "model")
        server = start_server(public / "model", MODEL_SERVER_USER="nobody", MODEL_SERVER_WORKERS="1")
        server.wait_ready()
        assert server.post(SETOSA).text == "setosa\n"
        (worker,) = server.children()
        status = Path(f"/proc/{worker}/status").read_text()
        uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
        gid = next(line.split()[1] for line in status.splitlines() if line.startswith("Gid:"))
        assert (int(uid), int(gid)) == (nobody.pw_uid, nobody.pw_gid)
        assert os.stat(f"/proc/{server.process.pid}").st_uid == 0  # the master keeps root to bind and manage
    finally:
        shutil.rmtree(public, ignore_errors=True)


def test_bad_server_settings_stop_serve_with_a_message(trained_model: Path):
    result = subprocess.run([str(CONTAINER / "serve")], env=clean_env(
        SM_MODEL_DIR=str(trained_model), MODEL_SERVER_WORKERS="lots"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "MODEL_SERVER_WORKERS='lots' is not an integer" in result.stderr


def test_sigterm_lets_the_request_in_flight_finish(trained_model: Path, start_server):
    server = start_server(trained_model, MODEL_SERVER_WORKERS="1")
    server.wait_ready()
    body = RECORD_16_BYTES
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: test\r\nContent-Type: text/csv\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body[:6])
        time.sleep(0.5)  # the worker is now inside the request, waiting for the rest of the body
        os.kill(server.process.pid, signal.SIGTERM)
        time.sleep(0.5)
        sock.sendall(body[6:])
        answer = _read_response(sock)
    assert (answer.status, answer.body) == (200, b"setosa\n")
    assert answer.headers["Connection"] == "close"
    assert server.process.wait(timeout=60) == 0
    assert "Handling signal: term" in server.log()


def test_sigterm_does_not_wait_long_for_idle_keep_alive_connections(trained_model: Path, start_server):
    server = start_server(trained_model, MODEL_SERVER_WORKERS="1", MODEL_SERVER_KEEPALIVE="2")
    server.wait_ready()
    idle = []
    for _ in range(3):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.request("POST", "/invocations", body=SETOSA, headers={"Content-Type": "text/csv"})
        assert connection.getresponse().read() == b"setosa\n"
        idle.append(connection)  # kept open, idle
    started = time.monotonic()
    os.kill(server.process.pid, signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0
    assert time.monotonic() - started < 15  # the keep-alive time plus the arbiter's own steps, not 25 s
    for connection in idle:
        connection.close()
