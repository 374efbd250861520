"""The mlops policy pack (pulumi-policy). ``python -m`` is not how it runs: the Pulumi CLI starts
``__main__.py`` in this directory; tests import the rules as ``policies.rules``."""
