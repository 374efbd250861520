"""Integration tests run by the model promotion against the staging endpoint (see run.py)."""
