"""zerossl-issuer: a cert-manager external issuer for ZeroSSL."""

__version__ = "0.1.0"
