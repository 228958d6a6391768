"""ZeroSSL clients per issuer, sharing one HTTP session and one limiter per account.

Invariants: a client is only handed out for an API key read from the issuer's own Secret
namespace (:func:`~controller.issuer.api.secret_namespace`); every client for the same key
shares that account's token bucket (:class:`~controller.zerossl.limiter.LimiterRegistry`),
whichever issuer or worker uses it; a key that cannot be read raises :class:`IssuerError`
with the reason the issuer check would report, so the caller can flag the issuer.
The client last handed out for an issuer stays known (:meth:`last_client`) after the issuer or
its Secret is gone, for cancelling that issuer's unfinished certificates only: a namespace
being deleted takes its issuers and Secrets with it while its orders' finalizers still run.
"""

from __future__ import annotations

import aiohttp

from controller.config import Settings
from controller.issuer.api import IssuerRef, secret_namespace
from controller.issuer.conditions import IssuerReason
from controller.issuer.decide_issuer import ApiKey, KeyState, read_api_key
from controller.issuer.errors import IssuerError
from controller.issuer.secrets import SecretCache
from controller.issuer.spec import IssuerSpec
from controller.zerossl.client import ZeroSSLClient
from controller.zerossl.limiter import LimiterRegistry, account_id

_KEY_REASONS = {
    KeyState.SECRET_MISSING: (IssuerReason.SECRET_NOT_FOUND, "not found"),
    KeyState.KEY_MISSING: (IssuerReason.SECRET_KEY_MISSING, "has no such key"),
    KeyState.EMPTY: (IssuerReason.INVALID_API_KEY, "holds an empty API key"),
    KeyState.MALFORMED: (IssuerReason.INVALID_API_KEY, "does not hold an API key"),
}


class ZeroSSLAccounts:
    def __init__(self, settings: Settings, session: aiohttp.ClientSession, secrets: SecretCache):
        self._settings = settings
        self._session = session
        self._secrets = secrets
        self._limiters = LimiterRegistry(settings.zerossl_qps, settings.zerossl_burst)
        self._clients: dict[str, ZeroSSLClient] = {}
        self._last: dict[IssuerRef, ZeroSSLClient] = {}  # per issuer: bounded by the issuers

    async def api_key(self, ref: IssuerRef, spec: IssuerSpec) -> ApiKey:
        """The issuer's API key as read from its Secret (whatever its state)."""
        namespace = secret_namespace(ref, self._settings.cluster_resource_namespace)
        secret = await self._secrets.get(namespace, spec.api_key.name)
        return read_api_key(secret, spec.api_key.key)

    async def client(self, ref: IssuerRef, spec: IssuerSpec) -> ZeroSSLClient:
        """A client for the issuer's account; IssuerError when its key cannot be used."""
        key = await self.api_key(ref, spec)
        if key.state is not KeyState.PRESENT:
            reason, what = _KEY_REASONS[key.state]
            namespace = secret_namespace(ref, self._settings.cluster_resource_namespace)
            raise IssuerError(
                reason, f"Secret {namespace}/{spec.api_key.name} (key {spec.api_key.key!r}) {what}"
            )
        client = self._last[ref] = self.client_for_key(key.value)
        return client

    def last_client(self, ref: IssuerRef) -> ZeroSSLClient | None:
        """The client :meth:`client` last returned for ``ref`` in this process, if any."""
        return self._last.get(ref)

    def client_for_key(self, access_key: str) -> ZeroSSLClient:
        """The client of the account behind ``access_key`` (one per account)."""
        account = account_id(access_key)
        client = self._clients.get(account)
        if client is None:
            client = ZeroSSLClient(
                self._session,
                access_key,
                self._limiters.for_account(access_key),
                base_url=self._settings.zerossl_api_url,
                timeout=self._settings.zerossl_timeout,
            )
            self._clients[account] = client
        return client
