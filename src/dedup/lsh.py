"""Locality-sensitive hashing over MinHash signatures.

A signature of ``num_perm`` slots is cut into ``bands`` bands of ``rows``
slots. Two documents become a *candidate pair* when all the rows of at least
one band are equal, which happens with probability ``1 - (1 - s**rows)**bands``
for Jaccard similarity ``s`` (the S-curve, see ``docs/lsh.md``).

Band keys are computed for a whole batch at once (one uint64 per document and
band). Candidate pairs come from sorting each band's keys: inside a bucket,
every member is paired with the next ``window`` members, so a bucket of ``m``
documents yields at most ``m * window`` pairs instead of ``m * (m - 1) / 2``,
while still connecting the whole bucket (it stays one connected chain).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import backend
from .minhash import EMPTY

__all__ = [
    "RECALL_MARGIN",
    "LSHIndex",
    "band_keys",
    "band_pair_codes",
    "candidate_pairs",
    "collision_probability",
    "default_bands",
    "optimal_bands",
    "pairs_from_codes",
    "resolve_bands",
    "write_band_keys",
]

_U64 = np.uint64
DEFAULT_WINDOW = 32
#: The banding is tuned this far below the threshold, so pairs at the threshold are rarely missed.
RECALL_MARGIN = 0.2
#: Lowest similarity the banding is ever tuned for (a threshold of 0.1 still bands for 0.05).
_MIN_TUNED = 0.05


def collision_probability(similarity: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """Probability that two documents of Jaccard ``similarity`` share a bucket.

    Parameters
    ----------
    similarity : float or array_like
        Jaccard similarity (element-wise on arrays).
    bands, rows : int
        The banding.

    Returns
    -------
    float or numpy.ndarray
        ``1 - (1 - similarity**rows) ** bands``.
    """
    s = np.asarray(similarity, dtype=float)
    return 1.0 - (1.0 - s**rows) ** bands


@lru_cache(maxsize=256)
def optimal_bands(
    threshold: float,
    num_perm: int,
    false_positive_weight: float = 0.5,
    false_negative_weight: float = 0.5,
) -> tuple[int, int]:
    """``(bands, rows)`` minimising the weighted false positive and negative areas.

    The false-positive area is the integral of the S-curve below
    ``threshold``; the false-negative area is the integral of its complement
    above it. This is the criterion of datasketch's ``MinHashLSH``, computed
    here for every ``(bands, rows)`` with ``bands * rows <= num_perm`` at once.

    >>> optimal_bands(0.8, 128)
    (9, 13)
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if num_perm < 2:
        raise ValueError(f"num_perm must be >= 2, got {num_perm}")
    bands, rows = [], []
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            bands.append(b)
            rows.append(r)
    b_col = np.array(bands, dtype=float)[:, None]
    r_col = np.array(rows, dtype=float)[:, None]
    # Simpson's rule on a fine grid: smooth integrands, error far below the gaps between candidates.
    n = 400
    lo = np.linspace(0.0, threshold, 2 * n + 1)
    hi = np.linspace(threshold, 1.0, 2 * n + 1)
    w = np.ones(2 * n + 1)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    fp = (1.0 - (1.0 - lo[None, :] ** r_col) ** b_col) @ w * (threshold / (6 * n))
    fn = ((1.0 - hi[None, :] ** r_col) ** b_col) @ w * ((1.0 - threshold) / (6 * n))
    error = fp * false_positive_weight + fn * false_negative_weight
    best = int(np.argmin(error))
    return bands[best], rows[best]


