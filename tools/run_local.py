"""The whole training workflow on this machine: train, evaluate, approve, serve, infer - no AWS.

    python -m tools.run_local [--stack dev] [--auto-approve | --reject] [--exit-after-deploy]

``make run`` runs this. It runs the stack's Pulumi program under mocks (``tools.mockrun``, as the
offline preview does) and takes from what the program records the state machine definition (byte for
byte), the Lambda functions with their code and environment, the REST APIs and the resources' names.
Then, in an embedded AWS (moto, ``tools.localaws``):

- the state machine runs in moto's Step Functions interpreter; every Lambda invocation runs the real
  handler in ``lambdas/``; SageMaker training, the evaluation batch transform and the endpoint are the
  real ``container/train`` and ``container/serve`` as local processes over the sample iris data
  (``container/local_test``), uploaded to the S3 prefixes the workflow reads;
- the approval e-mail goes to a local outbox (``<workdir>/outbox``, text and HTML) and its links point
  at the real approval handler served on 127.0.0.1; the terminal prints the approve link. Open it, enter
  a name, confirm, and the workflow resumes. ``--auto-approve`` / ``--reject`` click for you;
- after deployment, the real inference proxy answers ``POST http://127.0.0.1:<port>/v1/predict``; the
  run prints a curl command that works, and serves until Ctrl-C (``--exit-after-deploy`` stops instead).

Every state is printed as it is entered and left, with the elapsed time. Exit codes: 0 the run ended as
asked (deployed, or rejected with ``--reject``; Ctrl-C while serving), 1 the workflow failed (the failed
step, its error and cause are printed), 2 invalid configuration or arguments, 130 interrupted before the
end.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3

from tools.localaws.container import CONTAINER_DIR, LocalContainer
from tools.localaws.emulator import REPO_ROOT, EmbeddedAws
from tools.localaws.gateway import LocalRestApi
from tools.localaws.stack import NotATrainingStack, StackSpec
from tools.mockrun import STACKS, run_program
from tools.stack_config import StackConfigError

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130
SAMPLE_DATA = CONTAINER_DIR / "local_test" / "input" / "data"
# ApplyDefaults' data keys -> the sample data folder uploaded there.
SAMPLE_CHANNELS = {"trainingData": "training", "validationData": "validation", "testData": "test"}
SAMPLE_RECORD = "5.1,3.5,1.4,0.2"
WORKDIR_MARKER = ".make-run"


class RunError(RuntimeError):
    """The local run cannot start (a bad argument or working directory)."""


# --------------------------------------------------------------------------------------------
# terminal output


class Console:
    """Progress lines: every state entered and left with the elapsed time, the jobs' progress bars."""

    def __init__(self, out: TextIO):
        self.out = out
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def line(self, text: str = "") -> None:
        with self._lock:
            self.out.write(f"[{time.monotonic() - self.started:6.1f}s] {text}\n" if text else "\n")
            self.out.flush()

    def plain(self, text: str = "") -> None:
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def job_progress(self, kind: str, name: str, step: int, steps: int, what: str) -> None:
        width = 20
        done = round(width * step / max(steps, 1))
        self.line(f"     {kind:<8} [{'#' * done}{'.' * (width - done)}] {step}/{steps} {what}")


# --------------------------------------------------------------------------------------------
# the run


