"""The conformance checks, one module per area (test_<area>.py), collected by the plugin."""
