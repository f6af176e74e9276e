"""chat-conformance: a suite that judges any Chat App API implementation against openapi.yaml.

Run it with the `chat-conformance` console script or as a pytest plugin (`-p conformance.plugin`).
It shares data (the contract, fixtures) with the mock server but never code.
"""

from importlib.metadata import PackageNotFoundError, version


def _installed_version() -> str:
    """The kit's version, from the one place it is written (pyproject.toml, via the installed metadata)."""
    try:
        return version("chat-contract-kit")
    except PackageNotFoundError:
        return "unknown (not installed)"


__all__ = ["__version__"]
__version__ = _installed_version()
