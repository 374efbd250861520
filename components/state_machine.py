"""A standard Step Functions state machine with its own role and encrypted log group.

Every workflow of the program has the same frame: a role only Step Functions may assume, only for this
state machine, with exactly the statements the caller lists; a log group ``/aws/vendedlogs/states/<name>``
(stack retention, stack key) receiving every event without execution data (task inputs can carry
tokens), X-Ray tracing on; the state machine created after the role's policy, since CreateStateMachine
with logging checks that the role may deliver logs. The frame is written here once; the components say
only what their workflow does (definition, statements).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from components.context import StackContext
from components.iam import service_role


def logged_state_machine(name: str, *, ctx: StackContext, machine_name: str, definition: pulumi.Input[str],
                         role_base: str, role_name: str, role_description: str,
                         statements: Sequence[dict[str, Any]], parent: pulumi.Resource) -> aws.sfn.StateMachine:
    """``<name>-logs`` and ``<name>-state-machine`` (named ``machine_name``) under ``parent``, run as the
    role ``<role_base>-role`` (``role_name``) whose policy ``<role_base>-policy`` is ``statements``
    (they include ``state_machine_logging_statements()``)."""
    child = pulumi.ResourceOptions(parent=parent)
    log_group = aws.cloudwatch.LogGroup(
        f"{name}-logs", name=f"/aws/vendedlogs/states/{machine_name}",
        retention_in_days=ctx.log_retention_days, kms_key_id=ctx.kms_key_arn, opts=child)
    role, policy = service_role(
        role_base, role_name=role_name, description=role_description, service="states.amazonaws.com",
        account_id=ctx.account, source_arn=ctx.names.state_machine_arn_of(machine_name), statements=statements,
        opts=child)
    return aws.sfn.StateMachine(
        f"{name}-state-machine", name=machine_name, type="STANDARD", role_arn=role.arn, definition=definition,
        logging_configuration={"level": "ALL", "include_execution_data": False,
                               "log_destination": pulumi.Output.concat(log_group.arn, ":*")},
        tracing_configuration={"enabled": True},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[policy]))
