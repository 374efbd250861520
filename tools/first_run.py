"""The first training run of a deployed stack: upload the sample data and start the training workflow.

    python -m tools.first_run --stack dev [--dry-run] [--outputs FILE] [--image-tag SHA]
    make first-run STACK=dev [DRY_RUN=1]

1. Read the stack's outputs (``pulumi stack output --json --stack <stack>``, or ``--outputs FILE`` holding
   that JSON): the bucket, the training state machine and the image repository.
2. Upload the sample iris data (``container/local_test/input/data/<channel>/``) to the locations the
   training workflow reads by default, ``s3://<bucket>/data/train``, ``data/validation`` and
   ``data/test`` (``components/names.py``: ``TRAINING_DATA_PREFIX``, ...).
3. Start the workflow with the input the pipeline's build stage gives it (``pipeline/build_image.py``:
   ``{"commitId", "imageUri"}`` plus ``data/manifest.json``'s hyperparameters), for an image the pipeline
   built: the commit ``--image-tag`` names, by default ``git rev-parse HEAD``. Push that commit to the
   training branch first; the pipeline builds the image (and starts a run of its own, which finds the
   data once this command uploaded it).

``--dry-run`` prints every upload and the execution it would start and calls no AWS API.
Exit codes: 0 started (or printed), 2 bad input (outputs, manifest, image), 1 an AWS call failed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from components.names import TEST_DATA_PREFIX, TRAINING_DATA_PREFIX, VALIDATION_DATA_PREFIX
from pipeline.build_image import InputError, load_manifest, parse_repository_uri, resolve_revision, start_input

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA = ROOT / "container" / "local_test" / "input" / "data"
MANIFEST = ROOT / "data" / "manifest.json"
# The sample folders are named after the SageMaker channels the container reads (training, validation) and
# the held-out set (test); the workflow reads each from its own prefix of the stack's bucket.
CHANNEL_PREFIXES = {"training": TRAINING_DATA_PREFIX, "validation": VALIDATION_DATA_PREFIX, "test": TEST_DATA_PREFIX}
REQUIRED_OUTPUTS = ("bucketName", "stateMachineArn", "imageRepositoryUrl")
EXIT_OK, EXIT_AWS, EXIT_INPUT = 0, 1, 2
_STATE_MACHINE_ARN = re.compile(r"^arn:aws[a-z-]*:states:(?P<region>[a-z0-9-]+):\d{12}:stateMachine:[\w-]+$")


class FirstRunError(Exception):
    """Bad input: the message says what was wrong and what to do."""


@dataclass(frozen=True)
class Upload:
    source: Path
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Plan:
    region: str
    uploads: tuple[Upload, ...]
    state_machine_arn: str
    execution_name: str
    execution_input: dict[str, Any]
    image_repository: str
    image_tag: str


def read_outputs(stack: str, outputs_file: Path | None) -> dict[str, Any]:
    if outputs_file is not None:
        try:
            outputs = json.loads(outputs_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise FirstRunError(f"--outputs {outputs_file}: cannot read it as JSON ({exc}); write it with "
                                f"`pulumi stack output --json --stack {stack} > {outputs_file}`") from None
    else:
        try:
            done = subprocess.run(["pulumi", "stack", "output", "--json", "--stack", stack],
                                  capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise FirstRunError("the pulumi CLI is not installed: install it, or pass --outputs FILE with the "
                                f"JSON of `pulumi stack output --json --stack {stack}`") from None
        if done.returncode != 0:
            raise FirstRunError(f"`pulumi stack output --json --stack {stack}` failed: {done.stderr.strip()}")
        outputs = json.loads(done.stdout or "{}")
    if not isinstance(outputs, dict):
        raise FirstRunError("the stack outputs must be a JSON object (the output of `pulumi stack output --json`)")
    missing = [key for key in REQUIRED_OUTPUTS if not isinstance(outputs.get(key), str) or not outputs[key]]
    if missing:
        raise FirstRunError(f"stack {stack} has no output {', '.join(missing)}: only a stack that trains (the "
                            "registry stack, dev) has a training workflow; deploy it first, or name that stack")
    return outputs


def sample_uploads(bucket: str, data_dir: Path = SAMPLE_DATA) -> tuple[Upload, ...]:
    uploads = []
    for channel, prefix in CHANNEL_PREFIXES.items():
        files = sorted(p for p in (data_dir / channel).glob("*.csv") if p.is_file())
        if not files:
            raise FirstRunError(f"no sample data in {data_dir / channel}: expected CSV files "
                                "(`python container/local_test/make_data.py` writes them)")
        uploads += [Upload(f, bucket, f"{prefix}/{f.name}") for f in files]
    return tuple(uploads)


def current_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise FirstRunError("not a git checkout: pass --image-tag with the commit SHA whose image the pipeline built")
    return done.stdout.strip()


def make_plan(stack: str, outputs: dict[str, Any], image_tag: str, *, manifest_path: Path = MANIFEST,
              data_dir: Path = SAMPLE_DATA, now: datetime | None = None) -> Plan:
    machine = _STATE_MACHINE_ARN.match(outputs["stateMachineArn"])
    if not machine:
        raise FirstRunError(f"stateMachineArn {outputs['stateMachineArn']!r} is not a Step Functions state machine ARN")
    bucket = outputs["bucketName"]
    try:
        revision = resolve_revision("git", image_tag)
        repository = parse_repository_uri(outputs["imageRepositoryUrl"])
        manifest = load_manifest(manifest_path, (bucket,))
    except InputError as exc:
        raise FirstRunError(str(exc)) from None
    elsewhere = [key for key in ("trainingData", "validationData", "testData") if key in manifest]
    if elsewhere:
        raise FirstRunError(f"{manifest_path} sets {', '.join(elsewhere)}: runs read their data from there, not "
                            "from the stack's default locations this command fills; upload your data there yourself "
                            "or remove those keys")
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return Plan(region=machine.group("region"), uploads=sample_uploads(bucket, data_dir),
                state_machine_arn=outputs["stateMachineArn"],
                execution_name=f"first-run-{revision.tag[:12]}-{stamp}",
                execution_input=start_input(revision, repository, manifest),
                image_repository=repository.name, image_tag=revision.tag)


def describe(plan: Plan, stack: str) -> str:
    lines = [f"first training run of stack {stack} ({plan.region}):"]
    lines += [f"  upload {u.source.relative_to(ROOT) if u.source.is_relative_to(ROOT) else u.source} -> {u.uri}"
              for u in plan.uploads]
    lines.append(f"  check that image {plan.image_repository}:{plan.image_tag} is in ECR")
    lines.append(f"  start {plan.state_machine_arn}")
    lines.append(f"    name  {plan.execution_name}")
    lines.append(f"    input {json.dumps(plan.execution_input, sort_keys=True)}")
    return "\n".join(lines)


def execute(plan: Plan) -> str:
    """Upload, check the image, start the execution; return its ARN. Raises FirstRunError for a missing
    image and lets botocore's errors through."""
    import boto3

    ecr = boto3.client("ecr", region_name=plan.region)
    try:
        ecr.describe_images(repositoryName=plan.image_repository, imageIds=[{"imageTag": plan.image_tag}])
    except ecr.exceptions.ImageNotFoundException:
        raise FirstRunError(
            f"image {plan.image_repository}:{plan.image_tag} is not in ECR: push that commit to the training branch "
            "(the pipeline builds it) and wait for the build, or pass --image-tag with a commit it built") from None
    s3 = boto3.client("s3", region_name=plan.region)
    for upload in plan.uploads:
        s3.upload_file(str(upload.source), upload.bucket, upload.key)
        print(f"uploaded {upload.uri}")
    started = boto3.client("stepfunctions", region_name=plan.region).start_execution(
        stateMachineArn=plan.state_machine_arn, name=plan.execution_name, input=json.dumps(plan.execution_input))
    return str(started["executionArn"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.first_run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="the deployed stack that trains (dev)")
    parser.add_argument("--dry-run", action="store_true", help="print the uploads and the execution; call no AWS API")
    parser.add_argument("--outputs", type=Path, help="the stack's outputs as JSON instead of `pulumi stack output`")
    parser.add_argument("--image-tag", help="commit SHA of an image the pipeline built (default: git rev-parse HEAD)")
    args = parser.parse_args(argv)
    try:
        outputs = read_outputs(args.stack, args.outputs)
        plan = make_plan(args.stack, outputs, args.image_tag or current_commit())
        print(describe(plan, args.stack))
        if args.dry_run:
            print("dry run: nothing uploaded, no execution started")
            return EXIT_OK
        execution = execute(plan)
    except FirstRunError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INPUT
    except Exception as error:  # noqa: BLE001 - any AWS failure ends the command with its message
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_AWS
    print(f"started {execution}: the approval e-mail follows a successful evaluation "
          f"(aws stepfunctions describe-execution --execution-arn {execution})")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
