"""Measured recall and precision of a threshold and LSH banding, on the user's own corpus.

The S-curve ``1 - (1 - s**rows)**bands`` says how likely a pair of Jaccard
similarity ``s`` is to become a candidate; what it cannot say is how the pairs
of *this* corpus are spread over ``s``, and so how many near-duplicates a
setting misses or how much verification work it wastes. :func:`calibrate`
measures that:

1. **Pool.** Signatures of every text, and a permissive LSH (two rows per
   band: a pair of Jaccard 0.3 collides with probability > 0.99 at 128
   permutations) lists the pairs that share anything; each gets its MinHash
   estimate.
2. **Strata.** Pool pairs are stratified by their estimate (10 bins over
   [0, 1]) and up to ``per_bin`` pairs are drawn from each, so the rare
   similar pairs are as well represented as the common dissimilar ones;
   random pairs from outside the pool make one more stratum (the
   background). Each drawn pair carries the weight ``stratum size / drawn``.
3. **Truth.** The exact Jaccard similarity of each drawn pair (shingle sets,
   as the verification step computes it).
4. **Measures.** Weighted shares, with Wilson 95% intervals on the Kish
   effective sample size: candidate recall (of pairs at or above the
   threshold, the share the chosen banding makes candidates), candidate
   precision (of candidates, the share at or above the threshold; exact
   verification then removes the rest), and the measured S-curve (share of
   candidates per exact-Jaccard bin) against the theoretical one. For other
   bandings and signature lengths the same pairs are re-signed and their band
   collisions counted, so the suggested settings are measured too, not
   derived from the formula.

Pairs that the permissive pool misses count as not similar: that is right
for pairs below about 0.2 Jaccard, which is why thresholds below 0.3 are not
calibrated well (a warning says so).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .documents import signatures
from .internal import check_params, jaccard_sorted, shingle_sets
from .lsh import LSHIndex, band_keys, collision_probability, resolve_bands
from .minhash import EMPTY
from .text import ShingleMode

__all__ = ["Calibration", "Setting", "calibrate", "format_calibration", "plot_s_curve", "wilson"]

#: Signature lengths tried when suggesting settings.
NUM_PERMS = (64, 128, 256)
#: Exact-Jaccard bins of the measured S-curve.
CURVE_BINS = 20
Z95 = 1.959963984540054


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion (``n`` may be an effective, fractional size).

    >>> lo, hi = wilson(8, 10)
    >>> round(lo, 3), round(hi, 3)
    (0.49, 0.943)
    >>> wilson(0, 0)
    (0.0, 1.0)
    """
    if n <= 0:
        return 0.0, 1.0
    p = min(max(successes / n, 0.0), 1.0)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _share(hit: np.ndarray, weight: np.ndarray) -> tuple[float, float, float, float]:
    """Weighted share of ``hit``, its Wilson interval, and the effective sample size."""
    total = float(weight.sum())
    if total == 0:
        return float("nan"), 0.0, 1.0, 0.0
    p = float(weight[hit].sum()) / total
    n_eff = total**2 / float((weight**2).sum())  # Kish: unequal weights count as fewer pairs
    lo, hi = wilson(p * n_eff, n_eff)
    return p, lo, hi, n_eff


@dataclass
class Setting:
    """One banding, measured on the sampled pairs."""

    num_perm: int
    bands: int
    rows: int
    recall: float
    recall_ci: tuple[float, float]
    precision: float
    precision_ci: tuple[float, float]
    theoretical_threshold: float  # where the S-curve crosses 1/2: (1/bands) ** (1/rows)


