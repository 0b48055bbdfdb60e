"""errors.py is the one hierarchy: every public exception trustpub defines is a TrustpubError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import trustpub
from trustpub.errors import TrustpubError, WouldBeRefused
from trustpub.pep740 import AttestationRejected
from trustpub.zipcheck import InvalidZip


def _client_modules() -> list[str]:
    """Every module of the client; the local world (trustpub.local) has errors of its own."""
    return [
        m.name
        for m in pkgutil.walk_packages(trustpub.__path__, "trustpub.")
        if not m.name.startswith("trustpub.local") and m.name != "trustpub.__main__"
    ]


def test_every_public_exception_is_a_trustpub_error() -> None:
    outside = []
    for name in _client_modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == name
                and not attr.startswith("_")
                and not issubclass(value, TrustpubError)
            ):
                outside.append(f"{name}.{attr}")
    assert outside == []


@pytest.mark.parametrize("cls", [InvalidZip, AttestationRejected])
def test_refusals_keep_their_reason_and_stay_value_errors(cls: type[WouldBeRefused]) -> None:
    exc = cls("ZIP has more than 2 entries")
    assert isinstance(exc, TrustpubError)
    assert isinstance(exc, ValueError)  # what callers caught before they joined the hierarchy
    assert exc.reason == str(exc) == exc.message == "ZIP has more than 2 entries"
    assert exc.exit_code == 1


def test_attestation_rejected_still_builds_pypis_message() -> None:
    exc = AttestationRejected("A maximum of 2 attestations per file are supported")
    assert exc.upload_message.endswith("A maximum of 2 attestations per file are supported")
