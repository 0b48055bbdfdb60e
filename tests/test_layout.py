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


#: Modules stay small enough to read in one sitting (issue 13: "under about 400 lines
#: unless one concept needs more"); 450 leaves room for a docstring or two.
MAX_MODULE_LINES = 450

#: module (relative to src/trustpub) -> (ceiling, why it is still larger). A module
#: here may not grow past its ceiling; one that shrinks under the limit must leave the
#: list, so the list stays the truth.
LARGE_MODULES: dict[str, tuple[int, str]] = {
    "transport.py": (600, "the one HTTP client's rules: credentials, redirects, retries, timeouts and bounds (connections and wire apart)"),
    "upload/upload2.py": (650, "the PEP 694 client state machine: one protocol, one module"),
    "local/_http.py": (700, "the local world's HTTP server (parsing, streaming, routing, TLS-free lifecycle)"),
    "local/_validate.py": (550, "Warehouse's upload-form validation in Warehouse's order; reads best in one file"),
    "attest/_attester.py": (470, "signing a release: the Attester and its batch; the statements are already apart"),
}


def _module_lengths() -> dict[str, int]:
    root = SRC / "trustpub"
    return {
        path.relative_to(root).as_posix(): len(path.read_text("utf-8").splitlines())
        for path in sorted(root.rglob("*.py"))
    }


def test_modules_stay_small() -> None:
    lengths = _module_lengths()
    too_long = {
        name: n
        for name, n in lengths.items()
        if n > LARGE_MODULES.get(name, (MAX_MODULE_LINES, ""))[0]
    }
    assert too_long == {}, f"split these modules (one job each) or record why: {too_long}"
    shrunk = {name for name, (_, _) in LARGE_MODULES.items() if lengths.get(name, 0) <= MAX_MODULE_LINES}
    assert shrunk == set(), f"drop from LARGE_MODULES (now small, or gone): {sorted(shrunk)}"


def test_split_modules_keep_their_public_names() -> None:
    """The splits of issue 13 kept the old import paths working for tests and callers."""
    from trustpub.checks import NotRegularFiles, collect_entries, collect_paths
    from trustpub.commands.doctor import diagnose_publishing, find_project
    from trustpub.diagnosis import DoctorReport
    from trustpub.discovery import NotRegularFiles as Moved
    from trustpub.local.index import LocalIndex
    from trustpub.orchestrator import VerificationFailed
    from trustpub.upload.engine import FileConflict, plan_release, upload_order
    from trustpub.upload.plan import FileConflict as PlannedConflict
    from trustpub.upload.verify import VerificationFailed as Verified
    from trustpub.zipcheck import MAX_ENTRIES, InvalidZip, validate_zip

    assert NotRegularFiles is Moved and FileConflict is PlannedConflict and VerificationFailed is Verified
    assert callable(collect_entries) and callable(collect_paths) and callable(plan_release)
    assert callable(upload_order) and callable(validate_zip) and callable(find_project)
    assert diagnose_publishing.__module__ == DoctorReport.__module__ == "trustpub.diagnosis"
    assert issubclass(InvalidZip, Exception) and MAX_ENTRIES > 0
    assert LocalIndex.__module__ == "trustpub.local.index"
