"""The domain: API types, conditions, issuer check, request and order reconcilers."""