class LocalRun:
    def __init__(self, spec: StackSpec, args: argparse.Namespace, console: Console):
        self.spec, self.args, self.console = spec, args, console
        self.workdir: Path = args.workdir
        self.outbox = self.workdir / "outbox"
        self.container = LocalContainer(self.workdir / "sagemaker", progress=console.job_progress)
        self.aws = EmbeddedAws(spec.account, spec.region, self.container, {}, sync_poll_seconds=0.2,
                               wait_cap_seconds=args.wait_cap)
        self.apis: list[LocalRestApi] = []
        self.mail_count = 0
        self.decided = False

    # setup ---------------------------------------------------------------------------------
    def prepare_workdir(self) -> None:
        if self.workdir.exists():
            if any(self.workdir.iterdir()) and not (self.workdir / WORKDIR_MARKER).exists():
                raise RunError(f"--workdir {self.workdir} exists and was not made by this command; choose an empty or new folder")
            shutil.rmtree(self.workdir)
        self.outbox.mkdir(parents=True)
        (self.workdir / WORKDIR_MARKER).write_text("made by python -m tools.run_local; removed by its next run\n")

    def create_resources(self) -> str:
        """What the program records, in the embedded account; returns the state machine ARN."""
        spec, region = self.spec, self.spec.region
        s3 = boto3.client("s3", region_name=region)
        location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=spec.bucket, **location)
        boto3.client("sns", region_name=region).create_topic(Name=spec.topic_arn.rsplit(":", 1)[1])
        boto3.client("dynamodb", region_name=region).create_table(
            TableName=spec.table_name, KeySchema=[{"AttributeName": spec.table_hash_key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": spec.table_hash_key, "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        boto3.client("secretsmanager", region_name=region).create_secret(Name=spec.secret_name, SecretString=secrets.token_urlsafe(48))
        from moto.secretsmanager.models import secretsmanager_backends

        # The secret keeps the ARN the program records (and the functions' environment names).
        secretsmanager_backends[spec.account][region].secrets[spec.secret_name].arn = spec.secret_arn
        boto3.client("sagemaker", region_name=region).create_model_package_group(ModelPackageGroupName=spec.model_package_group)
        for key, folder in SAMPLE_CHANNELS.items():
            bucket, _, prefix = spec.data_defaults[key].removeprefix("s3://").partition("/")
            for path in sorted((SAMPLE_DATA / folder).glob("*.csv")):
                s3.put_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}/{path.name}", Body=path.read_bytes())
        sfn = boto3.client("stepfunctions", region_name=region)
        arn = sfn.create_state_machine(name=spec.state_machine_name, definition=spec.definition, roleArn=spec.state_machine_role_arn)["stateMachineArn"]
        # What the interpreter executes, as the embedded Step Functions returns it (a test compares it with the preview).
        (self.workdir / "state-machine.asl.json").write_text(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
        return str(arn)

    def start_apis(self) -> None:
        ports = {"inference": self.args.port}
        for api in self.spec.apis:
            port = next((p for kind, p in ports.items() if kind in api.name and p), 0)
            self.apis.append(LocalRestApi(api, self.aws.lambdas.call, port=port).start())
        # The functions as recorded, with URLs of the APIs on AWS replaced by the local ones.
        self.aws.lambdas.functions = {
            name: replace(function, environment={key: self._local_url(value) for key, value in function.environment.items()})
            for name, function in self.spec.functions.items()
        }

    def _local_url(self, value: str) -> str:
        for api in self.apis:
            value = api.local_url(value)
        return value

    def inference_api(self) -> LocalRestApi | None:
        return next((api for api in self.apis if any(r.path.endswith("/predict") for r in api.api.routes)), None)

    # running -------------------------------------------------------------------------------
    def run(self) -> int:
        self.prepare_workdir()
        spec, console = self.spec, self.console
        with self.aws.running():
            try:
                self.start_apis()
                machine_arn = self.create_resources()
                commit = _commit()
                execution_input: dict[str, Any] = {"commitId": commit, "imageUri": f"{spec.image_repository_url}:{commit}"}
                if self.args.hyperparameters:
                    execution_input["hyperparameters"] = dict(self.args.hyperparameters)
                console.plain(f"stack {spec.stack}: state machine {spec.state_machine_name} (the definition the preview records), "
                              f"account {spec.account}, region {spec.region}, all emulated locally by moto")
                for api in self.apis:
                    console.plain(f"  {api.api.name}: {', '.join(f'{r.method} {api.url}{r.path}' for r in api.api.routes)}")
                console.plain(f"  outbox: {self.outbox}")
                sfn = boto3.client("stepfunctions", region_name=spec.region)
                execution_arn = sfn.start_execution(stateMachineArn=machine_arn, name=f"local-{secrets.token_hex(4)}",
                                                    input=json.dumps(execution_input))["executionArn"]
                console.line(f"started {execution_arn.rsplit(':', 1)[1]} with {json.dumps(execution_input)}")
                description = self.follow(sfn, execution_arn)
                return self.finish(sfn, execution_arn, description)
            except KeyboardInterrupt:
                console.plain("\ninterrupted: stopping the model servers")
                return EXIT_INTERRUPTED
            finally:
                for api in self.apis:
                    api.stop()

    def follow(self, sfn: Any, execution_arn: str) -> dict[str, Any]:
        """Print each state as it is entered and left, deliver e-mails, decide when asked; until the end."""
        seen, entered = 0, {}
        while True:
            description = sfn.describe_execution(executionArn=execution_arn)
            events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
            for event in events[seen:]:
                if "stateEnteredEventDetails" in event:
                    name = event["stateEnteredEventDetails"]["name"]
                    entered[name] = time.monotonic()
                    self.console.line(f"-> {name}")
                elif "stateExitedEventDetails" in event:
                    name = event["stateExitedEventDetails"]["name"]
                    took = time.monotonic() - entered.pop(name, time.monotonic())
                    self.console.line(f"<- {name} ({took:.1f}s)")
            seen = len(events)
            self.deliver_mail()
            if description["status"] != "RUNNING":
                return dict(description)
            time.sleep(0.2)

    def deliver_mail(self) -> None:
        messages = self.aws.published(self.spec.topic_arn)
        for subject, message in messages[self.mail_count:]:
            self.mail_count += 1
            slug = re.sub(r"[^a-z0-9]+", "-", (subject or "message").lower()).strip("-")[:40]
            stem = self.outbox / f"{self.mail_count:02d}-{slug}"
            stem.with_suffix(".txt").write_text(f"Subject: {subject}\n\n{message}\n")
            stem.with_suffix(".html").write_text(_mail_html(subject or "", message))
            self.console.line(f"e-mail \"{subject}\": {stem}.txt (and .html)")
            links = _decision_links(message)
            if links:
                self.console.plain(f"\n  To approve, open:  {links['approve']}\n  To reject, open:   {links['reject']}\n")
                if self.args.auto_approve or self.args.reject:
                    self.decide(links["reject" if self.args.reject else "approve"])

    def decide(self, link: str) -> None:
        """What a person does in the browser: open the link (GET), fill in the form and confirm (POST)."""
        with urllib.request.urlopen(link, timeout=30) as page:
            if page.status != 200:
                raise RuntimeError(f"the approval page answered {page.status}")
        fields = {name: values[0] for name, values in parse_qs(urlsplit(link).query).items()}
        verb = "reject" if self.args.reject else "approve"
        comment = f"{verb}d by make run --{'reject' if self.args.reject else 'auto-approve'}"
        form = urlencode({**fields, "approver": f"{os.environ.get('USER') or 'local'}@localhost", "comment": comment}).encode()
        request = urllib.request.Request(link, data=form, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            self.console.line(f"decision sent through {link.split('?', 1)[0]}: {verb} (HTTP {answer.status})")

    def finish(self, sfn: Any, execution_arn: str, description: dict[str, Any]) -> int:
        console, spec = self.console, self.spec
        status = description["status"]
        package = _model_package_status(spec)
        if status != "SUCCEEDED":
            events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
            step = failed_step(json.loads(spec.definition), events)
            error, cause = description.get("error") or "?", description.get("cause") or ""
            if self.args.reject and error == "Rejected":
                console.line(f"rejected as asked: the workflow ended at {step} with Rejected; model package {package}")
                return EXIT_OK
            console.line(f"FAILED at step {step}: {error}")
            console.plain(f"  cause: {cause}")
            console.plain(f"  model package: {package}; work files (logs of train and serve): {self.workdir}")
            return EXIT_FAILED
        api = self.inference_api()
        output = json.loads(description.get("output") or "{}")
        console.line(f"deployed: model package {package}; endpoint {spec.endpoint_name} is container/serve at "
                     f"{self.container.endpoints[spec.endpoint_name].url}")
        if api is None:
            console.line("succeeded (this stack has no inference API)")
            return EXIT_OK
        url = f"{api.url}/predict"
        curl = (f"curl -s -X POST {url} -H 'x-api-key: {api.api_key}' -H 'Content-Type: application/json' "
                f"-d '{{\"data\": \"{SAMPLE_RECORD}\"}}'" if api.api_key else
                f"curl -s -X POST {url} -H 'Content-Type: application/json' -d '{{\"data\": \"{SAMPLE_RECORD}\"}}'")
        answer = _post_json(url, {"data": SAMPLE_RECORD}, api.api_key)
        console.line(f"serving: POST {url}  (evaluation: accuracy {output.get('evaluation', {}).get('accuracy')}, "
                     f"smoke test: {output.get('smokeTestResult')})")
        console.plain(f"\n  {curl}\n  # answers {answer}\n")
        if self.args.exit_after_deploy:
            return EXIT_OK
        console.plain("Serving until Ctrl-C.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            console.plain("\nstopped")
            return EXIT_OK


def failed_step(definition: dict[str, Any], events: list[dict[str, Any]]) -> str:
    """The step that failed: the last state entered before the run took a path that can only fail.

    A state is doomed when no Succeed state is reachable from it (its transitions: Next, Default, every
    Choice and Catch target); the failed step is the last non-doomed state entered before the first doomed one.
    """
    states = definition["States"]

    def targets(state: dict[str, Any]) -> list[str]:
        found = [state.get("Next"), state.get("Default")]
        found += [choice.get("Next") for choice in state.get("Choices", [])]
        found += [catch.get("Next") for catch in state.get("Catch", [])]
        return [name for name in found if name]

    can_succeed = {name for name, state in states.items() if state["Type"] == "Succeed"}
    changed = True
    while changed:
        changed = False
        for name, state in states.items():
            if name not in can_succeed and any(t in can_succeed for t in targets(state)):
                can_succeed.add(name)
                changed = True
    last = "?"
    for event in events:
        name = (event.get("stateEnteredEventDetails") or {}).get("name")
        if name is None:
            continue
        if name not in can_succeed:
            return last
        last = name
    return last


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "local"


def _model_package_status(spec: StackSpec) -> str:
    sagemaker = boto3.client("sagemaker", region_name=spec.region)
    summaries = sagemaker.list_model_packages(ModelPackageGroupName=spec.model_package_group)["ModelPackageSummaryList"]
    if not summaries:
        return "none registered"
    latest = max(summaries, key=lambda s: s["CreationTime"])
    return f"{latest['ModelPackageArn']} is {latest['ModelApprovalStatus']}"


def _post_json(url: str, payload: dict[str, Any], api_key: str | None) -> str:
    headers = {"Content-Type": "application/json", **({"x-api-key": api_key} if api_key else {})}
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return str(answer.read().decode())
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}: {error.read().decode(errors='replace')}"


def _decision_links(message: str) -> dict[str, str]:
    links = {}
    for url in re.findall(r"https?://\S+", message):
        decision = parse_qs(urlsplit(url).query).get("decision", [""])[0]
        if decision in ("approve", "reject"):
            links[decision] = url
    return links if set(links) == {"approve", "reject"} else {}


def _mail_html(subject: str, message: str) -> str:
    """The e-mail as a mail client shows a plain-text message: escaped, links clickable."""
    parts = []
    for piece in re.split(r"(https?://\S+)", message):
        escaped = html.escape(piece, quote=True)
        parts.append(f'<a href="{escaped}">{escaped}</a>' if re.fullmatch(r"https?://\S+", piece) else escaped)
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(subject)}</title></head><body>"
            f"<p><strong>Subject:</strong> {html.escape(subject)}</p>"
            f'<pre style="white-space:pre-wrap;font-family:system-ui,sans-serif">{"".join(parts)}</pre></body></html>\n')


# --------------------------------------------------------------------------------------------
# command line


def _hyperparameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE (e.g. max_depth=3)")
    return name.strip(), value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.run_local", description=(__doc__ or "").split("\n\n")[0],
        epilog="Exit codes: 0 ended as asked, 1 the workflow failed (step, error and cause printed), "
               "2 invalid configuration or arguments, 130 interrupted.")
    parser.add_argument("--stack", default="dev", choices=STACKS, help="the stack whose workflow runs (default dev; it must train)")
    decision = parser.add_mutually_exclusive_group()
    decision.add_argument("--auto-approve", action="store_true", help="approve through the approval page without a browser (for CI)")
    decision.add_argument("--reject", action="store_true", help="reject through the approval page; exits 0 when the package ends Rejected")
    parser.add_argument("--exit-after-deploy", action="store_true", help="stop once the model answers instead of serving until Ctrl-C")
    parser.add_argument("--min-accuracy", type=str, metavar="X",
                        help="set the stack's minAccuracy for this run (validated like any config value; 1.0 forces a failure "
                             "unless the model is perfect on the held-out data)")
    parser.add_argument("--hyperparameter", dest="hyperparameters", action="append", type=_hyperparameter, default=[],
                        metavar="NAME=VALUE", help="execution input hyperparameter over the stack's defaults (repeatable); "
                                                   "max_depth=1 gives a model below minAccuracy, a forced failure")
    parser.add_argument("--port", type=int, default=0, help="port of the local inference API (default: a free one)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where jobs, logs and the outbox go (default .run/<stack>; emptied at the start of each run)")
    parser.add_argument("--wait-cap", type=float, default=1.0, metavar="SECONDS",
                        help="a Wait state waits at most this long locally (default 1; the definition's own waits are 30 s)")
    args = parser.parse_args(argv)
    if args.workdir is None:
        args.workdir = REPO_ROOT / ".run" / args.stack
    if args.wait_cap <= 0:
        parser.error("--wait-cap must be a positive number of seconds")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    return args


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = parse_args(argv)
    out = out or sys.stdout
    from program.settings import SettingsError

    overrides = {"minAccuracy": args.min_accuracy} if args.min_accuracy is not None else None
    try:
        run = run_program(args.stack, overrides=overrides)
        spec = StackSpec.from_run(run)
    except (SettingsError, StackConfigError, NotATrainingStack) as error:
        for line in error.problems if isinstance(error, SettingsError) else [str(error)]:
            print(f"error: stack {args.stack}: {line}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        return LocalRun(spec, args, Console(out)).run()
    except RunError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
