"""`python -m mock_server` is the same as `chat-mock`."""

from mock_server.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