def default_bands(
    threshold: float,
    num_perm: int,
    *,
    recall_margin: float = RECALL_MARGIN,
    weights: tuple[float, float] = (0.5, 0.5),
) -> tuple[int, int]:
    """The default ``(bands, rows)`` of every engine for ``threshold``.

    The banding is tuned with :func:`optimal_bands` for ``threshold -
    recall_margin`` (at least 0.05): tuned at the threshold itself, about
    half of the pairs just above the threshold would never become candidates
    (see ``docs/lsh.md``).

    Parameters
    ----------
    threshold : float
        Jaccard similarity at which pairs must be found, in (0, 1].
    num_perm : int
        Signature length.
    recall_margin : float
        How far below ``threshold`` the banding is tuned; 0 gives datasketch's choice.
    weights : tuple of float
        ``(false_positive_weight, false_negative_weight)`` for :func:`optimal_bands`.

    Returns
    -------
    tuple of int
        ``(bands, rows)``.

    >>> default_bands(0.8, 128), default_bands(0.8, 128, recall_margin=0.0)
    ((18, 7), (9, 13))
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    return optimal_bands(max(threshold - recall_margin, _MIN_TUNED), num_perm, *weights)


def resolve_bands(threshold: float, num_perm: int, bands: int | None, rows: int | None) -> tuple[int, int]:
    """``(bands, rows)`` as given, or :func:`default_bands` when neither is given.

    Parameters
    ----------
    threshold : float
        Jaccard similarity at which pairs must be found, in (0, 1].
    num_perm : int
        Signature length.
    bands, rows : int or None
        Explicit banding: both or neither.

    Returns
    -------
    tuple of int
        ``(bands, rows)``.

    Raises
    ------
    ValueError
        When only one of ``bands`` and ``rows`` is given, or they do not fit ``num_perm``.
    """
    if (bands is None) != (rows is None):
        raise ValueError("give both bands and rows, or neither")
    if bands is None or rows is None:
        return default_bands(threshold, num_perm)
    if bands < 1 or rows < 1 or bands * rows > num_perm:
        raise ValueError(f"bands={bands}, rows={rows} do not fit num_perm={num_perm}")
    return bands, rows


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One uint64 key per document and band: ``(n_docs, bands)``.

    Equal keys mean (up to a 2**-64 chance) equal rows in that band.
    """
    signatures = np.asarray(signatures, dtype=np.uint32)
    if signatures.ndim != 2:
        raise ValueError("signatures must be a 2-D array (documents x permutations)")
    n, num_perm = signatures.shape
    if bands * rows > num_perm:
        raise ValueError(f"bands * rows = {bands * rows} exceeds num_perm = {num_perm}")
    cut = signatures[:, : bands * rows].reshape(n, bands, rows)
    keys = np.zeros((n, bands), dtype=np.uint64)
    for j in range(rows):
        keys = keys * _U64(0x9E3779B97F4A7C15) + cut[:, :, j].astype(np.uint64)
        keys ^= keys >> _U64(29)
    return keys


def write_band_keys(
    signatures: np.ndarray, bands: int, rows: int, keys: np.ndarray, start: int, empty: np.ndarray
) -> None:
    """Write :func:`band_keys` of ``signatures`` into columns ``start:`` of a ``(bands, n)`` array.

    ``keys[:, start + d]`` gets the band keys of row ``d`` and ``empty[start + d]``
    whether that row is all :data:`dedup.minhash.EMPTY` (no shingles). With the
    compiled kernels this runs without temporaries and without holding the GIL,
    so threads signing ranges of a corpus can each fill their share.

    Parameters
    ----------
    signatures : numpy.ndarray
        ``(m, num_perm)`` uint32.
    bands, rows : int
        The banding.
    keys : numpy.ndarray
        ``(bands, n)`` uint64, written in place.
    start : int
        Column of the first signature.
    empty : numpy.ndarray
        ``(n,)`` bool, written in place.

    >>> keys, empty = np.zeros((2, 3), dtype=np.uint64), np.zeros(3, dtype=bool)
    >>> sig = np.array([[1, 2, 3, 4], [4294967295] * 4], dtype=np.uint32)
    >>> write_band_keys(sig, 2, 2, keys, 1, empty)
    >>> bool((keys[:, 1] == band_keys(sig, 2, 2)[0]).all()), empty.tolist()
    (True, [False, False, True])
    """
    m = len(signatures)
    kernels = backend.kernels(m * bands * rows) if m else None
    if kernels is not None and signatures.dtype == np.uint32 and signatures.flags.c_contiguous:
        kernels.band_keys(signatures, bands, rows, keys, start, empty)
        return
    keys[:, start : start + m] = band_keys(signatures, bands, rows).T
    empty[start : start + m] = (np.asarray(signatures) == EMPTY).all(axis=1)


