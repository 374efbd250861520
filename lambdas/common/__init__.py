"""Code shared by every function in lambdas/ (packaged into each function's zip as `common/`).

Only the standard library and the boto3 that the python3.12 Lambda runtime ships are used.
"""
