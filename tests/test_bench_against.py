"""tools/bench_against.py: the ref's tree it measures, and a ref git does not know."""

from __future__ import annotations

import pytest

from tools import bench_against, bench_preview


def test_extract_gives_the_tracked_files_of_the_ref(tmp_path):
    tree = bench_against.extract("HEAD", tmp_path)
    assert (tree / "__main__.py").is_file() and (tree / "program" / "images.py").is_file()
    assert (tree / "program" / "sagemaker_images.json").read_text() == \
        (bench_preview.ROOT / "program" / "sagemaker_images.json").read_text()
    assert not (tree / ".venv").exists()  # tracked files only: the same Python runs both trees


def test_an_unknown_ref_fails_before_any_preview(capsys):
    assert bench_preview.main(["--against", "no-such-ref-anywhere", "--runs", "1"]) == 2
    assert "git archive no-such-ref-anywhere" in capsys.readouterr().err


def test_several_stacks_need_against():
    with pytest.raises(SystemExit):
        bench_preview.main(["--stack", "dev", "--stack", "staging"])
