"""The training image build (pipeline/buildspec.yml runs build_image.py as a script); a package so that
tools/first_run.py reuses its start input."""