def band_pair_codes(column: np.ndarray, window: int = DEFAULT_WINDOW, keep: np.ndarray | None = None) -> np.ndarray:
    """Candidate pairs of one band as codes ``i * n + j`` (``i < j``; unsorted, may repeat).

    ``column`` holds one band's key of each of the ``n`` documents. The keys
    are sorted (numpy's vectorised sort; ids inside a bucket in ascending
    order, as a stable sort leaves them); each bucket member is paired with
    the following ``window`` members. Only the members of buckets take part
    in the pairing steps, so a band costs one sort plus work in proportion
    to its buckets. The bands of a corpus are independent: workers can
    take a share of them each.

    Parameters
    ----------
    column : numpy.ndarray
        ``(n,)`` uint64 keys of one band.
    window : int
        Members each member is paired with, as for :func:`candidate_pairs`.
    keep : numpy.ndarray, optional
        ``(n,)`` bool: the documents that take part (default all).

    Returns
    -------
    numpy.ndarray
        int64 codes ``i * n + j``.

    >>> band_pair_codes(np.array([7, 3, 7, 7], dtype=np.uint64)).tolist()
    [2, 11, 3]
    """
    column = np.asarray(column)
    n = len(column)
    kept = None
    if keep is not None and not keep.all():
        kept = np.flatnonzero(keep)
        column = column[kept]
    order = np.argsort(column)  # not stable: ids are put back in order inside the buckets below
    sorted_keys = column[order]
    same = sorted_keys[1:] == sorted_keys[:-1]
    if not same.any():
        return np.zeros(0, dtype=np.int64)
    # Buckets as runs [lo, hi) of the sorted keys; keep only their members.
    edges = np.flatnonzero(np.diff(np.concatenate(([False], same, [False])).astype(np.int8)))
    lo, hi = edges[::2], edges[1::2] + 1
    sizes = hi - lo
    members = np.repeat(hi - sizes.cumsum(), sizes) + np.arange(sizes.sum())  # positions in buckets
    ids = order[members] if kept is None else kept[order[members]]  # ascending, like the positions
    keys = sorted_keys[members]
    starts = np.concatenate(([0], sizes.cumsum()[:-1]))
    for a, b in zip(starts[sizes > window + 1].tolist(), (starts + sizes)[sizes > window + 1].tolist()):
        ids[a:b].sort()  # only buckets larger than the window depend on the order of their ids
    found = []
    for offset in range(1, min(window, len(ids) - 1) + 1):
        hit = keys[offset:] == keys[:-offset]
        if not hit.any():
            break  # no bucket has more than `offset` members
        first, second = ids[:-offset][hit], ids[offset:][hit]
        found.append(np.minimum(first, second).astype(np.int64) * n + np.maximum(first, second))
    return np.concatenate(found)


def pairs_from_codes(codes: list[np.ndarray] | np.ndarray, n: int) -> np.ndarray:
    """Unique pairs ``(i, j)``, sorted, from the codes ``i * n + j`` of :func:`band_pair_codes`.

    Parameters
    ----------
    codes : list of numpy.ndarray or numpy.ndarray
        Codes of any number of bands.
    n : int
        Number of documents.

    Returns
    -------
    numpy.ndarray
        ``(m, 2)`` int64.
    """
    parts = [codes] if isinstance(codes, np.ndarray) else codes
    if not any(len(c) for c in parts):
        return np.zeros((0, 2), dtype=np.int64)
    unique = np.unique(np.concatenate(parts))
    return np.stack(np.divmod(unique, max(n, 1)), axis=1)


