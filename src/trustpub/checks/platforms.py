"""PyPI's allow-list of wheel platform tags (warehouse-contract.md §2.4, step 21).

PyPI only takes binary wheels for platforms with a published ABI specification, so a
wheel built for the builder's own Linux (``linux_x86_64``) is refused: it would only
work on machines like the builder's. ``manylinux``/``musllinux`` wheels made by
auditwheel are what PyPI expects instead.
"""

from __future__ import annotations

import re

__all__ = ["is_allowed_platform"]

_STATIC = frozenset(
    {
        "any",
        "win32",
        "win_amd64",
        "win_arm64",
        "win_ia64",
        "manylinux1_x86_64",
        "manylinux1_i686",
        "manylinux2010_x86_64",
        "manylinux2010_i686",
        "manylinux2014_x86_64",
        "manylinux2014_i686",
        "manylinux2014_aarch64",
        "manylinux2014_armv7l",
        "manylinux2014_ppc64",
        "manylinux2014_ppc64le",
        "manylinux2014_s390x",
        "linux_armv6l",
        "linux_armv7l",
    }
)

_MACOS_ARCHES = frozenset(
    {"ppc", "ppc64", "i386", "x86_64", "arm64", "intel", "fat", "fat3", "fat64", "universal", "universal2"}
)
# macOS 11 and later moved to major-only versioning, so only minor 0 is meaningful.
_MACOS_MAJORS_MINOR_ZERO = frozenset({"11", "12", "13", "14", "15", "26"})
_LINUX_ARCHES = frozenset({"x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x", "riscv64"})
_MANYLINUX_ARCHES = _LINUX_ARCHES | {"ppc64"}
_IOS_ARCHES = frozenset({"arm64", "x86_64"})
_ANDROID_ARCHES = frozenset({"armeabi_v7a", "arm64_v8a", "x86", "x86_64"})

_MACOS_RE = re.compile(r"^macosx_(?P<major>\d+)_(?P<minor>\d+)_(?P<arch>.+)$")
_LINUX_RE = re.compile(r"^(?P<libc>many|musl)linux_\d+_\d+_(?P<arch>.+)$")
_IOS_RE = re.compile(r"^ios_\d+_\d+_(?P<arch>.+)_(?:iphoneos|iphonesimulator)$")
_ANDROID_RE = re.compile(r"^android_\d+_(?P<arch>.+)$")
_EMSCRIPTEN_RE = re.compile(r"^pyemscripten_\d+_\d+_wasm32$")


def is_allowed_platform(tag: str) -> bool:
    """True if PyPI accepts a wheel with this platform tag.

    >>> is_allowed_platform("manylinux_2_28_x86_64"), is_allowed_platform("linux_x86_64")
    (True, False)
    """
    if tag in _STATIC:
        return True
    if m := _MACOS_RE.match(tag):
        if m["arch"] not in _MACOS_ARCHES:
            return False
        return m["major"] == "10" or (m["major"] in _MACOS_MAJORS_MINOR_ZERO and m["minor"] == "0")
    if m := _LINUX_RE.match(tag):
        arches = _MANYLINUX_ARCHES if m["libc"] == "many" else _LINUX_ARCHES
        return m["arch"] in arches
    if m := _IOS_RE.match(tag):
        return m["arch"] in _IOS_ARCHES
    if m := _ANDROID_RE.match(tag):
        return m["arch"] in _ANDROID_ARCHES
    return bool(_EMSCRIPTEN_RE.match(tag))
