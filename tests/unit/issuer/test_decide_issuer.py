"""The issuer check: Secret rules, when to re-check, every answer of the check, the quota."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from controller.clock import rfc3339
from controller.issuer.actions import CheckAPIKey
from controller.issuer.conditions import IssuerReason
from controller.issuer.decide_issuer import (
    ApiKey,
    IssuerFlag,
    IssuerPolicy,
    KeyState,
    decide_issuer,
    read_api_key,
    record_check,
    solver_secret_state,
)
from controller.issuer.issuers import Issuer
from controller.issuer.spec import SecretKeyRef, SolverSecret, parse_issuer_spec
from controller.zerossl.errors import ErrorKind, ZeroSSLError, classify
from tests.unit.issuer.admission import admission_errors
from tests.unit.issuer.factories import NOW, T0, b64, issuer_object

POLICY = IssuerPolicy()
KEY = ApiKey(KeyState.PRESENT, "rv7", "0123456789abcdef0123456789abcdef")
LATER = rfc3339(NOW + timedelta(minutes=4))
EARLIER = rfc3339(NOW - timedelta(minutes=1))


def middle() -> float:
    return 0.5  # no jitter


def healthy(**status: Any) -> dict[str, Any]:
    defaults = {"lastCheckTime": T0, "nextCheckTime": LATER, "checkedSecretVersion": "rv7"}
    return issuer_object(status={**defaults, **status})


def decide(
    obj: dict[str, Any],
    key: ApiKey = KEY,
    flag: IssuerFlag | None = None,
    solver_secrets: dict[SolverSecret, KeyState] | None = None,
) -> Any:
    decision = decide_issuer(
        Issuer.from_object(obj),
        key,
        flag,
        NOW,
        cluster_resource_namespace="zerossl-system",
        rand=middle,
        solver_secrets=solver_secrets,
    )
    _admitted(obj, decision)
    return decision


def _admitted(obj: dict[str, Any], decision: Any) -> None:
    """The written status fits the CRD (on a valid object of the same kind)."""
    if decision.status is not None:
        kind = obj["kind"]
        plural = "zerosslclusterissuers" if kind == "ZeroSSLClusterIssuer" else "zerosslissuers"
        valid = issuer_object(kind=kind)
        assert admission_errors(plural, {**valid, "status": decision.status}) == []


def ready(decision: Any) -> dict[str, Any]:
    (condition,) = decision.status["conditions"]
    return dict(condition)


# --- reading the key ---------------------------------------------------------------------------


def secret(data: dict[str, str], version: str = "rv7") -> dict[str, Any]:
    return {"metadata": {"name": "zerossl", "resourceVersion": version}, "data": data}


@pytest.mark.parametrize(
    ("obj", "state", "value"),
    [
        pytest.param(None, KeyState.SECRET_MISSING, "", id="no-secret"),
        pytest.param(secret({"other": b64("x")}), KeyState.KEY_MISSING, "", id="no-key"),
        pytest.param(secret({"api-key": b64("  \n")}), KeyState.EMPTY, "", id="blank"),
        pytest.param(secret({"api-key": "%%%"}), KeyState.MALFORMED, "", id="not-base64"),
        pytest.param(secret({"api-key": b64("two words")}), KeyState.MALFORMED, "", id="space"),
        pytest.param(
            secret({"api-key": b64("abc123\n")}), KeyState.PRESENT, "abc123", id="trailing-newline"
        ),
    ],
)
def test_read_api_key(obj: dict[str, Any] | None, state: KeyState, value: str) -> None:
    key = read_api_key(obj, "api-key")
    assert (key.state, key.value) == (state, value)


def test_key_value_never_in_repr() -> None:
    assert KEY.value not in repr(KEY)


# --- the Secret rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "reason", "fragment"),
    [
        pytest.param(
            ApiKey(KeyState.SECRET_MISSING), "SecretNotFound", "not found", id="secret-missing"
        ),
        pytest.param(
            ApiKey(KeyState.KEY_MISSING, "rv1"), "SecretKeyMissing", "no such key", id="key-missing"
        ),
        pytest.param(ApiKey(KeyState.EMPTY, "rv1"), "InvalidAPIKey", "empty", id="empty-key"),
        pytest.param(
            ApiKey(KeyState.MALFORMED, "rv1"), "InvalidAPIKey", "does not hold", id="malformed"
        ),
    ],
)
def test_secret_problems_are_specific(key: ApiKey, reason: str, fragment: str) -> None:
    decision = decide(issuer_object(ready=None), key)
    assert decision.actions == ()
    condition = ready(decision)
    assert (condition["status"], condition["reason"]) == ("False", reason)
    assert fragment in condition["message"]
    assert condition["observedGeneration"] == 1
    assert [e.reason for e in decision.events] == [reason]


# --- the solvers' Secrets: a DNS solver without credentials makes the issuer not Ready ----------

CLOUDFLARE = {"dns": {"cloudflare": {"apiTokenSecretRef": {"name": "cf", "key": "token"}}}}
ROUTE53 = {
    "dns": {
        "route53": {
            "region": "eu-west-1",
            "accessKeyIDSecretRef": {"name": "aws", "key": "id"},
            "secretAccessKeySecretRef": {"name": "aws", "key": "secret"},
        }
    }
}
CF_TOKEN = SolverSecret(
    "spec.solvers[1].dns.cloudflare.apiTokenSecretRef", SecretKeyRef("cf", "token")
)


def test_the_secrets_the_solvers_read_are_listed_with_their_spec_path() -> None:
    spec = issuer_object(solvers=[ROUTE53, CLOUDFLARE, {"http": {"none": {}}}])["spec"]
    assert [(s.field, s.ref.name, s.ref.key) for s in parse_issuer_spec(spec).solver_secrets()] == [
        ("spec.solvers[0].dns.route53.accessKeyIDSecretRef", "aws", "id"),
        ("spec.solvers[0].dns.route53.secretAccessKeySecretRef", "aws", "secret"),
        ("spec.solvers[1].dns.cloudflare.apiTokenSecretRef", "cf", "token"),
    ]


@pytest.mark.parametrize(
    ("secret_obj", "state"),
    [
        pytest.param(None, KeyState.SECRET_MISSING, id="no-secret"),
        pytest.param(secret({"other": b64("x")}), KeyState.KEY_MISSING, id="no-key"),
        pytest.param(secret({"token": ""}), KeyState.EMPTY, id="empty"),
        pytest.param(secret({"token": b64("t0k3n")}), KeyState.PRESENT, id="present"),
    ],
)
def test_a_solver_secret_is_read_for_its_key(
    secret_obj: dict[str, Any] | None, state: KeyState
) -> None:
    assert solver_secret_state(secret_obj, "token") is state


@pytest.mark.parametrize(
    ("state", "reason", "message"),
    [
        pytest.param(
            KeyState.SECRET_MISSING,
            "SolverSecretNotFound",
            "spec.solvers[1].dns.cloudflare.apiTokenSecretRef: Secret zerossl-system/cf not found",
            id="secret-missing",
        ),
        pytest.param(
            KeyState.KEY_MISSING,
            "SolverSecretKeyMissing",
            "Secret zerossl-system/cf has no key 'token'",
            id="key-missing",
        ),
        pytest.param(
            KeyState.EMPTY,
            "SolverSecretKeyMissing",
            "Secret zerossl-system/cf key 'token' is empty",
            id="empty",
        ),
    ],
)
def test_a_missing_solver_secret_makes_the_issuer_not_ready(
    state: KeyState, reason: str, message: str
) -> None:
    decision = decide(healthy(), solver_secrets={CF_TOKEN: state})
    assert decision.actions == ()  # no ZeroSSL call either
    condition = ready(decision)
    assert (condition["status"], condition["reason"]) == ("False", reason)
    assert condition["message"].endswith(message)
    assert condition["message"].startswith(CF_TOKEN.field)
    assert [e.reason for e in decision.events] == [reason]


def test_a_restored_solver_secret_re_checks_the_issuer_at_once() -> None:
    obj = healthy()
    obj["status"]["conditions"] = [
        {**obj["status"]["conditions"][0], "status": "False", "reason": "SolverSecretNotFound"}
    ]
    decision = decide(obj, solver_secrets={CF_TOKEN: KeyState.PRESENT})
    assert [type(a) for a in decision.actions] == [CheckAPIKey]
    assert decide(healthy(), solver_secrets={CF_TOKEN: KeyState.PRESENT}).actions == ()


def test_cluster_issuer_reads_the_cluster_resource_namespace() -> None:
    decision = decide(issuer_object(ready=None), ApiKey(KeyState.SECRET_MISSING))
    assert "zerossl-system/zerossl" in ready(decision)["message"]
    (check,) = decide(issuer_object(ready=None)).actions
    assert (check.secret_namespace, check.secret_name, check.secret_key) == (
        "zerossl-system",
        "zerossl",
        "api-key",
    )


def test_namespaced_issuer_reads_its_own_namespace() -> None:
    (check,) = decide(issuer_object(kind="ZeroSSLIssuer", namespace="team-a", ready=None)).actions
    assert check.secret_namespace == "team-a"


def test_invalid_spec_is_reported_without_a_check() -> None:
    obj = issuer_object(
        spec={"apiKeySecretRef": {"name": "k"}, "validityDays": 30, "solvers": [{"email": {}}]}
    )
    decision = decide(obj)
    assert decision.actions == ()
    assert ready(decision)["reason"] == "InvalidSpec"
    assert "validityDays" in ready(decision)["message"]


# --- when to check -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "key", "flag"),
    [
        pytest.param(issuer_object(ready=None), KEY, None, id="never-checked"),
        pytest.param(
            healthy() | {"metadata": {"name": "zerossl", "generation": 2}},
            KEY,
            None,
            id="spec-changed",
        ),
        pytest.param(healthy(), ApiKey(KeyState.PRESENT, "rv8", "k2"), None, id="secret-changed"),
        pytest.param(healthy(nextCheckTime=EARLIER), KEY, None, id="periodic"),
        pytest.param(
            healthy(),
            KEY,
            IssuerFlag(IssuerReason.INVALID_API_KEY, "101", NOW - timedelta(seconds=5)),
            id="flagged-by-signing",
        ),
        pytest.param(
            healthy(
                account={
                    "quotaExhausted": True,
                    "quotaExhaustedTime": T0,
                    "quotaRetryTime": EARLIER,
                }
            ),
            KEY,
            None,
            id="quota-window-reopens",
        ),
    ],
)
def test_check_is_due(obj: dict[str, Any], key: ApiKey, flag: IssuerFlag | None) -> None:
    decision = decide(obj, key, flag)
    (check,) = decision.actions
    assert isinstance(check, CheckAPIKey)
    assert check.secret_version == key.secret_version
    assert decision.status is None


def test_nothing_due_requeues_at_the_next_check() -> None:
    decision = decide(healthy())
    assert decision.empty
    assert decision.requeue_after == 240


def test_flag_older_than_the_last_check_is_ignored() -> None:
    flag = IssuerFlag(IssuerReason.INVALID_API_KEY, "101", NOW - timedelta(hours=2))
    assert decide(healthy(), KEY, flag).actions == ()


# --- the quota -----------------------------------------------------------------------------------


def test_quota_flag_turns_the_issuer_not_ready_until_a_retry_time() -> None:
    flag = IssuerFlag(IssuerReason.QUOTA_EXHAUSTED, "certificate_limit_reached", NOW)
    decision = decide(healthy(), KEY, flag)
    assert decision.actions == ()
    condition = ready(decision)
    assert (condition["status"], condition["reason"]) == ("False", "QuotaExhausted")
    account = decision.status["account"]
    assert account["quotaExhausted"] is True
    assert account["quotaRetryTime"] == rfc3339(NOW + timedelta(seconds=POLICY.quota_retry))
    assert decision.requeue_after == POLICY.quota_retry


def test_quota_flag_is_handled_once() -> None:
    flag = IssuerFlag(IssuerReason.QUOTA_EXHAUSTED, "2817", NOW - timedelta(minutes=1))
    account = {
        "quotaExhausted": True,
        "quotaExhaustedTime": rfc3339(flag.time),
        "quotaRetryTime": LATER,
    }
    decision = decide(healthy(account=account), KEY, flag)
    assert decision.empty
    assert decision.requeue_after == 240


def test_quota_flag_with_a_fraction_of_a_second_is_handled_once() -> None:
    flag = IssuerFlag(IssuerReason.QUOTA_EXHAUSTED, "2817", NOW + timedelta(microseconds=250))
    recorded = decide(healthy(), KEY, flag).status
    assert recorded is not None
    again = decide(healthy(account=recorded["account"]), KEY, flag)
    assert again.empty


def test_quota_retry_time_is_jittered() -> None:
    flag = IssuerFlag(IssuerReason.QUOTA_EXHAUSTED, "2817", NOW)
    issuer = Issuer.from_object(healthy())
    low = decide_issuer(issuer, KEY, flag, NOW, cluster_resource_namespace="x", rand=lambda: 0.0)
    high = decide_issuer(issuer, KEY, flag, NOW, cluster_resource_namespace="x", rand=lambda: 0.999)
    assert low.requeue_after == pytest.approx(POLICY.quota_retry * 0.9)
    assert high.requeue_after == pytest.approx(POLICY.quota_retry * 1.1, rel=1e-3)


# --- recording the check -----------------------------------------------------------------------

CHECK = CheckAPIKey("zerossl-system", "zerossl", "api-key", 1, "rv7")


def recorded(obj: dict[str, Any], error: ZeroSSLError | None, check: CheckAPIKey = CHECK) -> Any:
    decision = record_check(Issuer.from_object(obj), check, error, NOW, rand=middle)
    _admitted(obj, decision)
    return decision


def zerossl_error(code: int, type_: str) -> ZeroSSLError:
    return ZeroSSLError(classify(code, type_), endpoint="list", code=code, type_=type_)


def test_working_key_is_checked() -> None:
    decision = recorded(issuer_object(ready=None), None)
    condition = ready(decision)
    assert (condition["status"], condition["reason"], condition["observedGeneration"]) == (
        "True",
        "Checked",
        1,
    )
    status = decision.status
    assert status["lastCheckTime"] == rfc3339(NOW)
    assert status["nextCheckTime"] == rfc3339(NOW + timedelta(seconds=POLICY.check_interval))
    assert status["checkedSecretVersion"] == "rv7"
    assert decision.requeue_after == POLICY.check_interval
    assert [e.reason for e in decision.events] == ["Checked"]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        pytest.param(zerossl_error(101, "invalid_access_key"), "InvalidAPIKey", id="wrong-key"),
        pytest.param(zerossl_error(103, "invalid_api_function"), "InvalidAPIKey", id="missing-key"),
        pytest.param(zerossl_error(102, "inactive_user"), "InactiveAccount", id="inactive"),
        pytest.param(
            zerossl_error(2875, "certificate_premium_not_allowed"), "AccountRestricted", id="unpaid"
        ),
        pytest.param(
            zerossl_error(2817, "certificate_limit_reached"), "QuotaExhausted", id="quota"
        ),
        pytest.param(zerossl_error(104, "route_not_found"), "CheckFailed", id="permanent"),
    ],
)
def test_account_answers_turn_the_issuer_not_ready(error: ZeroSSLError, reason: str) -> None:
    decision = recorded(healthy(), error)
    condition = ready(decision)
    assert (condition["status"], condition["reason"]) == ("False", reason)
    assert [e.type for e in decision.events] == ["Warning"]


def test_unavailable_zerossl_backs_off() -> None:
    down = ZeroSSLError(ErrorKind.RETRYABLE, endpoint="list", http_status=503)
    first = recorded(issuer_object(ready=None), down)
    assert ready(first)["reason"] == "ZeroSSLUnavailable"
    assert first.status["checkFailures"] == 1
    assert first.requeue_after == POLICY.unavailable_backoff
    second = recorded(issuer_object(ready=None, status=first.status), down)
    assert second.requeue_after == 2 * POLICY.unavailable_backoff


def test_a_ready_issuer_absorbs_one_miss() -> None:
    down = ZeroSSLError(ErrorKind.RETRYABLE, endpoint="list", http_status=503)
    first = recorded(healthy(), down)
    assert first.events == ()
    assert first.status["conditions"][0]["reason"] == "Checked"
    second = recorded(healthy(**first.status), down)
    assert ready(second)["reason"] == "ZeroSSLUnavailable"


def test_working_key_keeps_the_quota_closed_until_its_retry_time() -> None:
    account = {"quotaExhausted": True, "quotaExhaustedTime": T0, "quotaRetryTime": LATER}
    obj = issuer_object(ready="False", reason="QuotaExhausted", status={"account": account})
    decision = recorded(obj, None)
    assert decision.status["conditions"][0]["reason"] == "QuotaExhausted"
    assert decision.requeue_after == 240


def test_check_after_the_quota_window_reopens_the_issuer() -> None:
    account = {"quotaExhausted": True, "quotaExhaustedTime": T0, "quotaRetryTime": EARLIER}
    obj = issuer_object(ready="False", reason="QuotaExhausted", status={"account": account})
    decision = recorded(obj, None)
    assert ready(decision)["reason"] == "Checked"
    assert decision.status["account"] == {"quotaExhausted": False}


def test_result_for_an_old_generation_is_dropped() -> None:
    stale = CheckAPIKey("zerossl-system", "zerossl", "api-key", 0, "rv7")
    assert recorded(healthy(), None, stale).empty
