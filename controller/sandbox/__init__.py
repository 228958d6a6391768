"""Emulated kube-apiserver and ZeroSSL for the demo, tests and load tests.

Imports nothing from the rest of ``controller``.
"""
