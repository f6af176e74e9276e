"""`python -m payload_conversions` is `chat-pipeline`."""

import sys

from payload_conversions.cli import main

sys.exit(main())
