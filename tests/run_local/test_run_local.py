"""`make run`: the training workflow end to end on the embedded AWS, as a user runs it.

The slow tests run the real command (``make run ARGS=...``): the program under mocks, moto's Step
Functions interpreter, the real handlers, ``container/train`` and ``container/serve`` as processes.
The fast ones check the pieces: what is read from the recorded program, the local API Gateway, the
transform's CSV filters, how the failed step is found.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from components.workflow.states import S
from tests.run_local.conftest import ROOT
from tools.localaws.container import csv_filter
from tools.localaws.gateway import LocalRestApi
from tools.localaws.stack import RestApi, Route, StackSpec
from tools.run_local import failed_step
from tools.tokens import Token

# --- the command -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_auto_approve_trains_deploys_and_serves_the_real_model(make_run, stack_run):
    run = make_run("--auto-approve", "--exit-after-deploy")

    assert run.returncode == 0, run.output
    # One line per state entered and left, with the elapsed time; a progress bar while training.
    run.line(r"^\[\s*\d+\.\ds\] -> Train$")
    run.line(r"^\[\s*\d+\.\ds\] <- Train \(\d+\.\ds\)$")
    run.line(r"training \[#+\.*\] \d/\d running container/train")
    run.line(r"<- RequestApproval")
    run.line(r"-> SmokeTest")
    served = run.line(r"serving: POST (http://127\.0\.0\.1:\d+/v1/predict)")
    curl = run.line(r"^  (curl -s -X POST http://127\.0\.0\.1:\d+/v1/predict .*)$").group(1)
    assert served.group(1) in curl and "5.1,3.5,1.4,0.2" in curl
    assert run.line(r"^  # answers (.*)$").group(1) == '{"result": "setosa"}'
    run.line(r"deployed: model package arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-dev-models/1 is Approved")

    # The state machine executed is the one the preview records for dev, byte for byte.
    recorded = stack_run("dev").one(Token.SFN_STATE_MACHINE, "mlops-dev-workflow-state-machine").inputs["definition"]
    assert (run.workdir / "state-machine.asl.json").read_text() == recorded

    # The approval e-mail, as text and as HTML, with links to the local approval API.
    approval = sorted((run.workdir / "outbox").glob("01-approval-needed*"))
    assert [p.suffix for p in approval] == [".html", ".txt"]
    text = approval[1].read_text()
    assert "http://127.0.0.1:" in text and "decision=approve" in text and "decision=reject" in text
    assert '<a href="http://127.0.0.1:' in approval[0].read_text()
    # The real training ran: its log and the model it wrote.
    logs = list((run.workdir / "sagemaker" / "training").glob("*/train.log"))
    assert len(logs) == 1 and "validation:accuracy=" in logs[0].read_text()


@pytest.mark.slow
def test_reject_ends_with_the_package_rejected(make_run):
    run = make_run("--reject")

    assert run.returncode == 0, run.output
    run.line(r"decision sent through http://127\.0\.0\.1:\d+/v1/decision: reject \(HTTP 200\)")
    run.line(r"rejected as asked: the workflow ended at RequestApproval with Rejected; "
             r"model package arn:aws:sagemaker:\S+/mlops-dev-models/1 is Rejected")
    assert "serving:" not in run.output and "-> CreateEndpoint" not in run.output


@pytest.mark.slow
def test_a_model_below_min_accuracy_fails_the_run_naming_the_step(make_run):
    run = make_run("--hyperparameter", "max_depth=1", "--exit-after-deploy")

    assert run.returncode != 0, run.output
    run.line(r"make: \*\*\* \[.*\] Error 1$")  # the tool's own exit code: 1, the workflow failed
    run.line(r"FAILED at step CheckEvaluation: ModelBelowThreshold$")
    run.line(r"cause: Test accuracy 0\.6\d* is below the required 0\.85; the model was not registered")
    run.line(r"model package: none registered")
    assert "-> RequestApproval" not in run.output


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.run_local", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_min_accuracy_goes_through_the_stack_settings():
    result = run_tool("--min-accuracy", "1.01")
    assert result.returncode == 2
    assert "error: stack dev: mlops:minAccuracy = '1.01' is invalid: expected a number from 0.0 to 1.0" in result.stderr


def test_a_stack_that_does_not_train_is_refused():
    result = run_tool("--stack", "staging")
    assert result.returncode == 2
    assert "stack staging has no training workflow" in result.stderr


def test_bad_arguments_exit_2_with_the_reason():
    result = run_tool("--hyperparameter", "max_depth")
    assert result.returncode == 2 and "is not NAME=VALUE" in result.stderr
    result = run_tool("--auto-approve", "--reject")
    assert result.returncode == 2 and "not allowed with argument" in result.stderr


def test_help_describes_the_command():
    result = run_tool("--help")
    assert result.returncode == 0
    for option in ("--stack", "--auto-approve", "--reject", "--exit-after-deploy", "--min-accuracy", "--hyperparameter"):
        assert option in result.stdout


# --- what the run reads from the recorded program -----------------------------------------------------


def test_spec_comes_from_the_recorded_program(stack_run):
    run = stack_run("dev")
    spec = StackSpec.from_run(run)

    assert spec.definition == run.one(Token.SFN_STATE_MACHINE, "mlops-dev-workflow-state-machine").inputs["definition"]
    assert {name: f.package for name, f in spec.functions.items()} == {
        "mlops-dev-approval-request": "approval_request", "mlops-dev-approval-decision": "approval_decision",
        "mlops-dev-notify": "notify", "mlops-dev-inference": "inference_proxy", "mlops-dev-evaluate": "evaluate",
        # the catalog's batch pipelines and the provisioning API (dev is the registry stack)
        "mlops-dev-batch-notify": "notify", "mlops-dev-provisioning-api": "provisioning_api",
        "mlops-dev-provisioning-events": "provisioning_events",
    }
    recorded_env = run.one(Token.LAMBDA_FUNCTION, "mlops-dev-approval-request-function").inputs["environment"]["variables"]
    assert spec.functions["mlops-dev-approval-request"].environment == recorded_env
    routes = {api.name: api.routes for api in spec.apis}
    assert routes["mlops-dev-inference"] == (  # the catalog's real-time entries' routes, then the trained model's
        Route("POST", "/models/iris-tree/predict", "mlops-dev-inference", api_key_required=True),
        Route("POST", "/models/iris-xgboost/predict", "mlops-dev-inference", api_key_required=True),
        Route("POST", "/predict", "mlops-dev-inference", api_key_required=True))
    assert routes["mlops-dev-approvals"] == (Route("GET", "/decision", "mlops-dev-approval-decision"),
                                             Route("POST", "/decision", "mlops-dev-approval-decision"))
    assert spec.data_defaults == {
        "trainingData": "s3://mlops-dev-111111111111-eu-west-1/data/train",
        "validationData": "s3://mlops-dev-111111111111-eu-west-1/data/validation",
        "testData": "s3://mlops-dev-111111111111-eu-west-1/data/test",
    }
    assert spec.secret_arn == recorded_env["SIGNING_SECRET_ARN"]


# --- the local API Gateway ----------------------------------------------------------------------------

API = RestApi(name="demo", stage="v1", url="https://abc.execute-api.eu-west-1.amazonaws.com/v1", routes=(
    Route("GET", "/decision", "decide"), Route("POST", "/predict", "predict", api_key_required=True)))


def request(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_gateway_proxies_routes_to_their_function_as_api_gateway_events():
    seen = []

    def invoke(function, event):
        seen.append((function, event))
        if function == "predict" and event["body"] == "boom":
            raise RuntimeError("handler crashed")
        return {"statusCode": 201, "headers": {"X-Test": "yes", "Content-Type": "text/plain"}, "body": "ok"}

    api = LocalRestApi(API, invoke).start()
    try:
        assert api.local_url("https://abc.execute-api.eu-west-1.amazonaws.com/v1/decision") == f"{api.url}/decision"
        assert api.local_url("https://elsewhere.example/v1/decision") == "https://elsewhere.example/v1/decision"

        status, headers, body = request(f"{api.url}/decision?id=1&x=a&x=b")
        assert (status, headers["X-Test"], body) == (201, "yes", b"ok")
        function, event = seen[-1]
        assert function == "decide" and event["httpMethod"] == "GET" and event["path"] == "/decision"
        assert event["queryStringParameters"] == {"id": "1", "x": "b"}
        assert event["multiValueQueryStringParameters"] == {"id": ["1"], "x": ["a", "b"]}
        assert event["requestContext"]["stage"] == "v1" and event["isBase64Encoded"] is False

        assert request(f"{api.url}/nothing")[0] == 403  # API Gateway: Missing Authentication Token
        assert request(f"{api.url}/decision", data=b"x")[0] == 403  # no POST route there
        assert request(f"{api.url}/predict", data=b"{}")[0] == 403  # the method requires an API key
        assert request(f"{api.url}/predict", data=b"{}", headers={"x-api-key": "wrong"})[0] == 403
        status, _, _ = request(f"{api.url}/predict", data=b'{"data": 1}', headers={"x-api-key": api.api_key or ""})
        assert status == 201 and seen[-1][1]["body"] == '{"data": 1}'
        status, _, body = request(f"{api.url}/predict", data=b"boom", headers={"x-api-key": api.api_key or ""})
        assert status == 502 and json.loads(body) == {"message": "Internal server error"}
    finally:
        api.stop()


# --- the batch transform's data processing --------------------------------------------------------


@pytest.mark.parametrize(("expression", "expected"), [
    ("$", ["a", "b", "c", "d"]),
    ("$[1:]", ["b", "c", "d"]),
    ("$[0,-1]", ["a", "d"]),
    ("$[2]", ["c"]),
    ("$[:2]", ["a", "b"]),
])
def test_csv_filters_select_columns_as_sagemaker_does(expression, expected):
    assert csv_filter(expression, ["a", "b", "c", "d"]) == expected


@pytest.mark.parametrize("expression", ["$.features", "$[a]", "[0]", "$[9]"])
def test_unsupported_or_out_of_range_filters_are_refused(expression):
    with pytest.raises(ValueError, match="filter"):
        csv_filter(expression, ["a", "b"])


# --- naming the failed step -------------------------------------------------------------------------


def entered(*names: str) -> list[dict]:
    return [{"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": n}} for n in names]


def test_failed_step_is_the_last_state_before_the_failure_path(stack_run):
    definition = json.loads(StackSpec.from_run(stack_run("dev")).definition)
    prepare = [S.VALIDATE_INPUT, S.APPLY_DEFAULTS, S.MERGE_INPUT, S.RESOLVE_RUN]
    assert failed_step(definition, entered(*prepare, S.TRAIN, S.TRAINING_FAILED, S.NOTIFY_FAILURE, S.FAILED)) == S.TRAIN
    assert failed_step(definition, entered(*prepare, S.TRAIN, S.CREATE_MODEL, S.EVALUATE, S.EVALUATE_MODEL,
                                           S.CHECK_EVALUATION, S.BELOW_THRESHOLD, S.NOTIFY_FAILURE, S.FAILED)) == S.CHECK_EVALUATION
    assert failed_step(definition, entered(S.VALIDATE_INPUT, S.INVALID_INPUT, S.NOTIFY_FAILURE, S.FAILED)) == S.VALIDATE_INPUT
