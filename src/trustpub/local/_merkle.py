"""An append-only RFC 6962 Merkle tree with inclusion proofs, for the local Rekor.

Verifiers recompute the root from a leaf and its audit path, so the local log must
build real trees, not fake proofs. Complete subtrees never change once full, so their
hashes are cached and a proof costs O(log² n) hashing however long the log grows.

Usage::

    from trustpub.local._merkle import MerkleTree, leaf_hash, root_from_inclusion_proof

    tree = MerkleTree()
    index = tree.append(b"entry body")
    proof = tree.inclusion_proof(index)
    assert root_from_inclusion_proof(index, tree.size, leaf_hash(b"entry body"), proof) == tree.root()
"""

from __future__ import annotations

import hashlib

__all__ = ["MerkleTree", "leaf_hash", "node_hash", "root_from_inclusion_proof"]

_EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 §2.1 leaf hash: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 §2.1 interior node hash: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """Leaf hashes in order, plus a cache of complete-subtree hashes.

    Not thread-safe by itself; the log that owns it serialises access.
    """

    def __init__(self) -> None:
        self._leaves: list[bytes] = []
        self._complete: dict[tuple[int, int], bytes] = {}

    @property
    def size(self) -> int:
        return len(self._leaves)

    def append(self, data: bytes) -> int:
        """Add an entry (hashed as a leaf); returns its index."""
        self._leaves.append(leaf_hash(data))
        return len(self._leaves) - 1

    def leaf(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        return self._leaves[index]

    def root(self, size: int | None = None) -> bytes:
        """The tree head over the first ``size`` leaves (default: all)."""
        size = self.size if size is None else size
        self._check_size(size)
        return self._hash(0, size) if size else _EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 §2.1.1 audit path of leaf ``index`` in the tree of ``size`` leaves.

        Ordered from the leaf's sibling up to the root's child, as Rekor sends it.
        """
        size = self.size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise IndexError(f"leaf {index} is not in a tree of size {size}")
        path: list[bytes] = []
        start, n = 0, size
        # Walk down from the root, collecting the sibling subtree at each level;
        # the RFC's PATH() lists them bottom-up, hence the reverse at the end.
        while n > 1:
            k = _split(n)
            if index - start < k:
                path.append(self._hash(start + k, n - k))
                n = k
            else:
                path.append(self._hash(start, k))
                start, n = start + k, n - k
        path.reverse()
        return path

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} is outside 0..{self.size}")

    def _hash(self, start: int, n: int) -> bytes:
        """MTH of leaves ``[start, start + n)``."""
        if n == 1:
            return self._leaves[start]
        complete = n & (n - 1) == 0
        if complete:
            cached = self._complete.get((start, n))
            if cached is not None:
                return cached
        k = _split(n)
        value = node_hash(self._hash(start, k), self._hash(start + k, n - k))
        if complete:
            self._complete[(start, n)] = value
        return value


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """Recompute the root from a leaf hash and its audit path (RFC 9162 §2.1.3.2).

    For tests that check the log's proofs independently of sigstore-python.
    Raises ``ValueError`` for a proof of the wrong length.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    fn, sn, result = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise ValueError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("inclusion proof is too short")
    return result
