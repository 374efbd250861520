"""Provisioning API: catalog entries by API call, checked by the catalog file's own validator.

API Gateway REST (v1 proxy events), every route IAM-authorised:

    POST   /pipelines, /provisionpipeline   one entry -> 202 {"pipeline_id", "status_url", ...} | 400 problems
    GET    /pipelines                       the stored pipelines
    GET    /pipelines/{model_name}          one pipeline: entry, state, reason, and per environment, read live
                                            (common/catalog_status.py): the endpoint's name, status and inference
                                            URL, or the batch pipeline's last run; "unknown" with the reason
    POST   /pipelinestatus                  {"pipeline_id": ...}: the same
    DELETE /pipelines/{model_name}          retire it (kept as history; the deploy this starts removes it)

Client mistakes are 4xx with a reason, whatever the body (any JSON depth, size up to the limit, any
types): 400 lists every problem the validator finds, 404 an unknown pipeline, 405 another method, 409 an
entry of the catalog file or a concurrent change, 413 a body over the limit. 502 / 503 only when AWS
fails us. Logs name routes, pipeline ids and counts, never bodies.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from catalog.entries import ImageBuilderEntry, ModelEntry, MonitorEntry
from catalog.store import FINISHED, object_name, record
from catalog.validate import CatalogError, parse_document, pipeline_id, validate_entry
from common import aws, catalog_status, provisioning, web
from common.logs import get_logger
from components.names import Names

log = get_logger("provisioning_api")

MAX_BODY_BYTES = 64 * 1024
"""An entry needs a few KiB; the catalog file's own limit is 1 MiB for ~2000 entries."""
MAX_ID_CHARS = 400
PIPELINE_ID = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$|^[a-z0-9][a-z0-9._~-]*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
ID_ALLOWED = ("a pipeline id: the entry's model_name (1 to 63 letters, digits or '-'), or an image builder's "
              "<ecr_repo_name>:<image_tag> with each '/' of the repository written '~'")
ACCEPTED = "accepted: the entry is stored and a deploy of the registry stack is queued"


class InvalidRequest(web.BadRequest):
    """A client mistake; ``problems`` lists every one found."""

    def __init__(self, message: str, problems: list[str] | None = None, status: int = 400):
        super().__init__(message, status)
        self.problems = problems or []


class NotFound(LookupError):
    """No such pipeline in the catalog store."""


class Conflict(RuntimeError):
    """The request cannot apply to the pipeline as it is (in the catalog file, already retired)."""


def handler(event, context):
    if not isinstance(event, dict) or "httpMethod" not in event:
        raise InvalidRequest("the provisioning API answers API Gateway proxy events only")
    route = f"{str(event.get('httpMethod')).upper()} {event.get('resource')}"
    try:
        response = _route(event)
    except InvalidRequest as exc:
        log.info("refused", route=route, status=exc.status, problems=len(exc.problems))
        payload: dict[str, Any] = {"error": str(exc)}
        if exc.problems:
            payload["problems"] = exc.problems
        return web.json_response(exc.status, payload)
    except web.BadRequest as exc:
        log.info("refused", route=route, status=exc.status)
        return web.json_response(exc.status, {"error": str(exc)})
    except NotFound as exc:
        return web.json_response(404, {"error": str(exc)})
    except (Conflict, provisioning.ConcurrentChange) as exc:
        return web.json_response(409, {"error": str(exc)})
    except provisioning.StoreUnavailable as exc:
        log.error("store unavailable", route=route, error=str(exc))
        return web.json_response(503, {"error": f"{exc}; try again shortly"}, {"Retry-After": "10"})
    except provisioning.InvalidRecord as exc:
        log.error("invalid record", route=route, error=str(exc))
        return web.json_response(502, {"error": f"the catalog store holds a record it cannot read: {exc}"})
    log.info("answered", route=route, status=response["statusCode"])
    return response


