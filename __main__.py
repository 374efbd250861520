"""MLOps platform: one stack per environment. Read settings, build the stack, export its outputs."""

from program.compose import build_stack, export
from program.settings import load_settings

export(build_stack(load_settings()))
