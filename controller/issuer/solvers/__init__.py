"""Validation solvers: HTTP, DNS (RFC 2136, external-dns, Cloudflare, Route53), email."""