def _route(event: dict) -> dict:
    method, resource = str(event.get("httpMethod")).upper(), str(event.get("resource"))
    routes = {
        "/pipelines": {"POST": _provision, "GET": _list},
        "/provisionpipeline": {"POST": _provision},
        "/pipelines/{model_name}": {"GET": _status, "DELETE": _retire},
        "/pipelinestatus": {"POST": _status_by_body},
    }
    if resource not in routes:
        raise NotFound(f"no route {web.describe(resource)}: the API has /v1/pipelines, /v1/pipelines/{{model_name}}, "
                       "/v1/provisionpipeline and /v1/pipelinestatus")
    allowed = routes[resource]
    if method not in allowed:
        return web.json_response(405, {"error": f"{resource} answers {', '.join(allowed)}"}, {"Allow": ", ".join(allowed)})
    return allowed[method](event)


# ---------------------------------------------------------------------------------------------------
# Requests


def _json_body(event: dict) -> Any:
    """The body as JSON, read as strictly as the catalog file (size, depth, NaN, duplicated keys)."""
    text = web.body_text(event, limit=MAX_BODY_BYTES)
    if not text.strip():
        raise InvalidRequest("the body is empty: send one catalog entry as a JSON object (docs/catalog.md)")
    try:
        return parse_document(text, source="")
    except CatalogError as error:
        raise InvalidRequest("the body is not valid JSON", error.problems) from None


def _topology() -> tuple[list[str], dict[str, str]]:
    try:
        environments = json.loads(aws.require_env("ENVIRONMENTS"))
        regions = json.loads(aws.require_env("REGIONS"))
    except ValueError:
        raise aws.ConfigurationError("ENVIRONMENTS and REGIONS must be JSON (the program sets them)") from None
    return environments, regions


def _validated(body: Any) -> ModelEntry | ImageBuilderEntry | MonitorEntry:
    environments, regions = _topology()
    try:
        return validate_entry(body, environments=environments, regions=regions)
    except CatalogError as error:
        raise InvalidRequest(f"the body is not a valid catalog entry: {len(error.problems)} problem(s)",
                             error.problems) from None


def _path_id(event: dict) -> str:
    value = (event.get("pathParameters") or {}).get("model_name")
    return _checked_id(value)


