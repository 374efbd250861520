"""Bring your own model, from upload to prod: the registry stack's groups, upload rules and registration
state machine under Pulumi's mocks (exact IAM, the EventBridge pattern matching only the entry's key)."""

from __future__ import annotations

from tools.tokens import Token


def test_every_stack_bucket_is_versioned_and_sends_its_object_events_to_eventbridge(each_stack):
    (bucket,) = each_stack.by_type(Token.S3_BUCKET)
    (versioning,) = each_stack.by_type(Token.S3_BUCKET_VERSIONING)
    (notification,) = each_stack.by_type(Token.S3_BUCKET_NOTIFICATION)
    assert versioning.inputs["bucket"] == bucket.name
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    assert notification.inputs["bucket"] == bucket.name
    assert notification.inputs["eventbridge"] is True
