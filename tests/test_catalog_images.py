"""Catalog image builds (``byom_image_builder``): the registry bucket's uploads reach EventBridge, the
repository, the build project, its buildspec, IAM, the upload trigger and the failure notification."""

from __future__ import annotations

import pytest

from tools.tokens import Token


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_stack_bucket_sends_its_events_to_eventbridge(stack, stack_run):
    run = stack_run(stack)
    bucket = run.one(Token.S3_BUCKET)
    notification = run.one(Token.S3_BUCKET_NOTIFICATION)
    assert notification.inputs == {"bucket": bucket.id, "eventbridge": True}
    assert notification.parent == run.one("mlops:foundation:Foundation").urn
