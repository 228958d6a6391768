from __future__ import annotations

import pytest

from controller import config


def test_defaults_are_production_defaults() -> None:
    s = config.load({}, [])
    assert s.workers == 8
    assert s.leader_elect is True
    assert (s.lease_duration, s.renew_deadline, s.retry_period) == (15.0, 10.0, 2.0)


def test_env_and_flag_precedence() -> None:
    env = {"ZEROSSL_ISSUER_WORKERS": "3", "ZEROSSL_ISSUER_LOG_FORMAT": "console"}
    assert config.load(env, []).workers == 3
    assert config.load(env, ["--workers", "5"]).workers == 5
    assert config.load(env, []).log_format == "console"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ZEROSSL_ISSUER_WORKERS": "0"}, "ZEROSSL_ISSUER_WORKERS"),
        ({"ZEROSSL_ISSUER_WORKERS": "many"}, "ZEROSSL_ISSUER_WORKERS"),
        ({"ZEROSSL_ISSUER_LEADER_ELECT": "maybe"}, "ZEROSSL_ISSUER_LEADER_ELECT"),
        ({"ZEROSSL_ISSUER_METRICS_ADDR": "8080"}, "ZEROSSL_ISSUER_METRICS_ADDR"),
        ({"ZEROSSL_ISSUER_LOG_LEVEL": "loud"}, "ZEROSSL_ISSUER_LOG_LEVEL"),
        ({"ZEROSSL_ISSUER_ZEROSSL_API_URL": "api.zerossl.com"}, "ZEROSSL_ISSUER_ZEROSSL_API_URL"),
        ({"ZEROSSL_ISSUER_RENEW_DEADLINE": "20"}, "ZEROSSL_ISSUER_LEASE_DURATION"),
        ({"ZEROSSL_ISSUER_RETRY_PERIOD": "9"}, "ZEROSSL_ISSUER_RETRY_PERIOD"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(config.ConfigError, match=named):
        config.load(env, [])


def test_bad_flag_names_the_flag() -> None:
    with pytest.raises(config.ConfigError, match="--kube-qps"):
        config.load({}, ["--kube-qps", "-1"])


def test_cluster_resource_namespace_follows_namespace() -> None:
    s = config.load({"ZEROSSL_ISSUER_NAMESPACE": "certs"}, [])
    assert s.cluster_resource_namespace == "certs"
    s = config.load(
        {"ZEROSSL_ISSUER_NAMESPACE": "certs", "ZEROSSL_ISSUER_CLUSTER_RESOURCE_NAMESPACE": "x"}, []
    )
    assert s.cluster_resource_namespace == "x"


def test_dns_resolvers_parse() -> None:
    s = config.load({"ZEROSSL_ISSUER_DNS_RESOLVERS": "10.0.0.53, 127.0.0.1:5353"}, [])
    assert s.dns_resolvers == ("10.0.0.53:53", "127.0.0.1:5353")
    with pytest.raises(config.ConfigError, match="ZEROSSL_ISSUER_DNS_RESOLVERS"):
        config.load({"ZEROSSL_ISSUER_DNS_RESOLVERS": "host:port"}, [])
