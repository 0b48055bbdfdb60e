"""Sphinx configuration of trustpub's documentation site (``make docs``).

No network: no intersphinx, no remote images or themes; the API reference is built
by autodoc from the installed package's docstrings. ``make test`` builds it with
warnings as errors, so a broken reference or a malformed docstring fails the suite.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent / "src"))

import trustpub  # noqa: E402

project = "trustpub"
author = "trustpub developers"
copyright = "trustpub developers"
release = version = trustpub.__version__

extensions = [
    "sphinx.ext.autodoc",
    "trustpub_docs",
]
exclude_patterns = ["_build"]
# Every document is in a toctree or explicitly orphaned; other CI pages may come later.
root_doc = "index"
html_theme = "alabaster"
html_static_path: list[str] = []
html_theme_options = {"description": "Trusted publishing, PEP 740 attestations, a strict preflight."}

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}
# The modules import sigstore and friends lazily; nothing to mock.
suppress_warnings: list[str] = []
