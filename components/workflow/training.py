"""Training: train (.sync), create the model, score it on held-out data, baseline the training data,
register it for approval.

The model is judged on the test data by a batch transform (never on the data it was trained on), and
only a model that reaches `min_accuracy` is registered, so the approver only sees candidates. The
Baseline step runs SageMaker Model Monitor's analyzer over the training data (a processing job, .sync)
and writes ``statistics.json`` and ``constraints.json`` under ``<output_prefix>/baselines/<run>``; the
package is registered with them as its ``DriftCheckBaselines`` and ``ModelMetrics`` (ModelDataQuality),
so the baseline travels with the package to every environment that serves it (docs/monitoring.md).
"""

from __future__ import annotations

from components.names import BASELINE_FOLDER
from components.workflow.baseline import BaselineJobSpec, JsonPath, baseline_task, data_quality_metrics
from components.workflow.params import WorkflowDefinitionParams
from components.workflow.states import SAGEMAKER_SDK_TRANSIENT_ERRORS, SAGEMAKER_TRANSIENT_ERRORS, S
from components.workflow.steps import Stage, State, Step, step
from components.workflow.tasks import failure_pass, lambda_task, task

__all__ = ["training_states"]


def training_states(p: WorkflowDefinitionParams) -> Stage:
    """Train → CreateModel → Evaluate → EvaluateModel → CheckEvaluation → Baseline → RegisterModel, and the two
    failures CheckEvaluation detects (below the threshold, no usable report)."""
    sm = SAGEMAKER_TRANSIENT_ERRORS
    channel = lambda name, path: {  # noqa: E731 - a tiny local constructor reads better here
        "ChannelName": name,
        "ContentType": "text/csv",
        "InputMode": "File",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri.$": path, "S3DataDistributionType": "FullyReplicated"}},
    }

    def check_evaluation(next_state: str) -> State:
        return {
            "Type": "Choice",
            "Choices": [
                {"And": [
                    {"Variable": "$.evaluation.report.passed", "IsPresent": True},
                    {"Variable": "$.evaluation.report.passed", "IsBoolean": True},
                    {"Variable": "$.evaluation.report.passed", "BooleanEquals": True},
                ], "Next": next_state},
                {"And": [
                    {"Variable": "$.evaluation.report.accuracy", "IsPresent": True},
                    {"Variable": "$.evaluation.report.accuracy", "IsNumeric": True},
                ], "Next": S.BELOW_THRESHOLD},
            ],
            "Default": S.EVALUATION_INVALID,
        }

    return {
        S.TRAIN: step(task(
            p, S.TRAIN, "arn:aws:states:::sagemaker:createTrainingJob.sync",
            {
                "TrainingJobName.$": "$.run.name",
                "RoleArn": p.sagemaker_role_arn,
                "AlgorithmSpecification": {
                    "TrainingImage.$": "$.run.imageUri",
                    "TrainingInputMode": "File",
                    "MetricDefinitions": [{"Name": p.metric_name, "Regex": p.metric_regex}],
                },
                "HyperParameters.$": "$.run.hyperparameters",
                "InputDataConfig": [channel("training", "$.run.trainingData"), channel("validation", "$.run.validationData")],
                "OutputDataConfig": {"S3OutputPath": f"{p.output_prefix}/training", "KmsKeyId": p.kms_key_arn},
                "ResourceConfig": {
                    "InstanceType": p.training_instance_type,
                    "InstanceCount": p.training_instance_count,
                    "VolumeSizeInGB": p.training_volume_gb,
                    "VolumeKmsKeyId": p.kms_key_arn,
                },
                "StoppingCondition": {"MaxRuntimeInSeconds": p.training_max_runtime_seconds},
                "EnableNetworkIsolation": p.network_isolation,
                "Tags": [
                    {"Key": "CommitId", "Value.$": "$.run.commitId"},
                    {"Key": "StepFunctionsExecution", "Value.$": "$$.Execution.Name"},
                ],
            },
            retry_on=sm,
            result_selector={
                "jobName.$": "$.TrainingJobName",
                "modelDataUrl.$": "$.ModelArtifacts.S3ModelArtifacts",
            },
            result_path="$.training",
        )),
        S.CREATE_MODEL: step(task(
            p, S.CREATE_MODEL, "arn:aws:states:::sagemaker:createModel",
            {
                "ModelName.$": "$.run.name",
                "ExecutionRoleArn": p.sagemaker_role_arn,
                "PrimaryContainer": {"Image.$": "$.run.imageUri", "ModelDataUrl.$": "$.training.modelDataUrl"},
                "EnableNetworkIsolation": p.network_isolation,
                "Tags": [{"Key": "CommitId", "Value.$": "$.run.commitId"}],
            },
            retry_on=sm,
            result_selector={"arn.$": "$.ModelArn"},
            result_path="$.model",
        )),
        S.EVALUATE: step(task(
            p, S.EVALUATE, "arn:aws:states:::sagemaker:createTransformJob.sync",
            {
                "TransformJobName.$": "$.run.name",
                "ModelName.$": "$.run.name",
                "TransformInput": {
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri.$": "$.run.testData"}},
                    "ContentType": "text/csv",
                    "SplitType": "Line",
                    "CompressionType": "None",
                },
                "TransformOutput": {
                    "S3OutputPath.$": f"States.Format('{p.output_prefix}/evaluation/{{}}', $.run.name)",
                    "Accept": "text/csv",
                    "AssembleWith": "Line",
                    "KmsKeyId": p.kms_key_arn,
                },
                "TransformResources": {
                    "InstanceType": p.transform_instance_type,
                    "InstanceCount": p.transform_instance_count,
                    "VolumeKmsKeyId": p.kms_key_arn,
                },
                # Test rows are "label,f1,f2,f3,f4": send the features, write "label,prediction".
                "DataProcessing": {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"},
                "Tags": [{"Key": "CommitId", "Value.$": "$.run.commitId"}],
            },
            retry_on=sm,
            comment="Batch transform over the held-out test data (never the training data).",
            result_selector={"jobName.$": "$.TransformJobName", "outputPath.$": "$.TransformOutput.S3OutputPath"},
            result_path="$.transform",
        )),
        S.EVALUATE_MODEL: step(lambda_task(
            p, S.EVALUATE_MODEL, p.evaluate_function_arn,
            {"transformOutput.$": "$.transform.outputPath", "minAccuracy": p.min_accuracy,
             # The report and its confusion-matrix picture are stored here, beside the run's other outputs.
             "reportPrefix.$": f"States.Format('{p.output_prefix}/reports/{{}}', $.run.name)"},
            result_selector={"report.$": "$.Payload"},
            result_path="$.evaluation",
        )),
        S.CHECK_EVALUATION: Step(check_evaluation),
        S.BELOW_THRESHOLD: failure_pass(
            "ModelBelowThreshold",
            f"Test accuracy {{}} is below the required {p.min_accuracy}; the model was not registered. Transform output: {{}}",
            "$.evaluation.report.accuracy", "$.transform.outputPath",
        ),
        S.EVALUATION_INVALID: failure_pass(
            "EvaluationReportInvalid",
            "The evaluate function returned no boolean passed and no numeric accuracy: {}",
            "States.JsonToString($.evaluation.report)",
        ),
        S.BASELINE: step(baseline_task(
            p, S.BASELINE,
            BaselineJobSpec(image_uri=p.baseline_image_uri, kms_key_arn=p.kms_key_arn,
                            instance_type=p.baseline_instance_type, volume_gb=p.baseline_volume_gb,
                            max_runtime_seconds=p.baseline_max_runtime_seconds, network_isolation=p.network_isolation),
            job_name=JsonPath("$.run.name"), role_arn=p.sagemaker_role_arn, dataset=JsonPath("$.run.trainingData"),
            output=JsonPath(f"States.Format('{p.output_prefix}/{BASELINE_FOLDER}/{{}}', $.run.name)"),
            tags=[{"Key": "CommitId", "Value.$": "$.run.commitId"}],
            comment="Model Monitor's data quality baseline of the training data (statistics.json, constraints.json).",
        )),
        S.REGISTER_MODEL: step(task(
            p, S.REGISTER_MODEL, "arn:aws:states:::aws-sdk:sagemaker:createModelPackage",
            {
                "ModelPackageGroupName": p.model_package_group_name,
                "ModelPackageDescription.$": "States.Format('Commit {}, trained by {}', $.run.commitId, $.training.jobName)",
                "ModelApprovalStatus": "PendingManualApproval",
                "InferenceSpecification": {
                    "Containers": [{"Image.$": "$.run.imageUri", "ModelDataUrl.$": "$.training.modelDataUrl"}],
                    "SupportedContentTypes": ["text/csv"],
                    "SupportedResponseMIMETypes": ["text/csv"],
                    "SupportedRealtimeInferenceInstanceTypes": [p.endpoint_instance_type],
                    "SupportedTransformInstanceTypes": [p.transform_instance_type],
                },
                "MetadataProperties": {"CommitId.$": "$.run.commitId", "GeneratedBy.$": "$$.Execution.Id"},
                # The baseline travels with the package: monitors of every endpoint serving it read these.
                **data_quality_metrics("$.baseline"),
                "CustomerMetadataProperties": {
                    "accuracy.$": "States.Format('{}', $.evaluation.report.accuracy)",
                    "transformOutput.$": "$.transform.outputPath",
                    "trainingJob.$": "$.training.jobName",
                    "baselineJob.$": "$.baseline.jobName",
                },
            },
            retry_on=SAGEMAKER_SDK_TRANSIENT_ERRORS,
            result_selector={"arn.$": "$.ModelPackageArn"},
            result_path="$.modelPackage",
        )),
    }