@dataclass
class Calibration:
    """What :func:`calibrate` measured; ``to_dict()`` is its JSON form."""

    threshold: float
    ngram: int
    num_perm: int
    bands: int
    rows: int
    documents: int
    pool_pairs: int  # pairs sharing a bucket of the permissive LSH
    sampled_pairs: int
    positives_sampled: int  # sampled pairs at or above the threshold
    estimated_positives: float  # pairs at or above the threshold in the whole corpus (weighted)
    chosen: Setting
    curve: list[dict[str, float]]  # per exact-Jaccard bin: lo, hi, pairs, n_eff, measured, ci_lo, ci_hi, theory
    suggestions: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # per sampled pair: exact Jaccard, weight, candidate under the chosen banding (for plots and checks)
    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64), repr=False)
    jaccard: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    weight: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    candidate: np.ndarray = field(default_factory=lambda: np.zeros(0, bool), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only; the per-pair arrays are left out."""
        d = asdict(self)
        for k in ("pairs", "jaccard", "weight", "candidate"):
            d.pop(k)
        return d


def _pool(sig: np.ndarray, num_perm: int) -> np.ndarray:
    """Pairs sharing any bucket of a two-rows-per-band LSH: everything with a fair overlap."""
    index = LSHIndex(num_perm=num_perm, bands=num_perm // 2, rows=2)
    index.add(sig)
    return index.candidate_pairs()


def _estimates(sig: np.ndarray, pairs: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    out = np.empty(len(pairs))
    for lo in range(0, len(pairs), chunk):
        p = pairs[lo : lo + chunk]
        out[lo : lo + chunk] = (sig[p[:, 0]] == sig[p[:, 1]]).mean(axis=1)
    return out


def _random_pairs(n_docs: int, k: int, exclude: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Up to ``k`` distinct random pairs ``i < j`` not in ``exclude``."""
    if n_docs < 2 or k <= 0:
        return np.zeros((0, 2), np.int64)
    taken = set((exclude[:, 0] * n_docs + exclude[:, 1]).tolist())
    found: dict[int, None] = {}
    for _ in range(20):  # a few rounds: collisions with the pool are rare unless the corpus is tiny
        i = rng.integers(0, n_docs, 4 * k)
        j = rng.integers(0, n_docs, 4 * k)
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        for code in (lo * n_docs + hi)[lo < hi].tolist():
            if code not in taken:
                found.setdefault(code, None)
        if len(found) >= k:
            break
    codes = np.array(list(found)[:k], dtype=np.int64)
    return np.stack([codes // n_docs, codes % n_docs], axis=1)


def _exact(texts: Sequence[str], pairs: np.ndarray, ngram: int, mode: ShingleMode, group: int = 512) -> np.ndarray:
    """Exact Jaccard of each pair; documents shingled ``group`` pairs at a time (bounded memory)."""
    out = np.zeros(len(pairs))
    for lo in range(0, len(pairs), group):
        chunk = pairs[lo : lo + group]
        docs = np.unique(chunk).tolist()
        sets = dict(zip(docs, shingle_sets([texts[d] for d in docs], ngram, mode)))
        out[lo : lo + group] = [jaccard_sorted(sets[i], sets[j]) for i, j in chunk.tolist()]
    return out


def _collide(sig_a: np.ndarray, sig_b: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Whether each pair shares a bucket under ``(bands, rows)`` (empty signatures never do)."""
    if len(sig_a) == 0:
        return np.zeros(0, bool)
    ka, kb = band_keys(sig_a, bands, rows), band_keys(sig_b, bands, rows)
    empty = (sig_a == EMPTY).all(axis=1) | (sig_b == EMPTY).all(axis=1)
    return (ka == kb).any(axis=1) & ~empty


def _measure(hit: np.ndarray, positive: np.ndarray, weight: np.ndarray) -> tuple[float, tuple, float, tuple]:
    recall, r_lo, r_hi, _ = _share(hit[positive], weight[positive])
    precision, p_lo, p_hi, _ = _share(positive[hit], weight[hit])
    return recall, (r_lo, r_hi), precision, (p_lo, p_hi)


def _setting(
    num_perm: int, bands: int, rows: int, hit: np.ndarray, positive: np.ndarray, weight: np.ndarray
) -> Setting:
    recall, rci, precision, pci = _measure(hit, positive, weight)
    return Setting(num_perm, bands, rows, recall, rci, precision, pci, (1 / bands) ** (1 / rows))


def _suggest(
    texts: Sequence[str],
    pairs: np.ndarray,
    positive: np.ndarray,
    weight: np.ndarray,
    ngram: int,
    seed: int,
    mode: ShingleMode,
    target_recall: float | None,
    target_precision: float | None,
) -> list[dict[str, Any]]:
    """Per signature length, the measured banding that best meets the target."""
    if not len(pairs) or (target_recall is None and target_precision is None):
        return []
    docs, inverse = np.unique(pairs, return_inverse=True)
    inverse = inverse.reshape(pairs.shape)
    out = []
    for p in NUM_PERMS:
        sig = signatures([texts[d] for d in docs.tolist()], ngram=ngram, num_perm=p, seed=seed, shingle_mode=mode)
        eq = sig[inverse[:, 0]] == sig[inverse[:, 1]]
        empty = (sig[inverse[:, 0]] == EMPTY).all(axis=1) | (sig[inverse[:, 1]] == EMPTY).all(axis=1)
        best: Setting | None = None
        for b in range(1, p + 1):
            for r in range(1, p // b + 1):
                hit = eq[:, : b * r].reshape(len(pairs), b, r).all(axis=2).any(axis=1) & ~empty
                s = _setting(p, b, r, hit, positive, weight)
                if target_recall is not None:
                    ok, key = s.recall >= target_recall, (s.precision, s.recall)
                else:
                    ok, key = s.precision >= target_precision, (s.recall, s.precision)  # type: ignore[operator]
                if ok and (best is None or key > _key(best, target_recall is not None)):
                    best = s
        out.append({"num_perm": p, "setting": asdict(best) if best else None})
    return out


def _key(s: Setting, by_recall: bool) -> tuple[float, float]:
    return (s.precision, s.recall) if by_recall else (s.recall, s.precision)


def calibrate(
    texts: Sequence[str],
    threshold: float = 0.8,
    *,
    ngram: int = 5,
    num_perm: int = 128,
    seed: int = 1,
    bands: int | None = None,
    rows: int | None = None,
    shingle_mode: ShingleMode = "word",
    per_bin: int = 300,
    random_pairs: int = 300,
    sample_seed: int = 0,
    target_recall: float | None = None,
    target_precision: float | None = None,
) -> Calibration:
    """Measure candidate recall and precision of ``threshold`` with ``(bands, rows)`` on ``texts``.

    Parameters
    ----------
    texts:
        The corpus (a sequence: drawn pairs are re-read for their exact Jaccard).
    threshold, ngram, num_perm, seed, bands, rows, shingle_mode:
        The settings to measure, as for :func:`dedup.find_duplicate_pairs`
        (bands and rows default to the banding it uses).
    per_bin, random_pairs:
        Pairs drawn per estimate bin of the pool, and from outside the pool.
    sample_seed:
        Seed of the draw; the same seed gives the same calibration.
    target_recall, target_precision:
        When given, suggest for each signature length in :data:`NUM_PERMS`
        the measured banding reaching the target recall with the best
        precision (or the target precision with the best recall).

    Returns
    -------
    Calibration
        See the module docstring for what each number means.
    """
    check_params(threshold, ngram, num_perm, 1)
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
        raise TypeError("texts must be a sequence of str (drawn pairs are read twice)")
    for name, target in (("target_recall", target_recall), ("target_precision", target_precision)):
        if target is not None and not 0.0 < target <= 1.0:
            raise ValueError(f"{name} must be in (0, 1], got {target}")
    if target_recall is not None and target_precision is not None:
        raise ValueError("give target_recall or target_precision, not both")
    bands, rows = resolve_bands(threshold, num_perm, bands, rows)
    rng = np.random.default_rng(sample_seed)
    sig = signatures(texts, ngram=ngram, num_perm=num_perm, seed=seed, shingle_mode=shingle_mode)
    n = len(sig)
    pool = _pool(sig, num_perm)
    est = _estimates(sig, pool)
    strata = np.minimum((est * 10).astype(int), 9)
    chosen, weights = [], []
    for s in range(10):
        members = np.flatnonzero(strata == s)
        if len(members):
            take = rng.choice(members, size=min(per_bin, len(members)), replace=False)
            chosen.append(pool[np.sort(take)])
            weights.append(np.full(len(take), len(members) / len(take)))
    background = _random_pairs(n, random_pairs, pool, rng)
    if len(background):
        chosen.append(background)
        weights.append(np.full(len(background), (n * (n - 1) / 2 - len(pool)) / len(background)))
    pairs = np.concatenate(chosen) if chosen else np.zeros((0, 2), np.int64)
    weight = np.concatenate(weights) if weights else np.zeros(0)
    jac = _exact(texts, pairs, ngram, shingle_mode)
    hit = _collide(sig[pairs[:, 0]], sig[pairs[:, 1]], bands, rows)
    positive = jac >= threshold

    curve = []
    edges = np.linspace(0.0, 1.0, CURVE_BINS + 1)
    which = np.minimum((jac * CURVE_BINS).astype(int), CURVE_BINS - 1)
    for k in range(CURVE_BINS):
        inside = which == k
        if not inside.any():
            continue
        p, lo, hi, n_eff = _share(hit[inside], weight[inside])
        mid = float(jac[inside].mean())
        curve.append(
            {
                "lo": float(edges[k]),
                "hi": float(edges[k + 1]),
                "mean_jaccard": mid,
                "pairs": int(inside.sum()),
                "n_eff": n_eff,
                "measured": p,
                "ci_lo": lo,
                "ci_hi": hi,
                "theory": float(np.average(collision_probability(jac[inside], bands, rows), weights=weight[inside])),
            }
        )
    warnings = []
    if threshold < 0.3:
        warnings.append("thresholds below 0.3 are not calibrated well: the sampling pool misses some such pairs")
    if int(positive.sum()) < 30:
        warnings.append(f"only {int(positive.sum())} sampled pairs at or above the threshold: wide intervals")
    return Calibration(
        threshold=threshold,
        ngram=ngram,
        num_perm=num_perm,
        bands=bands,
        rows=rows,
        documents=n,
        pool_pairs=len(pool),
        sampled_pairs=len(pairs),
        positives_sampled=int(positive.sum()),
        estimated_positives=float(weight[positive].sum()),
        chosen=_setting(num_perm, bands, rows, hit, positive, weight),
        curve=curve,
        suggestions=_suggest(
            texts, pairs, positive, weight, ngram, seed, shingle_mode, target_recall, target_precision
        ),
        warnings=warnings,
        pairs=pairs,
        jaccard=jac,
        weight=weight,
        candidate=hit,
    )


def format_calibration(c: Calibration) -> str:
    """The human-readable report of ``dedup calibrate``."""
    s = c.chosen
    ci = lambda t: f"[{t[0]:.3f}, {t[1]:.3f}]"  # noqa: E731
    lines = [
        f"{c.documents} documents, {c.pool_pairs} pairs sharing anything, {c.sampled_pairs} sampled "
        f"({c.positives_sampled} at or above the threshold; about {c.estimated_positives:.0f} such pairs in all)",
        f"threshold {c.threshold}, {c.ngram}-word shingles, {c.num_perm} permutations, "
        f"{c.bands} bands x {c.rows} rows (S-curve midpoint {s.theoretical_threshold:.3f})",
        f"candidate recall     {s.recall:.3f}  95% CI {ci(s.recall_ci)}   near-duplicates that become candidates",
        f"candidate precision  {s.precision:.3f}  95% CI {ci(s.precision_ci)}   candidates that are near-duplicates "
        "(exact verification drops the others)",
        "",
        "exact Jaccard   pairs   measured  95% CI            theory",
    ]
    for b in c.curve:
        lines.append(
            f"  {b['lo']:.2f}-{b['hi']:.2f}   {b['pairs']:5d}   {b['measured']:.3f}     "
            f"[{b['ci_lo']:.3f}, {b['ci_hi']:.3f}]    {b['theory']:.3f}"
        )
    if c.suggestions:
        lines += ["", "suggested settings (measured on the same pairs):"]
        for sug in c.suggestions:
            st = sug["setting"]
            if st is None:
                lines.append(f"  num_perm {sug['num_perm']}: no banding reaches the target")
            else:
                lines.append(
                    f"  num_perm {st['num_perm']:3d}: {st['bands']} bands x {st['rows']} rows  "
                    f"recall {st['recall']:.3f} {ci(st['recall_ci'])}  precision {st['precision']:.3f} "
                    f"{ci(st['precision_ci'])}"
                )
    lines += [f"warning: {w}" for w in c.warnings]
    return "\n".join(lines) + "\n"


def plot_s_curve(c: Calibration, path: str | Path, *, title: str | None = None) -> None:
    """Measured S-curve (per exact-Jaccard bin, with 95% intervals) against the theoretical one.

    The format follows the file name (``.png``, ``.svg``, ...). Needs
    matplotlib (in the ``dev`` extra); it is imported only here.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from e
    s = np.linspace(0, 1, 201)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    ax.plot(
        s, collision_probability(s, c.bands, c.rows), color="#4a78c2", label=f"theory: {c.bands} bands x {c.rows} rows"
    )
    x = [b["mean_jaccard"] for b in c.curve]
    y = [b["measured"] for b in c.curve]
    # max(0, ...): rounding can put a share of 1.0 a hair above its interval's end
    err = [
        [max(0.0, b["measured"] - b["ci_lo"]) for b in c.curve],
        [max(0.0, b["ci_hi"] - b["measured"]) for b in c.curve],
    ]
    ax.errorbar(x, y, yerr=err, fmt="o", color="#d0543c", ms=4, capsize=3, label="measured (95% CI)")
    ax.axvline(c.threshold, color="#888", ls="--", lw=1, label=f"threshold {c.threshold}")
    ax.set_xlabel("exact Jaccard similarity of the pair")
    ax.set_ylabel("share of pairs that become candidates")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.03, 1.03)
    rec = c.chosen
    ax.set_title(
        title or f"recall {rec.recall:.3f} [{rec.recall_ci[0]:.3f}, {rec.recall_ci[1]:.3f}], {c.sampled_pairs} pairs"
    )
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None} if str(path).endswith(".svg") else None)
    plt.close(fig)
