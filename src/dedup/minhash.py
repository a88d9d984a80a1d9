"""MinHash signatures for batches of documents, and datasketch interop.

The permutation family is datasketch's ``"affine32"`` scheme (its default since
datasketch 2.0): each 32-bit shingle hash ``h`` is pre-mixed once with the
MurmurHash3 finaliser, then permutation ``k`` maps it to ``a_k * h + b_k mod
2**32`` with odd ``a_k``. The parameters come from
``numpy.random.RandomState(seed)`` exactly as datasketch draws them, so a
signature computed here equals, bit for bit, a ``datasketch.MinHash(num_perm,
seed)`` updated with the same 32-bit shingle hashes, and the two can be mixed
freely (see :func:`to_datasketch` and :func:`from_datasketch`).

Computing a signature is one multiply, one add and one minimum per shingle and
permutation, done in uint32 so the hardware wrap-around is the modulo. The
work runs over blocks of shingles from many documents at once and is reduced
per document with ``np.minimum.reduceat``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from . import backend

if TYPE_CHECKING:  # pragma: no cover
    import datasketch

__all__ = [
    "EMPTY",
    "from_datasketch",
    "jaccard_estimate",
    "minhash",
    "permutations",
    "to_datasketch",
]

#: Value of every slot of the signature of a document without shingles.
EMPTY = np.uint32(0xFFFFFFFF)

# Shingles per block: block x num_perm uint32 stays within a few MB (cache-friendly).
_BLOCK = 8192


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3 32-bit finaliser (datasketch's pre-mix), element-wise."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


@lru_cache(maxsize=16)
def permutations(num_perm: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The ``(a, b)`` uint32 parameters of ``num_perm`` affine permutations.

    Identical to ``datasketch.MinHash(num_perm, seed).permutations`` for the
    ``"affine32"`` scheme.
    """
    if num_perm < 1:
        raise ValueError(f"num_perm must be >= 1, got {num_perm}")
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


def minhash(hashes: np.ndarray, bounds: np.ndarray, *, num_perm: int = 128, seed: int = 1) -> np.ndarray:
    """MinHash signatures of many documents at once.

    Parameters
    ----------
    hashes:
        uint32 shingle hashes of all documents, concatenated.
    bounds:
        int64 array of length ``n_docs + 1``: the shingles of document ``d``
        are ``hashes[bounds[d]:bounds[d + 1]]``.
    num_perm, seed:
        Number of permutations and the seed that draws them.

    Returns
    -------
    numpy.ndarray
        ``(n_docs, num_perm)`` uint32. A document without shingles has every
        slot equal to :data:`EMPTY`.

    >>> import numpy as np
    >>> sig = minhash(np.array([1, 2, 3, 1, 2, 3], dtype=np.uint32), np.array([0, 3, 6, 6]), num_perm=4)
    >>> sig.shape, bool((sig[0] == sig[1]).all()), bool((sig[2] == EMPTY).all())
    ((3, 4), True, True)
    """
    a, b = permutations(num_perm, seed)
    bounds = np.asarray(bounds, dtype=np.int64)
    n_docs = len(bounds) - 1
    out = np.full((n_docs, num_perm), EMPTY, dtype=np.uint32)
    total = int(bounds[-1]) if n_docs else 0
    if total == 0:
        return out
    mixed = _fmix32(np.asarray(hashes, dtype=np.uint32)[:total])
    kernels = backend.kernels(total * num_perm // 16)
    if kernels is not None:
        kernels.minhash_block(mixed, bounds, a, b, out)
        return out
    block = np.empty((_BLOCK, num_perm), dtype=np.uint32)
    for lo in range(0, total, _BLOCK):
        hi = min(lo + _BLOCK, total)
        # Documents that have shingles in [lo, hi), and where each one starts in the block.
        first_doc = int(np.searchsorted(bounds, lo, side="right")) - 1
        last_doc = int(np.searchsorted(bounds, hi - 1, side="right")) - 1
        docs = np.arange(first_doc, last_doc + 1)
        # Skip documents without shingles in this block (empty ones included).
        docs = docs[(bounds[docs + 1] > lo) & (bounds[docs + 1] > bounds[docs])]
        seg = np.clip(bounds[docs], lo, hi) - lo
        buf = block[: hi - lo]
        np.multiply(mixed[lo:hi, None], a[None, :], out=buf)
        np.add(buf, b[None, :], out=buf)
        mins = np.minimum.reduceat(buf, seg, axis=0)
        np.minimum(out[docs], mins, out=mins)
        out[docs] = mins
    return out


def jaccard_estimate(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray | float:
    """Estimated Jaccard similarity: the fraction of equal signature slots.

    Works on two signatures, or row-wise on two ``(n, num_perm)`` arrays.
    Two empty signatures estimate 0.0, not 1.0: an empty document is never
    a duplicate by accident of two empty sets.

    Parameters
    ----------
    sig_a, sig_b : numpy.ndarray
        Two signatures of equal length, or two ``(n, num_perm)`` arrays.

    Returns
    -------
    float or numpy.ndarray
        The estimate, or one estimate per row.
    """
    sig_a = np.asarray(sig_a)
    sig_b = np.asarray(sig_b)
    equal = (sig_a == sig_b) & (sig_a != EMPTY)
    result = equal.mean(axis=-1)
    return float(result) if np.ndim(result) == 0 else result


def to_datasketch(signature: np.ndarray, *, seed: int = 1, lean: bool = False) -> datasketch.MinHash:
    """Convert one signature row into a ``datasketch.MinHash`` (or ``LeanMinHash``).

    The result can be inserted into a ``datasketch.MinHashLSH`` next to
    sketches made by datasketch itself with the same ``num_perm`` and
    ``seed`` (scheme ``"affine32"``, datasketch's default).

    Parameters
    ----------
    signature : numpy.ndarray
        One signature row of ``num_perm`` uint32 values, as from :func:`dedup.signatures`.
    seed : int
        The seed the signature was made with.
    lean : bool
        Return a ``datasketch.LeanMinHash`` (smaller, immutable).

    Returns
    -------
    datasketch.MinHash
        A ``MinHash`` (or ``LeanMinHash``) with exactly these hash values.

    >>> import datasketch
    >>> from dedup import signatures
    >>> sig = signatures(["the quick brown fox jumps over the lazy dog"], num_perm=64)
    >>> m = to_datasketch(sig[0])
    >>> (m.num_perm, m.scheme)
    (64, 'affine32')
    """
    import datasketch

    signature = np.asarray(signature, dtype=np.uint32)
    a, b = permutations(len(signature), seed)
    m = datasketch.MinHash(
        seed=seed,
        hashvalues=signature.copy(),
        permutations=(a.copy(), b.copy()),
        scheme="affine32",
    )
    return datasketch.LeanMinHash(m) if lean else m


def from_datasketch(m: datasketch.MinHash) -> np.ndarray:
    """The signature row of a datasketch ``MinHash``/``LeanMinHash`` (scheme ``affine32``).

    Parameters
    ----------
    m : datasketch.MinHash
        A ``MinHash`` or ``LeanMinHash`` with the ``"affine32"`` scheme.

    Returns
    -------
    numpy.ndarray
        A copy of its ``num_perm`` uint32 hash values.

    Raises
    ------
    ValueError
        For another scheme (its values would not be comparable).
    """
    scheme = getattr(m, "scheme", "legacy")
    if scheme != "affine32":
        raise ValueError(f"only datasketch's 'affine32' scheme can be converted, got {scheme!r}")
    return np.asarray(m.hashvalues, dtype=np.uint32).copy()
