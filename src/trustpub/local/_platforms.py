"""Which wheel platform tags the local index accepts (``warehouse-contract.md`` §2.4, step 21).

PyPI only takes binary wheels for platforms with a published ABI: a fixed set of
tags, plus families matched by pattern (PEP 600 manylinux and PEP 656 musllinux per
architecture, macOS 10.x and 11+ with minor 0, iOS, Android, Pyodide).  Plain
``linux_x86_64`` is refused.  The local index keeps its own copy of the list, written
from the contract, so that trustpub's preflight copy can be checked against it.

Usage::

    from trustpub.local._platforms import valid_platform_tag

    valid_platform_tag("manylinux_2_28_x86_64")  # True
    valid_platform_tag("linux_x86_64")           # False
"""

from __future__ import annotations

import re

__all__ = ["valid_platform_tag"]

_FIXED_TAGS = frozenset(
    {"any", "win32", "win_amd64", "win_arm64", "win_ia64", "linux_armv6l", "linux_armv7l"}
    | {f"manylinux1_{arch}" for arch in ("x86_64", "i686")}
    | {f"manylinux2010_{arch}" for arch in ("x86_64", "i686")}
    | {
        f"manylinux2014_{arch}"
        for arch in ("x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x")
    }
)

_PEP600_656_ARCHES = frozenset({"x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x", "riscv64"})
_ARCHES_BY_LIBC = {"many": _PEP600_656_ARCHES | {"ppc64"}, "musl": _PEP600_656_ARCHES}
_MACOS_ARCHES = frozenset(
    {"ppc", "ppc64", "i386", "x86_64", "arm64", "intel", "fat", "fat3", "fat64"}
    | {"universal", "universal2"}
)
_MACOS_MAJORS_SINCE_11 = frozenset({"11", "12", "13", "14", "15", "26"})
_IOS_ARCHES = frozenset({"arm64", "x86_64"})
_ANDROID_ARCHES = frozenset({"armeabi_v7a", "arm64_v8a", "x86", "x86_64"})

_LINUX = re.compile(r"(many|musl)linux_\d+_\d+_(.*)")
_MACOS = re.compile(r"macosx_(\d+)_(\d+)_(.*)")
_IOS = re.compile(r"ios_\d+_\d+_(.*)_(?:iphoneos|iphonesimulator)")
_ANDROID = re.compile(r"android_\d+_(.*)")
_PYEMSCRIPTEN = re.compile(r"pyemscripten_\d+_\d+_wasm32")


def _macos(major: str, minor: str, arch: str) -> bool:
    # 10.x grew its minor version; from 11 on only the major moves, so only x_0 names one.
    if arch not in _MACOS_ARCHES:
        return False
    return major == "10" or (major in _MACOS_MAJORS_SINCE_11 and minor == "0")


def valid_platform_tag(tag: str) -> bool:
    """Whether the local index, like PyPI, accepts a wheel with this platform tag.

    Patterns are anchored at the start only, as PyPI matches them.
    """
    if tag in _FIXED_TAGS:
        return True
    if (found := _MACOS.match(tag)) and _macos(*found.groups()):
        return True
    if found := _LINUX.match(tag):
        return found.group(2) in _ARCHES_BY_LIBC[found.group(1)]
    if (found := _IOS.match(tag)) and found.group(1) in _IOS_ARCHES:
        return True
    if (found := _ANDROID.match(tag)) and found.group(1) in _ANDROID_ARCHES:
        return True
    return _PYEMSCRIPTEN.match(tag) is not None
