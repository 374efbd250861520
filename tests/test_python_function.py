"""Lambda packaging: the function's files at the archive root (Lambda imports ``handler``) and the
shared ``common`` package beside them."""

from __future__ import annotations

import pulumi
import pytest

from components.python_function import code_archive


@pytest.mark.parametrize("folder", ["approval_request", "approval_decision", "notify", "evaluate", "inference_proxy"])
def test_archive_has_handler_at_root_and_common_package(folder):
    archive = code_archive(folder)
    assert isinstance(archive, pulumi.AssetArchive)
    assert "handler.py" in archive.assets
    assert isinstance(archive.assets["handler.py"], pulumi.FileAsset)
    assert archive.assets["handler.py"].path.endswith(f"lambdas/{folder}/handler.py")
    assert isinstance(archive.assets["common"], pulumi.FileArchive)
    assert not any("__pycache__" in key for key in archive.assets)


def test_unknown_folder_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="lambdas/nope/handler.py does not exist"):
        code_archive("nope")


def test_pure_python_packages_are_copied_with_their_licence():
    archive = code_archive("evaluate", ("drawsvg",))
    assert archive.assets["drawsvg/__init__.py"].path.endswith("site-packages/drawsvg/__init__.py")
    assert "drawsvg-2.4.2.dist-info/licenses/LICENSE.txt" in archive.assets
    assert not any(key.endswith(".pyc") or "__pycache__" in key for key in archive.assets)
    assert "handler.py" in archive.assets and "common" in archive.assets


def test_packages_with_native_code_are_refused():
    with pytest.raises(ValueError, match="package numpy contains native code .*only pure-Python packages"):
        code_archive("evaluate", ("numpy",))
