"""CI identities: fetch an OIDC token from the CI job, and read what it says.

An :class:`OIDCProvider` hands out a fresh OIDC JWT for an audience (``pypi``,
``testpypi``, ``sigstore``). :func:`detect_ci` finds the provider of the CI this
process runs in, and says which CI it found even when that CI cannot give a token
(the job lacks ``id-token: write``, it runs for a fork's pull request, …)::

    detection = detect_ci()
    if detection.provider is None:
        raise detection.error or NotInCI.default()
    token = detection.provider.fetch("pypi")
    print(token.provider, token.claims["repository"])   # never print token.value

Providers: GitHub Actions (our own code, talks to the runner's token endpoint, so
tests can point it at http://127.0.0.1), GitLab CI (``<AUDIENCE>_ID_TOKEN`` env var),
Google Cloud, Buildkite and CircleCI (through ``id``), and :class:`StaticProvider`
(a token from ``TRUSTPUB_OIDC_TOKEN`` or the file named by ``TRUSTPUB_OIDC_TOKEN_FILE``,
for where no ambient provider exists, e.g. Google Cloud outside the metadata server).
A static token has one audience, the index's; attestations need a second one for
Sigstore (``aud: sigstore``), given in ``TRUSTPUB_SIGSTORE_OIDC_TOKEN`` or
``TRUSTPUB_SIGSTORE_OIDC_TOKEN_FILE``.

:func:`check_audiences` asks a provider whose tokens are declared up front (GitLab's
``id_tokens:``, static tokens) whether it can serve every audience a release needs,
so that one message names everything missing before anything is signed.

The second half reads claims: :func:`publisher_settings` is the trusted publisher an
index must have to accept a token, :func:`diagnose` lists what is likely to go wrong
(reusable workflow, no environment, fork pull request, ``pull_request_target``,
customised ``sub``). Claims are not secret (without the signature they prove
nothing); the token itself is, so it lives in a :class:`~trustpub.secrets.Secret`.

The parts, one job each (private, behind this ``__init__``): ``_names`` (issuers,
audiences, variables), ``_errors``, ``_token`` (:class:`OIDCToken`, the
:class:`OIDCProvider` protocol, :func:`check_audiences`), one module per CI family
(``_github``, ``_gitlab``, ``_ambient`` for the CIs served by ``id``, ``_static``),
``_detect`` (:func:`detect_ci`), ``_claims`` (:func:`publisher_settings`, shown
claims) and ``_problems`` (:func:`diagnose`, :func:`compare_with_publisher`).
"""

from __future__ import annotations

from trustpub.oidc._ambient import BuildkiteProvider, CircleCIProvider, GoogleCloudProvider
from trustpub.oidc._claims import (
    PublisherSettings,
    publisher_settings,
    reusable_workflow_warning,
    shown_claims,
)
from trustpub.oidc._detect import CIDetection, detect_ci
from trustpub.oidc._errors import (
    ForkPullRequest,
    IssuerNotAccepted,
    MissingIdTokenPermission,
    MissingIdTokens,
    NotInCI,
    OIDCError,
    TokenRequestFailed,
)
from trustpub.oidc._github import (
    GitHubActionsProvider,
    github_event_name,
    github_fork_pull_request,
)
from trustpub.oidc._gitlab import GitLabCIProvider, gitlab_env_var, gitlab_id_tokens_block
from trustpub.oidc._names import (
    ACCEPTED_ISSUERS,
    GITHUB_ISSUER,
    GITLAB_ISSUER,
    GOOGLE_ISSUER,
    SIGSTORE_AUDIENCE,
    STATIC_SIGSTORE_TOKEN_ENV,
    STATIC_SIGSTORE_TOKEN_FILE_ENV,
    STATIC_TOKEN_ENV,
    STATIC_TOKEN_FILE_ENV,
)
from trustpub.oidc._names import (
    ACTIVESTATE_ISSUER as ACTIVESTATE_ISSUER,
)
from trustpub.oidc._problems import Problem, compare_with_publisher, diagnose
from trustpub.oidc._static import StaticProvider
from trustpub.oidc._token import (
    OIDCProvider,
    OIDCToken,
    check_audiences,
    decode_claims,
    issuer_accepted_by_pypi,
)

# Importable from here as before the split, though not in __all__: ACTIVESTATE_ISSUER
# (trustpub.attestability reads it).
__all__ = [
    "ACCEPTED_ISSUERS",
    "GITHUB_ISSUER",
    "GITLAB_ISSUER",
    "GOOGLE_ISSUER",
    "SIGSTORE_AUDIENCE",
    "STATIC_SIGSTORE_TOKEN_ENV",
    "STATIC_SIGSTORE_TOKEN_FILE_ENV",
    "STATIC_TOKEN_ENV",
    "STATIC_TOKEN_FILE_ENV",
    "BuildkiteProvider",
    "CIDetection",
    "CircleCIProvider",
    "ForkPullRequest",
    "GitHubActionsProvider",
    "GitLabCIProvider",
    "GoogleCloudProvider",
    "IssuerNotAccepted",
    "MissingIdTokenPermission",
    "MissingIdTokens",
    "NotInCI",
    "OIDCError",
    "OIDCProvider",
    "OIDCToken",
    "Problem",
    "PublisherSettings",
    "StaticProvider",
    "TokenRequestFailed",
    "check_audiences",
    "compare_with_publisher",
    "decode_claims",
    "detect_ci",
    "diagnose",
    "github_event_name",
    "github_fork_pull_request",
    "gitlab_env_var",
    "gitlab_id_tokens_block",
    "issuer_accepted_by_pypi",
    "publisher_settings",
    "reusable_workflow_warning",
    "shown_claims",
]
