"""Workflows: library functions that run several packages' steps in order (the demo), which
the CLI and the API call and print or serve."""
