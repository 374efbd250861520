"""The real stack plus two deliberate mistakes the policy pack must catch: an untagged bucket (no stack
provider, so no default tags) and a role policy allowing ``s3:*``."""

import json
import runpy
from pathlib import Path

import pulumi_aws as aws

runpy.run_path(str(Path(__file__).resolve().parents[2] / "__main__.py"))

aws.s3.Bucket("deliberately-untagged-bucket")
role = aws.iam.Role("deliberately-careless-role", assume_role_policy=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
aws.iam.RolePolicy("deliberately-careless-policy", role=role.id, policy=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
