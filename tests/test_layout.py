"""Private modules stay private (issue 13): no module imports ``trustpub.X._y`` or a ``_name``
of another package; a package's ``__init__`` re-exports what its neighbours need."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

#: (importing module, imported module, name) -> why it is still there. Empty is the goal.
KNOWN: dict[tuple[str, str, str], str] = {}


def _private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def _package_of(path: Path, src: Path) -> tuple[str, str]:
    parts = path.relative_to(src).with_suffix("").parts
    module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    package = module if parts[-1] == "__init__" else module.rpartition(".")[0]
    return module, package


def cross_package_private_imports(src: Path = SRC) -> set[tuple[str, str, str]]:
    """(importer, module, name or "") for each import of a private module or name of another package."""
    found: set[tuple[str, str, str]] = set()
    for path in sorted((src / "trustpub").rglob("*.py")):
        module, package = _package_of(path, src)
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
                continue
            if not node.module.startswith("trustpub"):
                continue
            parts = node.module.split(".")
            for i, part in enumerate(parts):
                if _private(part) and ".".join(parts[:i]) != package:
                    found.add((module, node.module, ""))
                    break
            else:
                # A private name is private to the package of the module it comes from.
                home = node.module
                for alias in node.names:
                    if _private(alias.name) and package not in (home, home.rpartition(".")[0]):
                        found.add((module, node.module, alias.name))
    return found


def test_no_module_reaches_into_another_packages_private_parts() -> None:
    assert cross_package_private_imports() == set(KNOWN)


def test_the_scan_sees_one() -> None:
    """The scan is not blind: a planted cross-package import of a private module is found."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "trustpub" / "cmd").mkdir(parents=True)
        (root / "trustpub" / "cmd" / "x.py").write_text("from trustpub.attest._statements import rfc3339\n")
        (root / "trustpub" / "attest").mkdir()
        (root / "trustpub" / "attest" / "__init__.py").write_text("from trustpub.attest._statements import rfc3339\n")
        (root / "trustpub" / "cmd" / "y.py").write_text("from trustpub.checks import _load_rules\n")
        assert cross_package_private_imports(root) == {
            ("trustpub.cmd.x", "trustpub.attest._statements", ""),
            ("trustpub.cmd.y", "trustpub.checks", "_load_rules"),
        }
