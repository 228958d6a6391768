"""Where the HTTP DNS providers' APIs are: the real services, or emulators in tests and demos."""

from __future__ import annotations

from dataclasses import dataclass

CLOUDFLARE_API_URL = "https://api.cloudflare.com/client/v4"
ROUTE53_API_URL = "https://route53.amazonaws.com"


@dataclass(frozen=True, slots=True)
class ProviderEndpoints:
    """API base URLs (no trailing slash)."""

    cloudflare: str = CLOUDFLARE_API_URL
    route53: str = ROUTE53_API_URL
