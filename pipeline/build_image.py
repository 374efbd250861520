#!/usr/bin/env python3
"""Build stage of the training pipeline: build ``container/``, push it to ECR, write the workflow's input.

Runs inside CodeBuild (``pipeline/buildspec.yml``) with nothing but the Python standard library, the AWS
CLI and Docker. Steps:

1. Resolve the image tag from the source revision the pipeline hands over: the full commit SHA for git
   sources (``SOURCE_REVISION`` = ``#{SourceVariables.CommitId}``, else
   ``CODEBUILD_RESOLVED_SOURCE_VERSION``), ``s3-<etag>`` for S3 sources (no commit exists there).
2. Read and validate the training data manifest (``data/manifest.json``, optional; see
   docs/pipeline.md): S3 URIs of the training, validation and test data and optional hyperparameters.
3. Skip the build when ``<repository>:<tag>`` already exists in ECR (``aws ecr describe-images``):
   the same commit always yields the same image, and tags are immutable anyway.
4. Otherwise log in to ECR (the password goes from ``aws`` to ``docker`` through a pipe, never to the
   log), ``docker build`` and ``docker push``.
5. Write the Step Functions start input (``sf_start_params.json``) and the exported variables
   (``build.env``: IMAGE_TAG, IMAGE_URI, IMAGE_BUILT, EXECUTION_NAME_PREFIX).

Exit codes: 0 success, 2 invalid input (revision, manifest, repository URI), 1 a tool failed.
Nothing here prints the environment or any credential.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GIT_SHA = re.compile(r"^[0-9a-f]{40}$")
S3_ETAG = re.compile(r"^[0-9a-f]{32}(-[0-9]{1,5})?$")
REPOSITORY_URI = re.compile(
    r"^(?P<registry>(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?)"
    r"/(?P<name>[a-z0-9]+(?:[._/-][a-z0-9]+)*)$")
S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>\S*)$")
DATA_KEYS = ("trainingData", "validationData", "testData")
MANIFEST_KEYS = (*DATA_KEYS, "hyperparameters", "description")


class InputError(Exception):
    """The build's input is invalid (exit code 2)."""


class ToolError(Exception):
    """``aws`` or ``docker`` failed (exit code 1)."""


@dataclass(frozen=True)
class Revision:
    tag: str
    """The image tag and the workflow's ``commitId``: the full commit SHA, or ``s3-<etag>``."""
    execution_name_prefix: str
    """A short, readable prefix for the Step Functions execution name (``commit-<12 hex>``)."""


@dataclass(frozen=True)
class Repository:
    uri: str
    registry: str
    account: str
    region: str
    name: str


def log(message: str) -> None:
    print(f"[build_image] {message}", flush=True)


# ---------------------------------------------------------------------------------------------------
# Pure parts: revision, repository URI, manifest, start input


def resolve_revision(kind: str, revision: str | None, resolved_source_version: str | None = None) -> Revision:
    """The image tag for this build. Git: the full 40-character commit SHA, never a short one."""
    if kind == "git":
        value = (revision or resolved_source_version or "").strip().lower()
        if not GIT_SHA.match(value):
            raise InputError(
                f"source revision {value!r} is not a full 40-character git commit SHA; the pipeline passes "
                "#{SourceVariables.CommitId} as SOURCE_REVISION (or CodeBuild sets CODEBUILD_RESOLVED_SOURCE_VERSION)")
        return Revision(tag=value, execution_name_prefix=f"commit-{value[:12]}")
    if kind == "s3":
        value = (revision or "").strip().strip('"').lower()
        if not S3_ETAG.match(value):
            raise InputError(f"S3 source ETag {value!r} is not an S3 ETag (32 hex digits, optionally -<parts>); "
                             "the pipeline passes #{SourceVariables.ETag} as SOURCE_REVISION")
        return Revision(tag=f"s3-{value}", execution_name_prefix=f"s3-{value[:12]}")
    raise InputError(f"SOURCE_KIND {kind!r} is invalid: expected git or s3")


def parse_repository_uri(uri: str | None) -> Repository:
    match = REPOSITORY_URI.match((uri or "").strip())
    if not match:
        raise InputError(f"IMAGE_REPOSITORY_URI {uri!r} is invalid: expected "
                         "<account>.dkr.ecr.<region>.amazonaws.com/<repository>")
    return Repository(uri=match.group(0), **{k: match.group(k) for k in ("registry", "account", "region", "name")})


def load_manifest(path: Path, allowed_buckets: Sequence[str] = ()) -> dict[str, Any]:
    """The manifest's data locations and hyperparameters, validated; ``{}`` when the file is absent.

    Every problem is reported at once, naming the key, the bad value and what is allowed.
    """
    if not path.is_file():
        log(f"no data manifest at {path}: the workflow uses the stack's default data locations")
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise InputError(f"{path} must hold a JSON object, not {type(manifest).__name__}")
    problems = [f"{path}: key {key!r} is not allowed (allowed: {', '.join(MANIFEST_KEYS)})"
                for key in manifest if key not in MANIFEST_KEYS]
    result: dict[str, Any] = {}
    for key in DATA_KEYS:
        if key not in manifest:
            continue
        value = manifest[key]
        match = S3_URI.match(value) if isinstance(value, str) else None
        if not match:
            problems.append(f"{path}: {key} = {value!r} is invalid: expected an S3 URI such as "
                            "s3://<bucket>/data/train/")
        elif allowed_buckets and match.group("bucket") not in allowed_buckets:
            problems.append(f"{path}: {key} = {value!r} is invalid: the bucket must be one the training workflow "
                            f"may read ({', '.join(allowed_buckets)})")
        else:
            result[key] = value
    if "hyperparameters" in manifest:
        hyper = manifest["hyperparameters"]
        if not isinstance(hyper, dict) or not all(isinstance(k, str) and k and isinstance(v, str)
                                                  for k, v in hyper.items()):
            problems.append(f"{path}: hyperparameters = {hyper!r} is invalid: expected an object of string names "
                            'to string values, e.g. {"max_depth": "5"} (SageMaker passes hyperparameters as strings)')
        else:
            result["hyperparameters"] = hyper
    if "description" in manifest and not isinstance(manifest["description"], str):
        problems.append(f"{path}: description must be a string")
    if problems:
        raise InputError("\n".join(problems))
    return result


