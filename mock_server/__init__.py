"""chat-mock: a stateful, streaming mock of the three chat surfaces, driven by openapi.yaml."""

from mock_server.app import create_app
from mock_server.config import MockConfig

__all__ = ["MockConfig", "__version__", "create_app"]


def _installed_version() -> str:
    """The kit's version, from the one place it is written (pyproject.toml, via the installed metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chat-contract-kit")
    except PackageNotFoundError:
        return "unknown (not installed)"


__version__ = _installed_version()
