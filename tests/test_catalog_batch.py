"""Batch catalog entries (byom_batch_builtin, byom_batch_custom) as batch transform pipelines."""

from __future__ import annotations

import pytest

from tools.tokens import Token


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_stack_bucket_sends_its_object_events_to_eventbridge(stack_run, stack):
    run = stack_run(stack)
    (notification,) = run.by_type(Token.S3_BUCKET_NOTIFICATION)
    bucket = run.one(Token.S3_BUCKET)
    assert notification.inputs == {"bucket": bucket.id, "eventbridge": True}
    assert notification.parent_name == bucket.parent_name
