"""The GitHub Action's outputs, from trustpub's JSON report: ``report``, ``provenance``, ``urls``.

Run by action/publish.sh with the Python of trustpub's virtual environment, after
``trustpub publish --json`` (also when it failed: the report still says what landed).
The report gives each file's release page; a workflow wants the file itself, so the
download URLs are read from the index's simple API (PEP 691 JSON, else the PEP 503
HTML page), without credentials. Where that page cannot be read (a private index),
the release page stands in and a warning says so.

Usage: python action/outputs.py REPORT_JSON   (appends to $GITHUB_OUTPUT)
"""

from __future__ import annotations

import html.parser
import json
import os
import secrets
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

#: PEP 691's JSON first, then the HTML page every simple API serves.
_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
_TIMEOUT = 15


@dataclass(frozen=True)
class Uploaded:
    """One file this run uploaded, on one index."""

    filename: str
    upload_url: str
    project: str
    release_page: str


def uploaded_files(report: dict[str, Any]) -> Iterator[Uploaded]:
    """Every file with outcome ``uploaded``, for one index or several (``targets``)."""
    targets = report.get("targets")
    sections: list[Any] = targets if isinstance(targets, list) else [report]
    for section in sections:
        if not isinstance(section, dict):
            continue
        project = str(section.get("project") or report.get("project") or "")
        for entry in section.get("files") or []:
            if isinstance(entry, dict) and entry.get("outcome") == "uploaded":
                yield Uploaded(str(entry["filename"]), str(section.get("upload_url") or ""), project, str(entry.get("url") or ""))


class _Anchors(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_data(self, data: str) -> None:
        if self._href is not None and data.strip():
            self.links[data.strip()] = self._href
            self._href = None


def download_urls(simple_url: str) -> dict[str, str]:
    """Filename -> absolute download URL (without the ``#sha256=`` fragment) on one simple page."""
    request = urllib.request.Request(simple_url, headers={"Accept": _ACCEPT, "User-Agent": "trustpub-action"})
    with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
        body = response.read(50 * 1024 * 1024).decode("utf-8", "replace")
        kind = response.headers.get("Content-Type", "")
        base = response.geturl()
    if "json" in kind:
        files = json.loads(body).get("files", [])
        found = {str(f["filename"]): str(f["url"]) for f in files if isinstance(f, dict) and "url" in f}
    else:
        parser = _Anchors()
        parser.feed(body)
        found = parser.links
    return {name: urljoin(base, url).split("#", 1)[0] for name, url in found.items()}


def _simple_url(upload_url: str, project: str) -> str:
    from trustpub.registry import Registry

    return Registry.parse(upload_url).simple_url(project)


def file_urls(report: dict[str, Any]) -> list[str]:
    """One URL per uploaded file, in the report's order."""
    pages: dict[tuple[str, str], dict[str, str]] = {}
    urls = []
    for item in uploaded_files(report):
        key = (item.upload_url, item.project)
        if key not in pages:
            try:
                pages[key] = download_urls(_simple_url(item.upload_url, item.project))
            except Exception as exc:  # a private or unreadable index: the release page stands in
                print(f"::warning title=trustpub action::cannot read the simple API of {item.upload_url} "
                      f"({type(exc).__name__}); the urls output names the release page instead", file=sys.stderr)
                pages[key] = {}
        urls.append(pages[key].get(item.filename) or item.release_page)
    return urls


def github_output(name: str, value: str) -> str:
    """One output in $GITHUB_OUTPUT's syntax; several lines use a random delimiter."""
    if "\n" not in value:
        return f"{name}={value}\n"
    delimiter = f"ghadelimiter_{secrets.token_hex(8)}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: outputs.py REPORT_JSON", file=sys.stderr)
        return 2
    report_path = Path(argv[0])
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"::warning title=trustpub action::no JSON report in {report_path} ({type(exc).__name__}); "
              "the outputs provenance and urls are empty", file=sys.stderr)
        report = {}
    if not isinstance(report, dict):
        report = {}
    provenance = report.get("release_provenance") or ""
    urls = file_urls(report)
    target = os.environ.get("GITHUB_OUTPUT")
    text = github_output("report", str(report_path)) + github_output("provenance", str(provenance))
    text += github_output("urls", "\n".join(urls))
    if target:
        with Path(target).open("a", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
