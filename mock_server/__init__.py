"""chat-mock: a stateful, streaming mock of the three chat surfaces, driven by openapi.yaml."""

from mock_server.app import create_app
from mock_server.config import MockConfig

__all__ = ["MockConfig", "create_app"]
