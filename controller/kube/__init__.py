"""Generic Kubernetes plumbing: client, informers, work queue, leader election, events.

Nothing here knows ZeroSSL or cert-manager.
"""
