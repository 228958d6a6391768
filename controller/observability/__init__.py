"""Metrics catalog, tracing, logging and redaction."""
