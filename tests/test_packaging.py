"""Packaging a user can trust (issue 14 §5): the licence file matches the metadata, every
runtime dependency is imported by the kit, optional packages are extras with an install hint,
and the sdist holds what the README refers to."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
CODE_DIRS = ("src", "reference", "conformance", "model")

#: distribution -> the module it provides
MODULE = {
    "cryptography": "cryptography",
    "attrs": "attrs",
    "networkx": "networkx",
    "z3-solver": "z3",
    "hypothesis": "hypothesis",
    "click": "click",
    "rich": "rich",
    "pytest": "pytest",
    "pytest-xdist": "xdist",
    "pytest-timeout": "pytest_timeout",
    "jsonschema": "jsonschema",
    "cddl-verifier": "cddl_verifier",
}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~; \[]", requirement, maxsplit=1)[0].lower()


def _sources() -> str:
    return "\n".join(
        p.read_text(encoding="utf-8") for d in CODE_DIRS for p in (ROOT / d).rglob("*.py")
    )


def test_licence_file_matches_the_metadata() -> None:
    assert PROJECT["license"] == "MIT"  # an SPDX expression, not the deprecated table
    assert PROJECT["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert (ROOT / "SECURITY.md").exists()


#: hosts that point at nothing (RFC 2606 / RFC 6761 reserved names) or at this machine
PLACEHOLDER_HOST = re.compile(
    r"https?://([^/]*\.)?(example(\.(com|org|net))?|invalid|test|localhost)(:\d+)?(/|$)", re.I
)


def test_metadata_urls_point_somewhere_real() -> None:
    """No placeholder home page: a URL field names a real public address or is absent
    (edbp has none yet, so the table is absent and SECURITY.md says how to report)."""
    for name, url in PROJECT.get("urls", {}).items():
        assert url.startswith("https://"), (name, url)
        assert not PLACEHOLDER_HOST.match(url), f"[project.urls] {name} is a placeholder: {url}"
    for placeholder in (
        "https://edbp.example/spec/",
        "https://example.com/x",
        "http://localhost:8",
    ):
        assert PLACEHOLDER_HOST.match(placeholder), placeholder  # the check itself bites
    assert not PLACEHOLDER_HOST.match("https://pypi.org/project/edbp/")
    schema = (ROOT / "spec" / "report.schema.json").read_text()
    assert "edbp.example" not in schema


def test_every_runtime_dependency_is_imported_by_the_kit() -> None:
    code = _sources()
    for requirement in PROJECT["dependencies"]:
        module = MODULE[_name(requirement)]
        pattern = rf"^\s*(import|from) {re.escape(module)}\b|\"{re.escape(module)}[\".]"
        assert re.search(pattern, code, re.M), f"{requirement}: nothing imports {module}"


def test_optional_packages_are_extras_with_an_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = {_name(r) for r in PROJECT["dependencies"]}
    extras = PROJECT["optional-dependencies"]
    assert "flask" not in runtime and "python-pkcs11" not in runtime and "cbor2" not in runtime
    assert [_name(r) for r in extras["keyservice"]] == ["flask"]
    assert [_name(r) for r in extras["hsm"]] == ["python-pkcs11"]
    for path in ("reference/blueprint/keyservice_http.py", "reference/cloud/keyvault_pkcs11.py"):
        assert "require(" in (ROOT / path).read_text(), path  # the extra's one-line error
    from edbp.errors import Code, ConfigError
    from edbp.extras import install_hint, require

    assert install_hint("flask") == "Flask is not installed: pip install 'edbp[keyservice]'"
    assert install_hint("pkcs11") == "python-pkcs11 is not installed: pip install 'edbp[hsm]'"
    monkeypatch.setitem(sys.modules, "flask", None)  # as if Flask were not installed
    with pytest.raises(ConfigError) as exc:
        require("flask")
    assert exc.value.code == Code.CONFORMANCE_DEPENDENCY_MISSING
    assert "pip install 'edbp[keyservice]'" in exc.value.detail


def test_the_sdist_holds_what_the_readme_refers_to(tmp_path: Path) -> None:
    import setuptools

    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip("building needs setuptools>=77 (the build-system requirement)")
    code = (
        "import sys\nfrom setuptools import build_meta\n"
        f"print(build_meta.build_sdist({str(tmp_path)!r}))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    name = res.stdout.strip().splitlines()[-1]
    with tarfile.open(tmp_path / name) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in (
        "LICENSE",
        "SECURITY.md",
        "README.md",
        "tox.ini",
        ".ci/run",
        "docs/vendor-guide.md",
        "docs/DEVELOPING.md",
        "spec/report.schema.json",
        "spec/adapter.cddl",
        "examples/shim-c/shim.c",
        "tests/conftest.py",
        "vectors/index.json",
    ):
        assert needed in names, needed
    assert any(n.startswith("spec/examples/") for n in names)
    assert not any("__pycache__" in n for n in names)
