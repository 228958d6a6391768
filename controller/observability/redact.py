"""Redaction of secrets from anything that may reach a log, Event, span, metric or exception.

Invariant: ``redact_url`` never returns a query value of a sensitive parameter (the ZeroSSL
``access_key`` above all); ``redact_text`` also scrubs such parameters inside free text and
every value registered with :func:`register_secret` (API keys read from Secrets at run time).
"""

from __future__ import annotations

import re
import threading
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SENSITIVE_PARAMS = frozenset({"access_key", "token", "api_key", "apikey", "key", "password"})
MASK = "REDACTED"
_PARAM_RE = re.compile(
    r"(?i)\b(" + "|".join(sorted(SENSITIVE_PARAMS, key=len, reverse=True)) + r")=([^&\s\"'<>]+)"
)
_MIN_SECRET_LEN = 6


class _SecretRegistry:
    """The set of secret values seen at run time. Only grows; guarded for thread safety."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        if len(value) < _MIN_SECRET_LEN or value in self._values:
            return
        with self._lock:
            self._values = self._values | {value}
            alternatives = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in alternatives))

    def scrub(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None else text


_SECRETS = _SecretRegistry()


def register_secret(value: str) -> None:
    """Remembers a secret value so that ``redact_text`` masks it wherever it appears."""
    _SECRETS.add(value)


def redact_url(url: str) -> str:
    """The URL with every sensitive query parameter's value replaced by REDACTED."""
    parts = urlsplit(url)
    if not parts.query:
        return _SECRETS.scrub(url)
    query = [
        (k, MASK if k.lower() in SENSITIVE_PARAMS else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    safe = urlunsplit(parts._replace(query=urlencode(query, safe=",")))
    return _SECRETS.scrub(safe)


def redact_text(text: str) -> str:
    """Free text with sensitive ``name=value`` pairs and registered secrets masked."""
    return _SECRETS.scrub(_PARAM_RE.sub(lambda m: f"{m.group(1)}={MASK}", text))
