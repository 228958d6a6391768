"""The order actions that talk to the solvers: publishing and cleaning up one domain's
validation (HTTP routing for the file, a CNAME through the DNS provider the spec names) and
asking the resolvers whether a CNAME is visible.

Invariants:
- Solver faults become :class:`ActionFailed` outcomes with the intent :func:`solver_intent`
  gives them, never exceptions; a solver that cannot work as configured gets its Warning Event
  at once. Anything else propagates to the loop.
- A DNS provider is built per action from the order's solver config, reading Secrets from the
  issuer's Secret namespace (a namespaced issuer its own, a cluster issuer the cluster resource
  namespace); nothing is kept between actions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from controller.config import Settings
from controller.issuer.actions import (
    ActionFailed,
    CleanedUp,
    Cleanup,
    Outcome,
    Present,
    Presented,
    Propagated,
    WaitPropagation,
)
from controller.issuer.api import secret_namespace
from controller.issuer.controllers.order_loop import OrderRun
from controller.issuer.decision import Event
from controller.issuer.errors import solver_intent
from controller.issuer.order_steps import OrderPolicy
from controller.issuer.secrets import SecretCache
from controller.issuer.solvers.dns import (
    CNAMERecord,
    DNSProvider,
    DNSProviderError,
    InvalidSolverSpec,
    Propagation,
    PropagationTimeout,
    ProviderEndpoints,
    build_dns_provider,
    provider_field,
    wait_visible,
)
from controller.issuer.solvers.http import HttpRouting, RoutingError
from controller.issuer.spec import Method
from controller.kube.client import KubeClient

SolverAction = Present | Cleanup | WaitPropagation


class SolverActs:
    def __init__(
        self,
        kube: KubeClient,
        *,
        secrets: SecretCache,
        settings: Settings,
        policy: OrderPolicy,
        warn: Callable[[dict[str, Any], Event], None],
    ) -> None:
        """``warn(order, event)`` records a solver's Warning Event on the order at once."""
        self._kube = kube
        self._secrets = secrets
        self._settings = settings
        self._policy = policy
        self._warn = warn
        self._routing = HttpRouting(kube, namespace=settings.namespace)
        self._endpoints = ProviderEndpoints(settings.cloudflare_api_url, settings.route53_api_url)

    async def solve(self, run: OrderRun, action: SolverAction) -> Outcome:
        try:
            if isinstance(action, WaitPropagation):
                return await self._propagated(action)
            await self._publish(run, action)
        except (DNSProviderError, RoutingError) as error:
            intent, event = solver_intent(action.domain, error)
            if event is not None:
                self._warn(run.obj, event)
            return ActionFailed(action, intent)
        return Presented(action.domain) if isinstance(action, Present) else CleanedUp(action.domain)

    async def _publish(self, run: OrderRun, action: Present | Cleanup) -> None:
        """Present or clean up one domain's validation (nothing to publish for email)."""
        present = isinstance(action, Present)
        if action.method is Method.HTTP:
            if action.http is None:
                raise RoutingError(
                    "invalid_spec",
                    f"no validation file recorded for {action.domain}",
                    retryable=False,
                )
            route = self._routing.present if present else self._routing.cleanup
            await route(run.obj, action.domain, action.http.path, action.config)
        elif action.method is Method.DNS:
            if action.cname is None:
                raise InvalidSolverSpec(f"no CNAME recorded for {action.domain}")
            record = CNAMERecord.from_zerossl(action.cname.name, action.cname.target)
            provider = self._dns_provider(run, action.config)
            await (provider.present(record) if present else provider.cleanup(record))

    def _dns_provider(self, run: OrderRun, config: Mapping[str, Any]) -> DNSProvider:
        ref = run.order.issuer_ref
        if ref is None:
            raise InvalidSolverSpec("the order names no issuer to read Secrets for")
        return build_dns_provider(
            config,
            namespace=secret_namespace(ref, self._settings.cluster_resource_namespace),
            secrets=self._secrets,
            owner=run.obj,
            kube=self._kube,
            timeout=self._settings.kube_timeout,
            endpoints=self._endpoints,
        )

    async def _propagated(self, action: WaitPropagation) -> Propagated:
        """Asks the resolvers once whether the CNAME is visible."""
        propagation = Propagation.from_spec(
            action.config,
            default_timeout=self._policy.propagation_timeout,
            default_resolvers=self._settings.dns_resolvers,
        )
        record = CNAMERecord.from_zerossl(action.cname.name, action.cname.target)
        try:
            await wait_visible(
                record,
                propagation.resolvers,
                timeout=0,
                interval=self._policy.propagation_interval,
                solver=provider_field(action.config),
            )
        except PropagationTimeout as error:
            return Propagated(action.domain, visible=False, detail=error.message)
        return Propagated(action.domain, visible=True)
