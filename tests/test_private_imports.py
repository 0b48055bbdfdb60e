"""No new imports of third-party private modules or names without a reason on record.

A private module (``sigstore._internal...``) can change in any release, so each one
used forces a narrow version range in pyproject.toml. This scan of ``src/trustpub``
lists every import of a third-party module path or name with a ``_``-prefixed part
and compares it with the allow-list below; a new one fails until it is added here
with its reason (and the range in pyproject.toml is checked), a removed one fails
until the list forgets it, so the list stays the truth.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

SRC = Path(__file__).resolve().parents[1] / "src" / "trustpub"

#: (file relative to src/trustpub, imported module, name or "") -> why no public API serves.
ALLOWED: dict[tuple[str, str, str], str] = {
    ("attest/_rekor.py", "sigstore._internal.rekor", "EntryRequestBody"): (
        "the request type create_entry receives; part of the RekorClient subclass below"
    ),
    ("attest/_rekor.py", "sigstore._internal.rekor.client", "RekorClient"): (
        "subclassed to post entries over trustpub's pooled transport (half of signing's CPU); "
        "sigstore has no public Rekor client"
    ),
    ("attest/_signing.py", "sigstore._internal.fulcio", "ExpiredCertificate"): (
        "what Signer raises when its cached certificate has expired; sigstore exports no public "
        "exception for it, and the retry with a fresh certificate needs to tell it apart"
    ),
    ("attest/_trust.py", "sigstore._utils", "read_embedded"): (
        "reads the trusted root shipped in sigstore-python for --offline; the public "
        "ClientTrustConfig.production(offline=True) creates and seeds a TUF cache in the home folder"
    ),
    **{
        ("local/_validate.py", "packaging.metadata", name): (
            "the local index reads the upload form as Warehouse's parse_form_metadata does, "
            "with the same packaging internals (field tables and keyword/project-URL parsers)"
        )
        for name in ("_LIST_FIELDS", "_RAW_TO_EMAIL_MAPPING", "_STRING_FIELDS", "_parse_keywords", "_parse_project_urls")
    },
    ("pep740.py", "sigstore.dsse", "_Statement"): (
        "parses the signed in-toto statement exactly as pypi-attestations (so PyPI) does; the "
        "public dsse.Statement only exposes the parse through a private attribute"
    ),
    ("oidc/_ambient.py", "id._internal.oidc", "ambient"): (
        "one detector per CI (Google Cloud, Buildkite, CircleCI...); id's public detect_credential "
        "tries them all and cannot say which CI answered"
    ),
}


def _third_party(module: str) -> bool:
    top = module.split(".")[0]
    return top != "trustpub" and top not in sys.stdlib_module_names


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def private_imports(root: Path = SRC) -> set[tuple[str, str, str]]:
    """Every (file, module, name) import of a third-party private module or name under ``root``."""
    found: set[tuple[str, str, str]] = set()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if _third_party(alias.name) and any(_private(p) for p in alias.name.split(".")):
                        found.add((rel, alias.name, ""))
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and _third_party(node.module):
                module_private = any(_private(p) for p in node.module.split("."))
                for alias in node.names:
                    if module_private or _private(alias.name):
                        found.add((rel, node.module, alias.name))
    return found


def test_private_imports_are_all_on_the_allow_list() -> None:
    found = private_imports()
    new = sorted(found - ALLOWED.keys())
    assert not new, f"private third-party imports without a reason in ALLOWED (and a narrow range in pyproject.toml): {new}"
    gone = sorted(ALLOWED.keys() - found)
    assert not gone, f"ALLOWED names imports that are gone; remove them (and widen the range if nothing else needs it): {gone}"


def test_the_scan_sees_every_form(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text(
        "import os._private_std\n"            # stdlib: not ours to police
        "import sigstore._internal.tuf\n"
        "from sigstore import _utils\n"
        "from sigstore.sign import _hidden, Signer\n"
        "from sigstore.models import Bundle\n"
        "from trustpub._x import y\n"          # our own private modules are fine
        "from . import _sibling\n"
        "def f():\n    from id._internal.oidc import ambient\n"
    )
    assert private_imports(tmp_path) == {
        ("pkg/mod.py", "sigstore._internal.tuf", ""),
        ("pkg/mod.py", "sigstore", "_utils"),
        ("pkg/mod.py", "sigstore.sign", "_hidden"),
        ("pkg/mod.py", "id._internal.oidc", "ambient"),
    }


def test_pyproject_keeps_a_narrow_range_for_each_allowed_package() -> None:
    # A package used through private modules gets an upper bound, and the installed
    # (tested) version lies inside its range.
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((SRC.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = {canonicalize_name(r.name): r for r in map(Requirement, project["dependencies"])}
    for package in sorted({module.split(".")[0] for _, module, _ in ALLOWED}):
        specifier = requirements[canonicalize_name(package)].specifier
        assert any(s.operator in ("<", "<=", "==", "~=") for s in specifier), (package, str(specifier))
        assert importlib.metadata.version(package) in specifier, (package, str(specifier))
