"""The catalog's image builders (``byom_image_builder``) in the registry stack: one ECR repository per
``ecr_repo_name`` and one build per entry.

Images are built once, where the models are registered, and pulled from there by every environment, as
the trained model's image is: each repository lets the promoted accounts' model roles pull
(``model_reader_role_arns``). A custom entry uses a built image by naming it in ``custom_image_uri``:
``<registry account>.dkr.ecr.<region>.amazonaws.com/mlops-<registry env>-<ecr_repo_name>:<image_tag>`` (the repository is ``ecr_repo_name`` inside the registry stack's prefix, ``Names.catalog_repository``) (``built_image`` tells
which entry builds a URI). A custom entry may also name an image no entry builds (pushed some other way).
"""

from __future__ import annotations

from typing import Any

import pulumi

from catalog.entries import ImageBuilderEntry
from components.context import StackContext
from components.image_builder import ImageBuild, ImageBuildArgs
from components.image_repository import ModelImageRepository, ModelImageRepositoryArgs
from program.settings import Settings
from program.topology import catalog_reader_role_arns, model_reader_role_arns, registry_names


def image_uri(settings: Settings, entry: ImageBuilderEntry) -> str:
    """The image ``entry`` builds, in the registry stack's account and region."""
    return registry_names(settings).catalog_image_uri(entry.ecr_repo_name, entry.image_tag)


def built_image(settings: Settings, uri: str) -> ImageBuilderEntry | None:
    """The image builder entry whose image ``uri`` is (a custom entry's ``custom_image_uri``), or None: an
    image the catalog does not build."""
    return next((e for e in settings.catalog.catalog.image_builders if image_uri(settings, e) == uri), None)


def build_images(ctx: StackContext, settings: Settings) -> dict[str, Any]:
    """The registry stack's repositories and builds; the output ``catalogImages``:
    ``{"<repository>:<tag>": {"imageUri", "repositoryUrl", "buildProject"}}``. Other stacks build nothing."""
    entries = settings.catalog.catalog.image_builders
    if not settings.is_registry or not entries:
        return {}
    names = ctx.names
    repositories: dict[str, ModelImageRepository] = {}
    images: dict[str, Any] = {}
    for entry in entries:
        repository = repositories.get(entry.ecr_repo_name)
        if repository is None:
            repository = repositories[entry.ecr_repo_name] = ModelImageRepository(
                f"{names.prefix}-byom-image-{entry.ecr_repo_name}",
                ModelImageRepositoryArgs(ctx, name=names.catalog_repository(entry.ecr_repo_name), reader_role_arns=(*model_reader_role_arns(settings), *catalog_reader_role_arns(settings))),
                opts=ctx.opts)
        uri = image_uri(settings, entry)
        build = ImageBuild(
            f"{names.prefix}-byom-image-{entry.ecr_repo_name}:{entry.image_tag}",
            ImageBuildArgs(ctx, repository_name=entry.ecr_repo_name, repository_arn=repository.repository_arn,
                           image_tag=entry.image_tag, image_uri=uri, source_key=entry.custom_algorithm_docker),
            opts=ctx.opts)
        images[f"{entry.ecr_repo_name}:{entry.image_tag}"] = {
            "imageUri": uri, "repositoryUrl": repository.repository_url, "buildProject": build.project_name}
    return {"catalogImages": pulumi.Output.from_input(images)}
