"""An embedded AWS for the training workflow: moto plus the project's real pieces.

- `emulator` - moto with its Step Functions interpreter, patched so the workflow's definition runs as
  on AWS: a SageMaker task service with ``.sync`` jobs, Lambda invocations dispatched in-process to the
  real handlers in ``lambdas/`` (each with its own environment), and the fixes moto 5.2.5 needs. What
  SageMaker jobs and endpoints *do* is pluggable (`emulator.SageMakerModel`): the tests simulate them
  (``tests/workflow/harness.py``), ``make run`` runs the real container (`container`).
- `container` - SageMaker training, batch transform and endpoints as local processes of ``container/``'s
  ``train`` and ``serve``.
- `stack` - what a stack's Pulumi program records (``tools.mockrun``): the state machine definition, the
  functions and their environment, the REST APIs, the resources to create in the emulated account.
- `gateway` - the recorded REST APIs served on 127.0.0.1, each route proxied to its real handler.

``python -m tools.run_local`` (``make run``) puts them together.
"""