def start_input(revision: Revision, repository: Repository, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The training workflow's execution input (docs/pipeline.md, "What the Train stage sends")."""
    return {"commitId": revision.tag, "imageUri": f"{repository.uri}:{revision.tag}", **manifest}


# ---------------------------------------------------------------------------------------------------
# Tools: aws and docker


def run(args: Sequence[str], *, input_text: str | None = None, show: str | None = None) -> subprocess.CompletedProcess:
    """Run a command, capturing its output. ``show`` is what the log says instead of the raw command."""
    log(f"$ {show or ' '.join(args)}")
    return subprocess.run(list(args), input=input_text, capture_output=True, text=True, check=False)


def image_exists(repository: Repository, tag: str) -> bool:
    """Is ``<repository>:<tag>`` already in ECR? ``ImageNotFoundException`` means no; other errors fail."""
    result = run(["aws", "ecr", "describe-images", "--region", repository.region,
                  "--registry-id", repository.account, "--repository-name", repository.name,
                  "--image-ids", f"imageTag={tag}", "--query", "imageDetails[0].imageDigest", "--output", "text"])
    if result.returncode == 0:
        log(f"{repository.name}:{tag} exists ({result.stdout.strip()})")
        return True
    if "ImageNotFoundException" in result.stderr:
        return False
    raise ToolError(f"aws ecr describe-images failed (exit {result.returncode}): {result.stderr.strip()}")


def docker_login(repository: Repository) -> None:
    """``aws ecr get-login-password | docker login --password-stdin``, without the password in any log."""
    token = run(["aws", "ecr", "get-login-password", "--region", repository.region])
    if token.returncode != 0 or not token.stdout.strip():
        raise ToolError(f"aws ecr get-login-password failed (exit {token.returncode}): {token.stderr.strip()}")
    login = run(["docker", "login", "--username", "AWS", "--password-stdin", repository.registry],
                input_text=token.stdout)
    if login.returncode != 0:
        raise ToolError(f"docker login to {repository.registry} failed (exit {login.returncode}): "
                        f"{login.stderr.strip()}")
    log(f"logged in to {repository.registry}")


def build_and_push(repository: Repository, revision: Revision, context: Path) -> None:
    image = f"{repository.uri}:{revision.tag}"
    if not (context / "Dockerfile").is_file():
        raise InputError(f"{context}/Dockerfile not found: the build context is the container/ directory")
    docker_login(repository)
    built = subprocess.run(["docker", "build", "--tag", image,
                            "--label", f"org.opencontainers.image.revision={revision.tag}", str(context)],
                           check=False)  # streamed: build output is the useful part of the log
    log(f"$ docker build --tag {image} {context} -> exit {built.returncode}")
    if built.returncode != 0:
        raise ToolError(f"docker build failed (exit {built.returncode})")
    pushed = subprocess.run(["docker", "push", image], check=False)
    log(f"$ docker push {image} -> exit {pushed.returncode}")
    if pushed.returncode != 0:
        # Two executions for the same commit may race; with immutable tags the second push fails even
        # though the image it wanted is there. That is success, anything else is not.
        if image_exists(repository, revision.tag):
            log("the tag was pushed concurrently by another build of the same revision; using it")
            return
        raise ToolError(f"docker push {image} failed (exit {pushed.returncode})")


# ---------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=Path, default=Path("container"), help="docker build context")
    parser.add_argument("--manifest", type=Path, default=Path("data/manifest.json"), help="training data manifest")
    parser.add_argument("--output", type=Path, default=Path("sf_start_params.json"), help="workflow start input")
    parser.add_argument("--exports", type=Path, default=Path("build.env"), help="exported variables (KEY=value)")
    args = parser.parse_args(argv)
    try:
        repository = parse_repository_uri(env.get("IMAGE_REPOSITORY_URI"))
        revision = resolve_revision(env.get("SOURCE_KIND", "git"), env.get("SOURCE_REVISION"),
                                    env.get("CODEBUILD_RESOLVED_SOURCE_VERSION"))
        allowed = tuple(b for b in (env.get("ALLOWED_DATA_BUCKETS") or "").split(",") if b)
        manifest = load_manifest(args.manifest, allowed)
        log(f"revision {revision.tag}, image {repository.uri}:{revision.tag}")
        if image_exists(repository, revision.tag):
            log("skipping docker build and push: this revision's image is already in ECR")
            built = False
        else:
            build_and_push(repository, revision, args.context)
            built = True
    except InputError as exc:
        print(f"[build_image] error: {exc}", file=sys.stderr)
        return 2
    except ToolError as exc:
        print(f"[build_image] error: {exc}", file=sys.stderr)
        return 1
    document = start_input(revision, repository, manifest)
    args.output.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    args.exports.write_text("".join(f"export {k}={v}\n" for k, v in {
        "IMAGE_TAG": revision.tag,
        "IMAGE_URI": document["imageUri"],
        "IMAGE_BUILT": "true" if built else "false",
        "EXECUTION_NAME_PREFIX": revision.execution_name_prefix,
    }.items()), encoding="utf-8")
    log(f"wrote {args.output}: {json.dumps(document, sort_keys=True)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
