"""`python -m conformance` is `chat-conformance`."""

from conformance.cli import main

raise SystemExit(main())
