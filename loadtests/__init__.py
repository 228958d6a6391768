"""Whole-system load, failover and chaos runs (``python -m loadtests``)."""
