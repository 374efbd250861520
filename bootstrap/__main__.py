"""Bootstrap one account (README "From a new AWS account to `pulumi up`"): settings in, resources out."""

import sys
from pathlib import Path

# `pulumi up` runs this file from bootstrap/; the repository root holds bootstrap/ and components/names.py.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi

from bootstrap.resources import build
from bootstrap.settings import load_settings

for key, value in build(load_settings()).items():
    pulumi.export(key, value)
