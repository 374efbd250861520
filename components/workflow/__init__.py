"""The training workflow's Amazon States Language definition, built in Python.

`definition.build_definition(params)` returns the state machine as a plain dict (``json.dumps`` it for
``aws.sfn.StateMachine(definition=...)``). Nothing here imports Pulumi: every value in
`params.WorkflowDefinitionParams` is a plain string or number, so the component resolves its Outputs
first (``Output.all(...).apply(...)``) and the package stays testable with statelint and moto.

One module per job: `states` (state and error names), `params` (the parameters and their checks),
`steps` (main-path steps wired from one declared order), `tasks` (Task, retry, catch and failure-Pass
helpers), one module per stage (`input`, `training`, `approval`, `deploy`, `finish`) and `definition`
(the declared main path and the document).

The flow (docs/workflow.md has the diagram)::

    ValidateInput → ApplyDefaults → MergeInput → ResolveRun
    → Train (.sync) → CreateModel → Evaluate (batch transform .sync on the test data) → EvaluateModel
    → CheckEvaluation → RegisterModel (PendingManualApproval) → RequestApproval (.waitForTaskToken)
    → ApproveModelPackage → CreateEndpointConfig → FindEndpoint → CreateEndpoint | UpdateEndpoint
    → StartEndpointWait → WaitForEndpoint → DescribeEndpoint → CheckEndpointStatus (loop)
    → SmokeTest → CheckSmokeTest → NotifySuccess → BuildResult → Succeeded

    rejection / approval timeout → MarkModelPackageRejected → NotifyFailure → Failed
    any other error → <Step>Failed (names the step) → NotifyFailure → Failed (Error, Cause from $.failure)

State data stays small: each step stores only what later steps read, under its own key
(``$.run``, ``$.training``, ``$.transform``, ``$.evaluation``, ``$.modelPackage``, ``$.approval``,
``$.deployment``, ``$.endpoint``, ``$.smokeTest``). A caught error goes to ``$.failure``; a Pass state
per step then replaces its Error with a name that says which step failed (``TrainingFailed``, ...,
see `states.STEP_ERRORS`) and keeps the original Cause (for a failed job: the Describe*Job output). The
failure notification and the Fail state read ``$.failure``, so the execution's error is never a
reserved ``States.*`` name.
"""
