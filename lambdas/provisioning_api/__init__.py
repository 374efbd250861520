"""Lambda function package; the entry point is handler.handler."""
