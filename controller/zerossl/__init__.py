"""The ZeroSSL REST API: client, models, errors, limiter. No Kubernetes imports."""
