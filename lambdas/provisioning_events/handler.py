"""Records the provisioning deploys' state in the catalog store (EventBridge, CodePipeline state changes).

    Stage Execution State Change, stage Deploy, STARTED          -> the record is running
    Pipeline Execution State Change, SUCCEEDED                   -> succeeded
    Pipeline Execution State Change, FAILED / STOPPED / CANCELED -> failed, with the failed action's
      / SUPERSEDED                                                  reason; published on the topic

The execution's ``PIPELINE_ID`` variable names the record; a record that names a later deploy (the
pipeline was requested again) is left alone. Events of other pipelines, of executions started by hand
(no ``PIPELINE_ID``) and other states are logged and ignored. A malformed event raises
``InvalidEvent``; AWS failures raise, so EventBridge retries the delivery.
"""

from __future__ import annotations

from common import aws, provisioning
from common.logs import get_logger

log = get_logger("provisioning_events")

PIPELINE_EVENT = "CodePipeline Pipeline Execution State Change"
STAGE_EVENT = "CodePipeline Stage Execution State Change"
ENDED = {"SUCCEEDED": "Succeeded", "FAILED": "Failed", "STOPPED": "Stopped", "CANCELED": "Cancelled",
         "SUPERSEDED": "Superseded"}
"""Pipeline execution states in events -> the execution status GetPipelineExecution reports."""


class InvalidEvent(ValueError):
    """Not a CodePipeline state-change event of the provisioning pipeline."""


def handler(event, context):
    if not isinstance(event, dict) or not isinstance(event.get("detail"), dict):
        raise InvalidEvent("expected an EventBridge event with a detail object")
    kind, detail = event.get("detail-type"), event["detail"]
    execution_id, state = detail.get("execution-id"), detail.get("state")
    if not isinstance(execution_id, str) or not isinstance(state, str):
        raise InvalidEvent("the event's detail has no execution-id and state")
    if detail.get("pipeline") != aws.require_env("PIPELINE_NAME"):
        log.warning("event of another pipeline ignored", pipeline=str(detail.get("pipeline"))[:100])
        return {"ignored": "another pipeline"}
    if kind == STAGE_EVENT:
        if detail.get("stage") != aws.require_env("DEPLOY_STAGE") or state != "STARTED":
            return {"ignored": f"stage {detail.get('stage')} {state}"}
        target = "running"
    elif kind == PIPELINE_EVENT and state in ENDED:
        target = "succeeded" if state == "SUCCEEDED" else "failed"
    else:
        return {"ignored": f"{kind} {state}"}

    run = provisioning.execution(execution_id)
    pipeline_id = provisioning.variables(run).get(provisioning.PIPELINE_ID_VARIABLE)
    if not pipeline_id or pipeline_id == "none":
        log.warning("deploy without a pipeline id", executionId=execution_id, state=state)
        return {"ignored": "started without a pipeline id"}
    reason = None
    if target == "failed":
        reason = provisioning.failure_reason(execution_id, ENDED[state], run.get("statusSummary"))
    settled = provisioning.settle(pipeline_id, execution_id, target, reason)
    log.info("deploy event", pipelineId=pipeline_id, executionId=execution_id, state=state,
             recorded=settled is not None)
    return {"pipeline_id": pipeline_id, "state": settled["state"] if settled else None}
