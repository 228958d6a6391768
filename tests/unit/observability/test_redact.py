from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from controller.observability.redact import redact_text, redact_url, register_secret

KEY = "0123456789abcdef0123456789abcdef"


def test_url_access_key_is_masked() -> None:
    url = f"https://api.zerossl.com/certificates/abc?access_key={KEY}&limit=5"
    out = redact_url(url)
    assert KEY not in out
    assert "access_key=REDACTED" in out
    assert "limit=5" in out


def test_text_masks_parameters_and_registered_secrets() -> None:
    register_secret("s3cr3t-value-42")
    text = f"GET /x?access_key={KEY} failed; token=abc123456 body had s3cr3t-value-42"
    out = redact_text(text)
    assert KEY not in out
    assert "abc123456" not in out
    assert "s3cr3t-value-42" not in out


@given(st.text(alphabet="abcdefABCDEF0123456789", min_size=16, max_size=64))
def test_any_key_never_survives(key: str) -> None:
    assert key not in redact_url(f"http://h/p?a=1&access_key={key}")
    assert key not in redact_text(f"error calling http://h/p?access_key={key}: boom")
