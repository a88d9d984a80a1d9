"""dedup: fast near-duplicate detection for text dumps.

Two questions, one small API:

* Which documents are near-duplicates of each other?

  >>> import dedup
  >>> docs = ["The cat sat on the mat, and then it slept all afternoon.",
  ...         "the cat sat on the mat and then it slept all afternoon",
  ...         "A completely different text about dogs."]
  >>> dedup.find_duplicates(docs)
  [[0, 1]]
  >>> dedup.find_duplicate_pairs(docs)
  [Pair(i=0, j=1, similarity=1.0)]

* Which passages repeat, inside one document or across documents?

  >>> para = "This paragraph was pasted twice into the same page by a careless scraper."
  >>> page = "Intro line here.\\n" + para + "\\nMiddle.\\n" + para + "\\nEnd."
  >>> [(m.original.start, m.repeat.start) for m in dedup.find_repeated_passages(page, min_words=8)]
  [(17, 99)]
  >>> print(dedup.remove_repeated_passages(page, min_words=8))
  Intro line here.
  This paragraph was pasted twice into the same page by a careless scraper.
  Middle.
  End.

* Which new documents duplicate ones seen in earlier runs? A persistent
  :class:`Index` on disk remembers every batch added:

  >>> import os, tempfile
  >>> path = os.path.join(tempfile.mkdtemp(), "seen.idx")
  >>> with dedup.Index(path) as index:
  ...     index.add(["the old crawl had this page about the cat on the mat, word for word"], ids=["old-1"])
  ...     index.add(["The old crawl had this page about the cat on the mat, word for word!"], ids=["new-1"])
  [None]
  [Duplicate(id='old-1', similarity=1.0)]

Lower-level pieces are public too: :func:`signatures` (MinHash signatures of a
batch, compatible with datasketch), :class:`LSHIndex`, :func:`optimal_bands`,
:func:`tokenize`/:func:`shingle`/:func:`normalize`, and
:func:`connected_components`. :func:`which_to_keep` says which records of a
dataset to keep (a boolean mask for pandas, pyarrow or Hugging Face datasets).
Which implementation of the hot loops runs (compiled numba kernels or numpy)
is set with ``DEDUP_BACKEND`` or :func:`set_backend`.
"""

from importlib.metadata import PackageNotFoundError, version

from .backend import get_backend, set_backend, use_backend
from .clusters import choose_kept, clusters_from_pairs, connected_components
from .documents import Pair, exact_jaccard, find_duplicate_pairs, find_duplicates, iter_signatures, signatures
from .index import Duplicate, Index, IndexBusyError, IndexVersionError
from .keep import KeepDecision, which_to_keep
from .lsh import LSHIndex, collision_probability, optimal_bands
from .minhash import EMPTY, from_datasketch, jaccard_estimate, to_datasketch
from .passages import Match, Span, find_repeated_passages, remove_repeated_passages
from .text import normalize, shingle, tokenize

try:
    __version__ = version("dedup")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "EMPTY",
    "Duplicate",
    "Index",
    "IndexBusyError",
    "IndexVersionError",
    "KeepDecision",
    "LSHIndex",
    "Match",
    "Pair",
    "Span",
    "__version__",
    "choose_kept",
    "clusters_from_pairs",
    "collision_probability",
    "connected_components",
    "exact_jaccard",
    "find_duplicate_pairs",
    "find_duplicates",
    "find_repeated_passages",
    "from_datasketch",
    "get_backend",
    "iter_signatures",
    "jaccard_estimate",
    "normalize",
    "optimal_bands",
    "remove_repeated_passages",
    "set_backend",
    "shingle",
    "signatures",
    "to_datasketch",
    "tokenize",
    "use_backend",
    "which_to_keep",
]