def _checked_id(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_ID_CHARS or not PIPELINE_ID.match(value):
        raise InvalidRequest(f"{web.describe(value)} is not {ID_ALLOWED}")
    return value


def _status_url(event: dict, pid: str) -> str:
    context = event.get("requestContext") or {}
    domain, stage = context.get("domainName"), context.get("stage")
    path = f"/pipelines/{quote(pid, safe='~:')}"
    return f"https://{domain}/{stage}{path}" if isinstance(domain, str) and isinstance(stage, str) else path


# ---------------------------------------------------------------------------------------------------
# Handlers


def _provision(event: dict) -> dict:
    body = _json_body(event)
    entry = _validated(body)
    pid = pipeline_id(entry)
    file_pipelines = {object_name(p) for p in json.loads(aws.require_env("FILE_PIPELINES"))}
    if object_name(pid) in file_pipelines:
        raise Conflict(f"pipeline {pid} is in the catalog file (mlops-config.json): an entry lives in one place; "
                       "change it there (a commit), or remove it there before provisioning it through the API")
    found = provisioning.load(pid)
    provisioning.save(record(pid, body, now=provisioning.now()), found[1] if found else None)
    return _deploy(event, pid, "provision")


def _retire(event: dict) -> dict:
    pid = _path_id(event)

    def change(current: dict[str, Any]) -> dict[str, Any] | None:
        if current.get("retired"):
            raise Conflict(f"pipeline {pid} is already retired (its retirement deploy: {current.get('state')})")
        return {**current, "retired": True, "state": "queued", "reason": None, "execution_id": None,
                "requested_at": provisioning.now()}

    if provisioning.update(pid, change) is None:
        raise NotFound(f"no pipeline {pid} in the catalog store (GET /v1/pipelines lists them)")
    return _deploy(event, pid, "retire")


def _deploy(event: dict, pid: str, action: str) -> dict:
    """Start the stored request's deploy and name it in the record; an accepted request whose deploy does
    not start is recorded as failed and notified (503: the client may retry)."""
    try:
        execution_id = provisioning.start_deploy(pid, action)
    except provisioning.DeployNotStarted as exc:
        provisioning.fail_unstarted(pid, str(exc))
        log.error("deploy not started", pipelineId=pid, action=action, error=str(exc))
        return web.json_response(503, {"error": f"{exc}; the request is recorded as failed: send it again",
                                       "pipeline_id": pid, "status_url": _status_url(event, pid)})
    provisioning.update(pid, lambda r: {**r, "execution_id": execution_id} if not r.get("execution_id") else None)
    log.info("deploy queued", pipelineId=pid, action=action, executionId=execution_id)
    return web.json_response(202, {"pipeline_id": pid, "status_url": _status_url(event, pid), "state": "queued",
                                      "message": ACCEPTED if action == "provision" else
                                      "accepted: the entry is retired; the queued deploy removes what it provisioned"})


def _list(event: dict) -> dict:
    return web.json_response(200, {"pipelines": [
        {"pipeline_id": r["pipeline_id"], "pipeline_type": r["entry"].get("pipeline_type"), "state": r.get("state"),
         "retired": r["retired"], "updated_at": r.get("updated_at"), "status_url": _status_url(event, r["pipeline_id"])}
        for r in provisioning.list_records()]})


def _status_by_body(event: dict) -> dict:
    body = _json_body(event)
    if not isinstance(body, dict):
        raise InvalidRequest(f'the body is {web.describe(body)}: expected {{"pipeline_id": "<id>"}}')
    unknown = sorted(str(k) for k in body if k != "pipeline_id")
    if unknown:
        raise InvalidRequest(f"unknown field(s) {', '.join(web.describe(k) for k in unknown[:5])}: the body holds "
                             'pipeline_id only ({"pipeline_id": "<id>"})')
    if "pipeline_id" not in body:
        raise InvalidRequest('pipeline_id is missing: send {"pipeline_id": "<id>"}')
    return _describe(event, _checked_id(body["pipeline_id"]))


def _status(event: dict) -> dict:
    return _describe(event, _path_id(event))


def _describe(event: dict, pid: str) -> dict:
    found = provisioning.load(pid)
    if found is None:
        raise NotFound(f"no pipeline {pid} in the catalog store (GET /v1/pipelines lists them)")
    current = _reconciled(found[0])
    return web.json_response(200, {
        "pipeline_id": current["pipeline_id"], "pipeline_type": current["entry"].get("pipeline_type"),
        "entry": current["entry"], "retired": current["retired"], "state": current.get("state"),
        "reason": current.get("reason"), "execution_id": current.get("execution_id"),
        "requested_at": current.get("requested_at"), "updated_at": current.get("updated_at"),
        "status_url": _status_url(event, pid), "environments": _environments(current)})


def _reconciled(current: dict[str, Any]) -> dict[str, Any]:
    """A record whose deploy ended while the state-change event was not recorded (yet) is settled from
    CodePipeline's own answer, so GET never reports a finished deploy as waiting."""
    execution_id = current.get("execution_id")
    if current.get("state") in FINISHED or not execution_id:
        return current
    try:
        run = provisioning.execution(execution_id)
    except (ClientError, BotoCoreError) as exc:
        log.warning("deploy state unavailable", pipelineId=current["pipeline_id"], error=aws.error_code(exc))
        return current
    status = str(run.get("status"))
    if status == "Succeeded":
        settled = provisioning.settle(current["pipeline_id"], execution_id, "succeeded")
    elif status in provisioning.FAILED_STATUSES:
        reason = provisioning.failure_reason(execution_id, status, run.get("statusSummary"))
        settled = provisioning.settle(current["pipeline_id"], execution_id, "failed", reason)
    else:
        return current
    return settled or current


# ---------------------------------------------------------------------------------------------------
# Per environment


def _environments(current: dict[str, Any]) -> dict[str, Any]:
    """What is known per environment the entry reaches: the names from the entry and the program's naming
    rule, then what the environment's stack says live (``common.catalog_status``: endpoint status and
    inference URL, or the batch pipeline's last run; ``unknown`` with the reason where it cannot be read);
    for the registry stack, the outputs its last provisioning deploy recorded that name it."""
    environments, regions = _topology()
    try:
        entry = validate_entry(current["entry"], environments=environments, regions=regions)
    except CatalogError as error:  # the topology changed since the entry was stored
        return {"error": f"the stored entry no longer validates: {error.problems[0]}"}
    accounts = json.loads(aws.require_env("ACCOUNTS"))
    stack = aws.require_env("STACK")
    recorded = _recorded_outputs(stack)
    known: dict[str, Any] = {}
    sources: dict[str, catalog_status.StatusSource] = {}
    for environment in environments:
        if not entry.reaches(environment):
            continue
        info: dict[str, Any] = {"deployed_by": "this API's deploy" if environment == stack else "promotion"}
        names = (Names(aws.require_env("PROJECT"), environment, accounts[environment], regions[environment])
                 if environment in accounts else None)
        if isinstance(entry, ModelEntry):
            if entry.realtime:
                given = entry.value_for("endpoint_name", environment)
                info["endpoint_name"] = names.catalog_endpoint_name(entry.model_name, given) if names else given
            else:
                info["batch_inference_data"] = str(entry.value_for("batch_inference_data", environment))
                info["batch_job_output_location"] = str(entry.value_for("batch_job_output_location", environment))
            if names is None:
                info.update(catalog_status.unknown(f"the registry stack does not know the account of {environment}"))
            else:
                sources[environment] = catalog_status.StatusSource(
                    names.catalog_status_role_arn, names.catalog_status_parameter, names.region)
        elif isinstance(entry, MonitorEntry):
            info["monitors_endpoint"] = entry.value_for("endpoint_name", environment)
        else:
            info["image"] = f"{entry.ecr_repo_name}:{entry.image_tag}"
        if environment == stack:
            info["deploy_outputs"] = _naming(recorded, current, entry)
        known[environment] = info
    if isinstance(entry, ModelEntry):
        for environment, live in catalog_status.read_all(sources, entry.model_name, entry.realtime).items():
            known[environment].update(live)
    return known


def _recorded_outputs(stack: str) -> dict[str, Any] | None:
    key = f"{aws.require_env('DEPLOYS_PREFIX')}/{stack}.json"
    try:
        data = aws.client("s3").get_object(Bucket=aws.require_env("STORE_BUCKET"), Key=key)["Body"].read()
        outputs = json.loads(data)
    except (ClientError, BotoCoreError, ValueError):
        return None  # no deploy recorded yet
    return outputs if isinstance(outputs, dict) else None


def _naming(outputs: dict[str, Any] | None, current: dict[str, Any],
            entry: ModelEntry | ImageBuilderEntry | MonitorEntry) -> Any:
    """The recorded stack outputs that name this pipeline (endpoint names, URLs, batch runs), or a note."""
    if outputs is None:
        return "no deploy recorded yet"
    if current.get("state") != "succeeded":
        note = "from the last successful deploy; this pipeline's own deploy has not succeeded yet"
    else:
        note = "from the deploy of this pipeline or a later one"
    needle = entry.ecr_repo_name if isinstance(entry, ImageBuilderEntry) else entry.model_name
    matching = {key: value for key, value in outputs.items()
                if needle in key or needle in json.dumps(value, default=str)}
    return {"note": note, "outputs": matching}
