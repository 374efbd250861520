"""program/images.py against sagemaker-core: the generated file gives the URIs ``image_uris.retrieve`` gives,
and no preview imports sagemaker-core (issue: a ~5 s preview)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from program import images
from tests.aws_shapes import service_model
from tools import sagemaker_images
from tools.catalog_files import BUILTIN_ALGORITHMS
from tools.mockrun import stack_names

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = json.loads(images.IMAGES_FILE.read_text())


def test_the_shipped_images_file_is_what_sagemaker_core_says():
    """Fails when sagemaker-core is bumped (or the generator changed) without `make catalog-files`."""
    path, text = sagemaker_images.expected_file(BUILTIN_ALGORITHMS)
    assert path == images.IMAGES_FILE
    assert images.IMAGES_FILE.read_text() == text, "program/sagemaker_images.json is stale: run `make catalog-files`"


def _retrieve(**kwargs: str) -> str:
    from sagemaker.core import image_uris

    with sagemaker_images.cached_endpoint_resolver():
        return str(image_uris.retrieve(**kwargs))


@pytest.mark.parametrize("service, function", [("model-monitor", images.model_monitor_image_uri),
                                               ("clarify", images.clarify_image_uri)])
def test_service_images_are_sagemaker_cores_in_every_region_it_knows(service, function):
    from sagemaker.core import image_uris

    regions = sagemaker_images.known_regions((service,))
    assert len(regions) >= 25 and "eu-west-1" in regions and "cn-north-1" in regions
    with sagemaker_images.cached_endpoint_resolver():
        expected = {region: image_uris.retrieve(framework=service, region=region) for region in regions}
    assert {region: function(region) for region in regions} == expected


def test_the_analyzer_image_of_eu_west_1():
    assert images.model_monitor_image_uri("eu-west-1") == \
        "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer"
    assert images.clarify_image_uri("eu-west-1") == "131013547314.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-clarify-processing:1.0"


@pytest.mark.parametrize("function", [images.model_monitor_image_uri, images.clarify_image_uri])
def test_a_region_without_the_image_is_named_with_the_supported_ones(function):
    with pytest.raises(ValueError) as error:
        function("xx-nowhere-1")
    message = str(error.value)
    assert "has no image in region 'xx-nowhere-1' (sagemaker-core as of sagemaker-core==2.27.0)" in message
    assert "supported regions: af-south-1, ap-east-1," in message and "eu-west-1" in message


def _endpoint_instance_types() -> list[str]:
    """One instance type per family of every instance type SageMaker endpoints and batch transforms accept."""
    model = service_model("sagemaker")
    types = set(model.shape_for("ProductionVariantInstanceType").enum) | set(model.shape_for("TransformInstanceType").enum)
    by_family: dict[str, str] = {}
    for instance_type in sorted(types):
        by_family.setdefault(instance_type.split(".")[1], instance_type)
    return sorted(by_family.values())


def test_builtin_images_are_sagemaker_cores_for_every_instance_family():
    """Every built-in algorithm and version, every instance family botocore knows, in two regions: the
    file's image (or its refusal) is sagemaker-core's. Proves ``instance_class`` and the probes per class."""
    instance_types = _endpoint_instance_types()
    families = {instance_type.split(".")[1] for instance_type in instance_types}
    assert len(instance_types) > 40 and {"m5", "g5", "c7g", "inf2", "p3"} <= families
    from sagemaker.core import image_uris

    mismatches = []
    compared = refused = 0
    with sagemaker_images.cached_endpoint_resolver():
        for framework in BUILTIN_ALGORITHMS:
            for version in image_uris.list_versions(framework, "inference"):
                for region in ("eu-west-1", "cn-north-1"):
                    for instance_type in instance_types:
                        try:
                            expected: str | None = image_uris.retrieve(
                                framework=framework, region=region, version=version, image_scope="inference",
                                instance_type=instance_type)
                        except Exception:  # noqa: BLE001 - ValueError, KeyError: sagemaker-core has none
                            expected = None
                        try:
                            got: str | None = images.builtin_image_uri(framework, version, region, instance_type)
                        except ValueError:
                            got = None
                        compared += 1
                        refused += expected is None
                        if got != expected:
                            mismatches.append((framework, version, region, instance_type, expected, got))
    assert not mismatches, mismatches[:10]
    assert compared > 2000 and 0 < refused < compared  # both kinds of answer were compared


def test_builtin_refusals_name_what_is_supported():
    with pytest.raises(ValueError, match=r"^xgboost 0.90-1 has no image for ml.p3.2xlarge \(a gpu instance\); it "
                                         r"has images for cpu instances$"):
        images.builtin_image_uri("xgboost", "0.90-1", "eu-west-1", "ml.p3.2xlarge")
    with pytest.raises(ValueError, match=r"^xgboost has no version '9': expected one of 0.90-1, 0.90-2, 1, "):
        images.builtin_image_uri("xgboost", "9", "eu-west-1", "ml.m5.large")
    with pytest.raises(ValueError, match=r"^xgboost 1.7-1 for ml.m5.large has no image in region 'xx-nowhere-1' "):
        images.builtin_image_uri("xgboost", "1.7-1", "xx-nowhere-1", "ml.m5.large")
    assert images.builtin_image_uri("xgboost", "1.5-1", "eu-west-1", "ml.c7g.large") == \
        "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.5-1-arm64"


PROBE = """
import sys
from tools.mockrun import run_program
run = run_program(sys.argv[1])
loaded = sorted(m for m in sys.modules if m == "sagemaker" or m.startswith("sagemaker."))
print(len(run.resources), loaded)
"""


@pytest.mark.parametrize("stack", stack_names())
def test_a_preview_never_imports_sagemaker(stack):
    """The program of every stack under the preview's mocks (dev trains, staging and prod monitor: every
    image this module serves is asked for) loads no sagemaker module."""
    result = subprocess.run([sys.executable, "-c", PROBE, stack], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    count, loaded = result.stdout.strip().splitlines()[-1].split(" ", 1)
    assert int(count) > 100 and loaded == "[]"


def _pinned(requirements: Path) -> set[str]:
    return {line.split("==")[0].strip().lower() for line in requirements.read_text().splitlines()
            if "==" in line and not line.lstrip().startswith("#")}


def test_sagemaker_core_is_a_generator_dependency_only():
    """Nothing `pulumi up` runs imports it (the test above): the deploy does not install it."""
    assert "sagemaker-core" not in _pinned(ROOT / "requirements.txt")
    assert "sagemaker-core" in _pinned(ROOT / "requirements-dev.txt")
    assert DOCUMENT["generated_from"] == f"sagemaker-core=={version('sagemaker-core')}"
