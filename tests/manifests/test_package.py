"""The built wheel is the product only: no test world (controller/sandbox), no dependency that
only the test world needs (PyYAML, cel-python: the ``sandbox`` extra)."""

from __future__ import annotations

import email.parser
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.manifests.render import ROOT

TEST_WORLD_ONLY = ("pyyaml", "cel-python")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The wheel of a copy of the sources (building in place would leave build/ behind),
    built offline with the installed setuptools."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "controller", source / "controller", ignore=shutil.ignore_patterns("__pycache__")
    )
    out = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "--wheel-dir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("zerossl_issuer-*.whl")
    return zipfile.ZipFile(built)


def _metadata(wheel: zipfile.ZipFile) -> email.message.Message:
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    return email.parser.Parser().parsestr(wheel.read(name).decode())


def _requirement(line: str) -> tuple[str, str]:
    """(lowercase project name, marker text) of a Requires-Dist line."""
    spec, _, marker = line.partition(";")
    name = spec.strip().split()[0]
    for stop in "<>=!~[(":
        name = name.split(stop)[0]
    return name.lower(), marker.strip()


def test_the_wheel_carries_the_controller_and_no_sandbox(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    assert "controller/app.py" in names
    assert "controller/py.typed" in names
    assert "controller/kube/incluster.py" in names
    assert [n for n in names if n.startswith("controller/sandbox")] == []
    assert (ROOT / "controller" / "sandbox" / "__init__.py").exists(), "the checkout keeps it"


def test_runtime_dependencies_exclude_the_test_world(wheel: zipfile.ZipFile) -> None:
    requirements = [_requirement(r) for r in _metadata(wheel).get_all("Requires-Dist") or []]
    runtime = {name for name, marker in requirements if not marker}
    assert {"aiohttp", "kubernetes-asyncio", "cryptography", "prometheus-client"} <= runtime
    assert runtime.isdisjoint(TEST_WORLD_ONLY), runtime & set(TEST_WORLD_ONLY)
    sandbox = {name for name, marker in requirements if 'extra == "sandbox"' in marker}
    assert set(TEST_WORLD_ONLY) <= sandbox


def test_no_production_module_imports_the_test_world_libraries() -> None:
    """Guards the dependency list: yaml and celpy appear only under controller/sandbox."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "controller").rglob("*.py")
        if "sandbox" not in path.relative_to(ROOT).parts
        for line in path.read_text().splitlines()
        if line.lstrip().startswith(("import yaml", "from yaml", "import celpy", "from celpy"))
    ]
    assert offenders == []


def test_the_image_context_leaves_the_sandbox_out() -> None:
    ignore = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    assert "controller/sandbox/" in ignore


def test_make_demo_runs_the_sandbox_from_the_checkout() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "-m controller.sandbox demo" in makefile
    assert "sandbox" in makefile.split("pip install -q -e '.[", 1)[1].split("]", 1)[0]
