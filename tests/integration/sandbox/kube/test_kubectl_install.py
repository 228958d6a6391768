"""docs/install.md's kubectl commands against the sandbox, with what a real kube-apiserver
answers (checked against one; see docs/sandbox-fidelity.md): the overlays with server dry-run
and diff, the samples, `get events --sort-by`, and server-side apply after client-side apply."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from controller.sandbox.kube import KubeAPIServer

from .conftest import Kubectl

REPO = Path(__file__).parents[4]
OVERLAYS = REPO / "manifests/overlays"
PROMETHEUS_CRDS = REPO / "tests/manifests/schemas/monitoring.coreos.com.yaml"


@pytest.fixture
def installer(api: KubeAPIServer, tmp_path: Path) -> Kubectl:
    api.register_crds([REPO / "controller/sandbox/crds", PROMETHEUS_CRDS])
    return Kubectl.against(api, tmp_path)


def _verbs(out: str) -> dict[str, str]:
    """``kind/name`` → what kubectl did (created, configured, unchanged, ...)."""
    return dict(line.split(" ", 1) for line in out.strip().splitlines())


@pytest.mark.parametrize("overlay", ["default", "ha", "monitoring"])
async def test_overlay_applies_dry_runs_and_diffs(installer: Kubectl, overlay: str) -> None:
    _, out, _ = await installer.run("apply", "-k", str(OVERLAYS / overlay))
    done = _verbs(out)
    assert done["deployment.apps/zerossl-issuer"] == "created"
    assert done["poddisruptionbudget.policy/zerossl-issuer"] == "created"
    assert done["networkpolicy.networking.k8s.io/zerossl-issuer"] == "created"
    assert set(done.values()) == {"created"}
    if overlay == "monitoring":
        assert done["servicemonitor.monitoring.coreos.com/zerossl-issuer"] == "created"

    _, out, _ = await installer.run("apply", "-k", str(OVERLAYS / overlay), "--dry-run=server")
    assert all(v.endswith("(server dry run)") for v in _verbs(out).values())
    code, out, err = await installer.run("diff", "-k", str(OVERLAYS / overlay), check=False)
    assert (code, out, err) == (0, "", "")
    # as on a real server: the PodDisruptionBudget's selector (patchStrategy "replace") makes
    # it "configured" each time; nothing else changes (the manifest has no `value: ""`)
    _, out, _ = await installer.run("apply", "-k", str(OVERLAYS / overlay))
    changed = {k for k, v in _verbs(out).items() if v != "unchanged"}
    assert changed == {"poddisruptionbudget.policy/zerossl-issuer"}


async def test_deployment_validation_and_strategic_merge(installer: Kubectl) -> None:
    await installer.run("apply", "-k", str(OVERLAYS / "default"))
    manifest = (await installer.run("kustomize", str(OVERLAYS / "default")))[1]
    changed = manifest.replace('value: "8"', 'value: "9"')
    await installer.run("apply", "-f", "-", stdin=changed)
    _, out, _ = await installer.run(
        "-n", "zerossl-issuer-system", "get", "deploy", "zerossl-issuer", "-o", "json"
    )
    deployment = orjson.loads(out)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["ZEROSSL_ISSUER_WORKERS"] == "9"
    assert len(env) == manifest.count("- name: ZEROSSL_ISSUER_") + manifest.count("OTEL_")
    assert deployment["metadata"]["generation"] == 2

    (broken,) = [d for d in yaml.safe_load_all(manifest) if d["kind"] == "Deployment"]
    broken["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] = "x"
    broken["metadata"]["name"] = "other"
    code, _, err = await installer.run(
        "apply", "-f", "-", stdin=yaml.safe_dump(broken), check=False
    )
    assert code == 1
    assert "`selector` does not match template `labels`" in err


async def test_samples_fail_only_on_their_kustomization(
    installer: Kubectl, api: KubeAPIServer
) -> None:
    api.register_crds([REPO / "manifests/crds"])
    await installer.run("create", "namespace", "zerossl-issuer-system")
    code, out, err = await installer.run(
        "apply", "-f", str(REPO / "manifests/samples"), check=False
    )
    assert code == 1
    assert "zerosslclusterissuer.zerossl.issuer.dev/zerossl-http created" in out
    assert "secret/" not in out  # the placeholder Secrets are not in the samples' files
    # the real server's answer (it serves /openapi/v2, so validation does not fail first)
    assert err.strip() == (
        'error: resource mapping not found for name: "" namespace: "" from '
        '"manifests/samples/kustomization.yaml": no matches for kind "Kustomization" in '
        'version "kustomize.config.k8s.io/v1beta1"\nensure CRDs are installed first'
    ).replace("manifests/samples", str(REPO / "manifests/samples"))


def _event(name: str, when: str, **extra: object) -> dict[str, object]:
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": "default"},
        "eventTime": when,
        "reportingController": "zerossl.issuer.dev/controller",
        "reportingInstance": "pod-1",
        "action": "Issue",
        "reason": name.capitalize(),
        "type": "Normal",
        "note": f"{name} happened",
        "regarding": {"apiVersion": "v1", "kind": "Secret", "name": "s", "namespace": "default"},
        **extra,
    }


async def test_get_events_sorted_by_last_timestamp(installer: Kubectl, api: KubeAPIServer) -> None:
    api.create_object(_event("issued", "2026-01-01T00:00:00.000000Z"))
    api.create_object(
        _event(
            "pending",
            "2026-01-01T00:01:00.000000Z",
            series={"count": 3, "lastObservedTime": "2026-01-01T00:02:00.000000Z"},
        )
    )
    _, out, _ = await installer.run("get", "events", "--sort-by=.lastTimestamp")
    rows = [line.split() for line in out.strip().splitlines()]
    assert rows[0] == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert sorted(r[2] for r in rows[1:]) == ["Issued", "Pending"]
    _, out, _ = await installer.run("get", "events.v1.", "pending", "-o", "json")
    core = orjson.loads(out)
    # the real server derives nothing from eventTime/series: the legacy fields are null
    assert core["firstTimestamp"] is None
    assert core["lastTimestamp"] is None
    assert "count" not in core
    assert core["source"] == {}
    assert core["series"] == {"count": 3, "lastObservedTime": "2026-01-01T00:02:00.000000Z"}
    assert core["reportingComponent"] == "zerossl.issuer.dev/controller"


CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: default}\n"


async def test_server_side_apply_takes_over_from_client_side_apply(installer: Kubectl) -> None:
    await installer.run("apply", "-f", "-", stdin=CONFIGMAP + 'data: {a: "1", b: "x"}\n')
    _, out, _ = await installer.run(
        "apply", "--server-side", "-f", "-", stdin=CONFIGMAP + 'data: {a: "1", b: "x"}\n'
    )
    assert out.strip() == "configmap/cfg serverside-applied"
    # a value changed since the client-side apply: taken over without a conflict, and b,
    # no longer applied, is removed (kubectl moved the client-side apply's fields to itself)
    _, out, _ = await installer.run(
        "apply", "--server-side", "-f", "-", stdin=CONFIGMAP + 'data: {a: "2"}\n'
    )
    _, out, _ = await installer.run("get", "cm", "cfg", "-o", "yaml", "--show-managed-fields")
    live = yaml.safe_load(out)
    assert live["data"] == {"a": "2"}
    managers = {e["manager"]: e["operation"] for e in live["metadata"]["managedFields"]}
    assert managers == {"kubectl": "Apply", "kubectl-last-applied": "Apply"}
    last = orjson.loads(
        live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    )
    assert last["data"] == {"a": "2"}

    code, _, err = await installer.run(
        "apply",
        "--server-side",
        "--field-manager=other",
        "-f",
        "-",
        stdin=CONFIGMAP + 'data: {a: "3"}\n',
        check=False,
    )
    assert code == 1
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .data.a' in err


async def test_conflict_on_a_defaulted_atomic_list_as_a_real_server(
    installer: Kubectl, api: KubeAPIServer
) -> None:
    issuer = (
        "apiVersion: zerossl.issuer.dev/v1alpha1\nkind: ZeroSSLClusterIssuer\n"
        "metadata: {name: zerossl-http}\n"
        "spec:\n  apiKeySecretRef: {name: zerossl-api-key, key: api-key}\n"
        "  solvers:\n    - http: {ingress: {ingressClassName: nginx}}\n"
    )
    await installer.run(
        "apply", "-f", str(REPO / "manifests/crds"), "--validate=false", check=False
    )
    await installer.run("apply", "-f", "-", stdin=issuer)
    # the CRD defaults solvers[].http.ingress.pathType, so the live list differs from the file
    code, _, err = await installer.run(
        "apply", "--server-side", "-f", "-", stdin=issuer, check=False
    )
    assert code == 1
    assert err.startswith(
        'error: Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using '
        "zerossl.issuer.dev/v1alpha1: .spec.solvers\n"
    )


async def test_server_side_apply_of_the_overlay_after_client_side_apply(
    installer: Kubectl,
) -> None:
    overlay = str(OVERLAYS / "default")
    await installer.run("apply", "-k", overlay)
    code, _, err = await installer.run("apply", "--server-side", "-k", overlay, check=False)
    # a real server defaults valueFrom.fieldRef.apiVersion inside the atomic fieldRef, so the
    # manifest's fieldRef differs from the live one, which client-side apply owns
    assert code == 1
    env = '.spec.template.spec.containers[name="controller"].env[name="{}"].valueFrom.fieldRef'
    assert (
        'error: Apply failed with 2 conflicts: conflicts with "kubectl-client-side-apply" '
        "using apps/v1:\n- "
        + env.format("ZEROSSL_ISSUER_NAMESPACE")
        + "\n- "
        + env.format("ZEROSSL_ISSUER_POD_NAME")
        + "\n"
    ) in err
    _, out, _ = await installer.run("apply", "--server-side", "--force-conflicts", "-k", overlay)
    assert "deployment.apps/zerossl-issuer serverside-applied" in out
    _, out, _ = await installer.run("apply", "--server-side", "-k", overlay)
    assert "deployment.apps/zerossl-issuer serverside-applied" in out
