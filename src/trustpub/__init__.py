"""trustpub: publish Python distributions the way a careful release engineer would.

The library API (:mod:`trustpub.api`): :func:`publish`, :func:`check`, :func:`attest`,
:func:`verify` and :func:`inspect`, with their request and result dataclasses and the
stable exception classes, all importable from here. They are imported on first use,
not with the package, so that ``trustpub --version`` and ``import trustpub`` load none
of the heavy modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it (imported on first access).
_EXPORTS: dict[str, str] = {
    # functions
    "publish": "trustpub.api",
    "check": "trustpub.api",
    "attest": "trustpub.api",
    "verify": "trustpub.api",
    "inspect": "trustpub.api",
    "detect_identity": "trustpub.api",
    # requests and results
    "PublishRequest": "trustpub.request",
    "Target": "trustpub.artifacts",
    "Registry": "trustpub.registry",
    "RegistryKind": "trustpub.registry",
    "PublishResult": "trustpub.publish_result",
    "PublishedFile": "trustpub.publish_result",
    "CheckReport": "trustpub.checks",
    "AttestRequest": "trustpub.operations",
    "AttestResult": "trustpub.operations",
    "VerifyRequest": "trustpub.operations",
    "VerifyResult": "trustpub.operations",
    "InspectReport": "trustpub.operations",
    "StaticProvider": "trustpub.oidc",
    # exceptions
    "TrustpubError": "trustpub.errors",
    "ConfigurationError": "trustpub.errors",
    "CheckFailed": "trustpub.errors",
    "WouldBeRefused": "trustpub.errors",
    "PublishFailed": "trustpub.publish_result",
    "UnknownRegistry": "trustpub.request_errors",
    "NoTargets": "trustpub.request_errors",
    "EmptyField": "trustpub.request_errors",
    "UnknownTargetKind": "trustpub.request_errors",
    "WrongExtension": "trustpub.request_errors",
    "MalformedDigest": "trustpub.request_errors",
    "TargetNotFound": "trustpub.request_errors",
    "SizeMismatch": "trustpub.request_errors",
    "DuplicateTarget": "trustpub.request_errors",
    "MissingIdentityProvider": "trustpub.request_errors",
    "ReleaseMismatch": "trustpub.request_errors",
    "DigestMismatch": "trustpub.request_errors",
}

#: Every name of :data:`_EXPORTS`, and the version (tests/test_library_api.py checks they agree).
__all__ = [
    "AttestRequest",
    "AttestResult",
    "CheckFailed",
    "CheckReport",
    "ConfigurationError",
    "DigestMismatch",
    "DuplicateTarget",
    "EmptyField",
    "InspectReport",
    "MalformedDigest",
    "MissingIdentityProvider",
    "NoTargets",
    "PublishFailed",
    "PublishRequest",
    "PublishResult",
    "PublishedFile",
    "Registry",
    "RegistryKind",
    "ReleaseMismatch",
    "SizeMismatch",
    "StaticProvider",
    "Target",
    "TargetNotFound",
    "TrustpubError",
    "UnknownRegistry",
    "UnknownTargetKind",
    "VerifyRequest",
    "VerifyResult",
    "WouldBeRefused",
    "WrongExtension",
    "__version__",
    "attest",
    "check",
    "detect_identity",
    "inspect",
    "publish",
    "verify",
]

if TYPE_CHECKING:
    from trustpub.api import attest, check, detect_identity, inspect, publish, verify
    from trustpub.artifacts import Target
    from trustpub.checks import CheckReport
    from trustpub.errors import CheckFailed, ConfigurationError, TrustpubError, WouldBeRefused
    from trustpub.oidc import StaticProvider
    from trustpub.operations import (
        AttestRequest,
        AttestResult,
        InspectReport,
        VerifyRequest,
        VerifyResult,
    )
    from trustpub.publish_result import PublishedFile, PublishFailed, PublishResult
    from trustpub.registry import Registry, RegistryKind
    from trustpub.request import PublishRequest
    from trustpub.request_errors import (
        DigestMismatch,
        DuplicateTarget,
        EmptyField,
        MalformedDigest,
        MissingIdentityProvider,
        NoTargets,
        ReleaseMismatch,
        SizeMismatch,
        TargetNotFound,
        UnknownRegistry,
        UnknownTargetKind,
        WrongExtension,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trustpub' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
