"""The bootstrap program: what one AWS account needs before the mlops program's first ``pulumi up``."""