def candidate_pairs(keys: np.ndarray, *, window: int = DEFAULT_WINDOW) -> np.ndarray:
    """Unique candidate pairs ``(i, j)``, ``i < j``, sorted, as an ``(m, 2)`` int64 array.

    ``keys`` is the ``(n_docs, bands)`` output of :func:`band_keys`. In each
    band, documents with equal keys form a bucket; each member is paired
    with the following ``window`` members of its bucket, in the order of
    their ids (all pairs for buckets of up to ``window + 1`` documents).
    """
    keys = np.asarray(keys)
    n, bands = keys.shape
    return pairs_from_codes([band_pair_codes(keys[:, band], window) for band in range(bands)], n)


class LSHIndex:
    """An in-memory MinHash LSH index over batches of signatures.

    Parameters
    ----------
    threshold : float
        Jaccard similarity at which pairs must be found. Without explicit
        ``bands``/``rows`` the banding is :func:`default_bands`, the same
        rule as :func:`dedup.find_duplicates` (tuned ``recall_margin`` below
        the threshold).
    num_perm : int
        Length of the signatures that will be added.
    bands, rows : int, optional
        Explicit banding; both or neither.
    weights : tuple of float
        ``(false_positive_weight, false_negative_weight)`` for
        :func:`optimal_bands`.
    window : int
        Inside a bucket, each member is paired with the next ``window``
        members (see :func:`candidate_pairs`).
    recall_margin : float
        How far below ``threshold`` the default banding is tuned; ``0.0``
        gives datasketch's banding for ``threshold``.

    Documents get consecutive ids in the order they are added. Empty
    signatures (documents without shingles) are never candidates.

    >>> from dedup import signatures
    >>> index = LSHIndex(threshold=0.5, num_perm=64)
    >>> index.add(signatures(["a b c d e f g", "a b c d e f g", "x y z"], num_perm=64))
    >>> index.candidate_pairs().tolist()
    [[0, 1]]
    """

    def __init__(
        self,
        threshold: float = 0.8,
        num_perm: int = 128,
        *,
        bands: int | None = None,
        rows: int | None = None,
        weights: tuple[float, float] = (0.5, 0.5),
        window: int = DEFAULT_WINDOW,
        recall_margin: float = RECALL_MARGIN,
    ) -> None:
        if bands is None and rows is None:
            bands, rows = default_bands(threshold, num_perm, recall_margin=recall_margin, weights=weights)
        else:
            bands, rows = resolve_bands(threshold, num_perm, bands, rows)
        self.threshold = threshold
        self.num_perm = num_perm
        self.bands = bands
        self.rows = rows
        self.window = window
        self._keys: list[np.ndarray] = []
        self._empty: list[np.ndarray] = []
        self._size = 0
        # Per band, the keys sorted and the ids in that order: built by the first query after an add.
        self._lookup: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return self._size

    def add(self, signatures: np.ndarray) -> None:
        """Add a batch of signatures; they get the next ids.

        Parameters
        ----------
        signatures : numpy.ndarray
            ``(n, num_perm)`` uint32 MinHash signatures, as from :func:`dedup.signatures`.

        Raises
        ------
        ValueError
            When the shape does not match ``num_perm``.
        """
        signatures = np.asarray(signatures, dtype=np.uint32)
        if signatures.ndim != 2 or signatures.shape[1] != self.num_perm:
            raise ValueError(f"expected signatures of shape (n, {self.num_perm}), got {signatures.shape}")
        self._keys.append(band_keys(signatures, self.bands, self.rows))
        self._empty.append((signatures == EMPTY).all(axis=1))
        self._size += len(signatures)
        self._lookup = None

    def add_keys(self, keys: np.ndarray, empty: np.ndarray) -> None:
        """Add a batch already reduced to its band keys; same ids as :meth:`add`.

        Lets workers send ``8 * bands`` bytes per document instead of a whole signature.

        Parameters
        ----------
        keys : numpy.ndarray
            ``(n, bands)`` uint64, :func:`band_keys` of the signatures with this
            index's ``bands`` and ``rows``.
        empty : numpy.ndarray
            ``(n,)`` bool: which signatures are empty (documents without shingles).

        Raises
        ------
        ValueError
            When the shapes do not match.
        """
        keys = np.asarray(keys, dtype=np.uint64)
        empty = np.asarray(empty, dtype=bool)
        if keys.ndim != 2 or keys.shape[1] != self.bands or empty.shape != (len(keys),):
            raise ValueError(f"expected keys of shape (n, {self.bands}) and n empty flags")
        self._keys.append(keys)
        self._empty.append(empty)
        self._size += len(keys)

    def keys(self) -> np.ndarray:
        """All band keys.

        Returns
        -------
        numpy.ndarray
            ``(len(self), bands)`` uint64 keys, row ``i`` for document ``i``.
        """
        if not self._keys:
            return np.zeros((0, self.bands), dtype=np.uint64)
        if len(self._keys) > 1:
            self._keys = [np.concatenate(self._keys)]
            self._empty = [np.concatenate(self._empty)]
        return self._keys[0]

    def candidate_pairs(self) -> np.ndarray:
        """Candidate pairs among everything added.

        Returns
        -------
        numpy.ndarray
            ``(m, 2)`` int64 pairs ``i < j``, sorted, as :func:`candidate_pairs`;
            documents without shingles take no part (they are left out of the buckets).
        """
        keys = self.keys()
        keep = ~self._empty[0] if len(keys) and self._empty[0].any() else None
        codes = [band_pair_codes(keys[:, band], self.window, keep) for band in range(self.bands)]
        return pairs_from_codes(codes, len(keys))

    def query(self, signature: np.ndarray) -> list[int]:
        """Ids of added documents sharing at least one bucket with ``signature``.

        Each band is looked up by bisection in that band's sorted keys, so a
        query costs ``O(bands * log n)`` plus the size of the buckets it hits,
        not a scan of the index. The sorted keys are built by the first query
        after an :meth:`add`.

        Parameters
        ----------
        signature : numpy.ndarray
            One signature of ``num_perm`` uint32 values.

        Returns
        -------
        list of int
            Sorted ids; ``[]`` for an empty index or a signature without shingles.

        Raises
        ------
        ValueError
            When ``signature`` does not hold ``num_perm`` values.
        """
        signature = np.asarray(signature, dtype=np.uint32).reshape(-1)
        if len(signature) != self.num_perm:
            raise ValueError(f"expected a signature of {self.num_perm} values, got {len(signature)}")
        if self._size == 0 or (signature == EMPTY).all():
            return []
        probe = band_keys(signature[None, :], self.bands, self.rows)[0]
        sorted_keys, order = self._sorted_keys()
        lo = [np.searchsorted(sorted_keys[b], probe[b], side="left") for b in range(self.bands)]
        hi = [np.searchsorted(sorted_keys[b], probe[b], side="right") for b in range(self.bands)]
        hits = [order[b, lo[b] : hi[b]] for b in range(self.bands) if hi[b] > lo[b]]
        if not hits:
            return []
        ids = np.unique(np.concatenate(hits))
        return ids[~self._empty[0][ids]].tolist()

    def _sorted_keys(self) -> tuple[np.ndarray, np.ndarray]:
        """``(bands, n)`` keys sorted within each band, and the ``(bands, n)`` ids in that order."""
        if self._lookup is None:
            keys = self.keys().T
            order = np.argsort(keys, axis=1, kind="stable")
            self._lookup = (np.take_along_axis(keys, order, axis=1), order)
        return self._lookup
