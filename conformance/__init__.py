"""chat-conformance: a suite that judges any Chat App API implementation against openapi.yaml.

Run it with the `chat-conformance` console script or as a pytest plugin (`-p conformance.plugin`).
It shares data (the contract, fixtures) with the mock server but never code.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
