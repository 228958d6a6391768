"""The install and configuration guides point at things that exist: every manifests/ path they
name, every overlay (and only those), every sample file."""

from __future__ import annotations

import re

from tests.manifests.render import MANIFESTS, OVERLAYS, ROOT

INSTALL = (ROOT / "docs" / "install.md").read_text()
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()


def test_overlay_list_matches_the_directories() -> None:
    directories = {p.name for p in (MANIFESTS / "overlays").iterdir() if p.is_dir()}
    assert directories == set(OVERLAYS)
    table = set(re.findall(r"^\| `manifests/overlays/([a-z-]+)` \|", INSTALL, re.MULTILINE))
    assert table == set(OVERLAYS)


def test_named_paths_exist() -> None:
    paths = set(re.findall(r"\bmanifests/[a-z0-9_./-]*[a-z0-9_]", INSTALL + CONFIGURATION))
    assert "manifests/rbac/leader_election_role.yaml" in paths
    for path in paths:
        assert (ROOT / path).exists(), path


def test_named_samples_exist() -> None:
    samples = set(re.findall(r"`([a-z-]+\.yaml)`", INSTALL)) - {"kustomization.yaml"}
    assert samples
    for sample in samples:
        assert (MANIFESTS / "samples" / sample).exists(), sample
