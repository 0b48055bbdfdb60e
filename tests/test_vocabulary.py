"""One vocabulary (issue 13): outcome names, credential methods, ``__token__`` and the PyPI URLs
are each spelled in one client module, and every module that lists them agrees with it.

The local world (``trustpub.local``) is an independent implementation of PyPI and keeps its own
spelling on purpose; it is left out of the scan.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from trustpub import auth, credentials, journal, outcomes, report, request
from trustpub.upload import _types as upload_types

SRC = Path(__file__).resolve().parents[1] / "src" / "trustpub"


def _client_modules() -> list[Path]:
    return [p for p in sorted(SRC.rglob("*.py")) if "local" not in p.relative_to(SRC).parts]


def _code_only(text: str) -> str:
    """The text without docstrings and comments: an example in prose is not a definition."""
    text = re.sub(r'"""[\s\S]*?"""', "", text)
    return re.sub(r"#.*", "", text)


@pytest.mark.parametrize(
    ("literal", "home"),
    [
        ('"__token__"', "auth.py"),
        ('"https://upload.pypi.org/legacy/"', "registry.py"),
        ('"https://test.pypi.org/legacy/"', "registry.py"),
        ('("auto", "trusted-publishing", "token")', "auth.py"),
        ('"failed", "not-attempted"]', "outcomes.py"),
        ('"uploaded", "already-present", "skipped"]', "outcomes.py"),
    ],
)
def test_each_name_is_spelled_in_one_client_module(literal: str, home: str) -> None:
    spelled = [p.relative_to(SRC).as_posix() for p in _client_modules() if literal in _code_only(p.read_text("utf-8"))]
    assert spelled == [home]


def test_modules_that_list_credential_methods_share_one_tuple() -> None:
    assert request.CREDENTIAL_METHODS is auth.METHODS
    assert credentials.METHODS is auth.METHODS


def test_outcome_lists_agree() -> None:
    assert upload_types.Outcome is outcomes.UploadOutcome
    assert set(outcomes.UPLOAD_OUTCOMES) <= set(outcomes.SUCCESSFUL) <= set(outcomes.FILE_OUTCOMES)
    assert not {"failed", "not-attempted"} & set(outcomes.SUCCESSFUL)
    # The journal records outcomes by the same names (plus "planned"), and every upload outcome.
    assert set(outcomes.UPLOAD_OUTCOMES) | {"failed"} <= set(journal.STATES) - {"planned"} <= set(outcomes.FILE_OUTCOMES)
    # The text report draws a symbol for every outcome a file can have, and nothing else.
    assert set(report._SYMBOL) == set(outcomes.FILE_OUTCOMES)


def test_credential_types_are_one_set_of_classes() -> None:
    """credentials re-exports what mint also uses: a Credentials from either is the same class."""
    from trustpub import mint

    assert credentials.Credentials is auth.Credentials
    assert mint.Credentials is auth.Credentials
    assert credentials.StaticCredentials is auth.StaticCredentials
