"""The CSR-hash values a ZeroSSL order is validated with, and the names they imply.

Invariant: hashes are uppercase hex over the DER of the CSR exactly as sent (computed by
:func:`controller.zerossl.csr.csr_hashes`); this module needs no X.509 library, so holding or
matching hashes (lost-draft adoption) does not load cryptography.
"""

from __future__ import annotations

from typing import NamedTuple

from controller.zerossl.models import Certificate

VALIDATION_PATH = "/.well-known/pki-validation/"


class CsrHashes(NamedTuple):
    """Uppercase hex MD5 and SHA-256 of the DER CSR, and the validation names they imply."""

    md5: str
    sha256: str

    @property
    def file_name(self) -> str:
        return f"{self.md5}.txt"

    @property
    def http_path(self) -> str:
        return f"{VALIDATION_PATH}{self.file_name}"

    def cname_name(self, domain: str) -> str:
        """``_<MD5>.<domain>``; a wildcard's record sits at its base domain."""
        return f"_{self.md5}.{domain.removeprefix('*.')}"

    @property
    def cname_target_prefix(self) -> str:
        """The first two labels of the CNAME target (ZeroSSL appends a per-order value)."""
        return f"{self.sha256[:32]}.{self.sha256[32:]}"

    def matches(self, certificate: Certificate) -> bool:
        """True if ``certificate`` was created from this CSR (used to adopt a lost draft).

        The MD5 in the validation file name or CNAME must match; where ZeroSSL also returns
        the file content or CNAME target, the SHA-256 must match too.
        """
        if certificate.csr_md5 != self.md5:
            return False
        for validation in certificate.validations:
            content = validation.file_content
            if content and content[0].upper() != self.sha256:
                return False
            target = (validation.cname_target or "").upper()
            if target and not target.startswith(self.cname_target_prefix + "."):
                return False
        return True
