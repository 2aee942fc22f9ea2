"""Helpers shared by the integration tests, the browser test and the benchmark."""
