"""The promotion's CodeBuild buildspecs: deploy (preview or up) one target stack, test one target's endpoint.

Which config key a package goes to, what stays pinned and which endpoint is tested is decided by
``pipeline/promotion_config.py`` (standard library, tested) from ``PROMOTION_PLAN``, never in shell:

- the trained model's group -> ``modelPackageArn=<arn>``; a catalog entry's group ->
  ``catalogPackages.<model_name>=<arn>`` (``pulumi config set-all --path``); the target's current outputs
  (``modelPackageArn``, ``catalogPackages``) are pinned again, so nothing else it serves changes;
- an environment the package does not go to (a trained package in the registry stack, whose training
  workflow deployed it; a catalog entry that does not reach the environment) deploys nothing and the
  build succeeds, saying why.
"""

from __future__ import annotations

_INSTALL_AND_LOGIN = """\
phases:
  install:
    commands:
      - curl -fsSL https://get.pulumi.com | sh -s -- --version "$PULUMI_VERSION"
      - export PATH="$HOME/.pulumi/bin:$PATH"
      - python3 -m venv .venv && .venv/bin/pip install --quiet -r requirements.txt
  build:
    commands:
      - export PATH="$HOME/.pulumi/bin:$PATH"
{prepare}      - pulumi login "$PULUMI_BACKEND_URL"
      - pulumi stack select "$TARGET_STACK"
"""


def pulumi_stack_buildspec(*, prepare: str, deploy: str, env: str = "", tail: str = "") -> str:
    """A bash buildspec that runs the program on one stack: the Pulumi CLI ``$PULUMI_VERSION`` and the
    program's requirements installed, then the build commands ``prepare``, ``pulumi login
    "$PULUMI_BACKEND_URL"``, ``pulumi stack select "$TARGET_STACK"`` and the build commands ``deploy``.
    ``prepare`` and ``deploy`` are buildspec command lines (``      - ...``), ``env`` lines under ``env:``
    after the shell, ``tail`` top-level sections after the phases. The promotion's and the provisioning
    API's deploys share this frame."""
    return ("version: 0.2\nenv:\n  shell: bash\n" + env + _INSTALL_AND_LOGIN.format(prepare=prepare) + deploy
            + tail)


# The deploy build: the Pulumi CLI, the program's requirements, then, on the target stack with the package
# pinned for this run (the target stack's provider assumes its deployRoleArn):
#   MODE=preview  `pulumi preview --diff` (the approver's change set: the build log, PREVIEW_URL) and the
#                 changes as JSON, kept as the stage's output artifact;
#   MODE=up       where an approval preceded it (APPROVED_PREVIEW names the preview's artifact), a new
#                 preview must make exactly the approved changes, else nothing is deployed; then `pulumi up`,
#                 and the stack's outputs must then show the package served.
DEPLOY_BUILDSPEC = pulumi_stack_buildspec(
    env="""\
  exported-variables: [MODEL_PACKAGE_ARN, TARGET_STACK, PREVIEW_URL]
""",
    prepare="""\
      - export PREVIEW_URL="$CODEBUILD_BUILD_URL"
""",
    deploy="""\
      - mkdir -p preview promotion
      - pulumi stack output --json > promotion/outputs.json
      - python3 pipeline/promotion_config.py deploy --plan "$PROMOTION_PLAN" --package "$MODEL_PACKAGE_ARN" --environment "$TARGET_STACK" --outputs promotion/outputs.json > promotion/config.txt
      - |
        if [ ! -s promotion/config.txt ]; then
          echo "nothing to deploy in $TARGET_STACK for $MODEL_PACKAGE_ARN" | tee preview/skipped.txt
          exit 0
        fi
      - mapfile -t CONFIG < promotion/config.txt && pulumi config set-all --path "${CONFIG[@]}"
      - export POLICY="--policy-pack policies --policy-pack-config policies/config/$TARGET_STACK.json"
      - |
        if [ "$MODE" = "preview" ]; then
          pulumi preview --diff --non-interactive $POLICY | tee preview/diff.txt
          pulumi preview --json --non-interactive $POLICY > preview/preview.json
          python3 tools/preview_steps.py steps preview/preview.json > preview/steps.json
          exit 0
        fi
      - |
        if [ -n "${APPROVED_PREVIEW:-}" ]; then
          approved_dir_var="CODEBUILD_SRC_DIR_${APPROVED_PREVIEW}"
          pulumi preview --json --non-interactive $POLICY > preview/now.json
          python3 tools/preview_steps.py compare "${!approved_dir_var}/preview/steps.json" preview/now.json
        fi
      - pulumi up --yes --non-interactive $POLICY
      - pulumi stack output --json > promotion/deployed.json
      - python3 pipeline/promotion_config.py verify --plan "$PROMOTION_PLAN" --package "$MODEL_PACKAGE_ARN" --environment "$TARGET_STACK" --outputs promotion/deployed.json
""",
    tail="""\
artifacts:
  files: [preview/**/*]
""",
)

# The integration tests: known records and expected answers, sent to the endpoint serving the promoted
# package with the tester role (the trained model's endpoint and integration/cases; a catalog entry's
# endpoint and integration/cases/catalog/<model_name>); JUnit report in CodeBuild, the build URL exported.
TEST_BUILDSPEC = """\
version: 0.2
env:
  shell: bash
  exported-variables: [REPORT_URL]
phases:
  install:
    commands:
      - python3 -m venv .venv && .venv/bin/pip install --quiet -r integration/requirements.txt
  build:
    commands:
      - export REPORT_URL="$CODEBUILD_BUILD_URL"
      - python3 pipeline/promotion_config.py tests --plan "$PROMOTION_PLAN" --package "$MODEL_PACKAGE_ARN" --environment "$TARGET_STACK" --endpoint "$ENDPOINT_NAME" > integration-arguments.txt
      - |
        if [ ! -s integration-arguments.txt ]; then
          echo "no integration tests for $MODEL_PACKAGE_ARN in $TARGET_STACK (the reason is above)"
          exit 0
        fi
      - mapfile -t TESTED < integration-arguments.txt && .venv/bin/python integration/run.py "${TESTED[@]}" --region "$TARGET_REGION" --role-arn "$TESTER_ROLE_ARN" --report-dir integration-report --expected-package "$MODEL_PACKAGE_ARN"
reports:
  integration-tests:
    files: [junit.xml]
    base-directory: integration-report
    file-format: JUNITXML
"""
