"""The Spark engine gives the local results: same clusters, same kept members, same passages.

Runs a real Spark session in ``local[2]`` mode (one for the whole test
session: starting one costs ~15 s). Inputs are written as Parquet files and
read back, as users do. Skipped when the spark extra is not installed; CI
installs it, so there they run.
"""

from __future__ import annotations

import os
import random
import re
import sys
from pathlib import Path

import numpy as np
import pytest

pyspark = pytest.importorskip("pyspark")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import dedup
import dedup.formats
from dedup import passages as local_passages
from dedup.documents import RECALL_MARGIN, signatures
from dedup.lsh import LSHIndex, optimal_bands

spark_mod = pytest.importorskip("dedup.spark")
from dedup.spark import passages as spark_passages
from dedup.spark import session as spark_session

pytestmark = pytest.mark.spark

SEED_PATH = Path(__file__).resolve().parents[1] / "seeds" / "000_928f36d820405ba3.txt"


# --------------------------------------------------------------------------- corpus generation


def _vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(size * 2)}
    return sorted(words)[:size]


def _words(rng: random.Random, vocab: list[str], n: int) -> list[str]:
    # Zipf-ish: low ranks far more frequent, like real text.
    return [
        vocab[min(int(rng.paretovariate(1.1)) - 1, len(vocab) - 1)] if rng.random() < 0.5 else rng.choice(vocab)
        for _ in range(n)
    ]


def _edit(rng: random.Random, vocab: list[str], words: list[str], edits: int) -> list[str]:
    out = list(words)
    for _ in range(edits):
        out[rng.randrange(len(out))] = rng.choice(vocab)
    return out


def _corpus(seed: int = 7) -> list[str | None]:
    """Documents with known duplicates: exact copies, light edits, edits near the threshold, bad rows."""
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    texts: list[str | None] = []
    for k in range(160):
        base = _words(rng, vocab, rng.randint(60, 220))
        texts.append(" ".join(base))
        if k % 4 == 0:  # an exact copy with different spacing and case
            texts.append("  ".join(base).upper())
        if k % 5 == 0:  # a light edit
            texts.append(" ".join(_edit(rng, vocab, base, 2)))
        if k % 7 == 0:  # edits near the threshold: verification decides
            texts.append(" ".join(_edit(rng, vocab, base, len(base) // 25)) + " and a longer tail here")
    texts[5] = None
    texts[11] = ""
    texts.insert(40, None)
    texts.insert(41, "")
    texts.insert(42, "...  !!")  # no letters: no tokens
    order = list(range(len(texts)))
    rng.shuffle(order)  # duplicates are not next to their originals
    return [texts[i] for i in order]


def _write(tmp: Path, name: str, texts: list[str | None], ids: list | None = None) -> str:
    ids = ids if ids is not None else [f"doc-{i:04d}" for i in range(len(texts))]
    path = tmp / f"{name}.parquet"
    table = pa.table({"id": ids, "pos": list(range(len(texts))), "text": pa.array(texts, pa.string())})
    pq.write_table(table, path, row_group_size=64)  # several row groups
    return str(path)


def _local_clusters(
    texts: list[str | None], threshold: float, keep: str = "first", **kw
) -> list[tuple[tuple[int, ...], int]]:
    plain = [t or "" for t in texts]
    clusters = dedup.find_duplicates(plain, threshold, **kw)
    kept = dedup.choose_kept(clusters, keep, lengths=[len(t) for t in plain])
    return [(tuple(c), k) for c, k in zip(clusters, kept)]


def _spark_clusters(result, ids: list) -> list[tuple[tuple[int, ...], int]]:
    """Spark rows (id, cluster_id, kept) -> [(member indices, kept index)] ordered like the local result."""
    where = {v: i for i, v in enumerate(ids)}
    groups: dict = {}
    kept: dict = {}
    for row in result.collect():
        groups.setdefault(row["cluster_id"], []).append(where[row["id"]])
        if row["kept"]:
            assert row["cluster_id"] not in kept, "two kept members in one cluster"
            kept[row["cluster_id"]] = where[row["id"]]
    out = []
    for cid, members in groups.items():
        members.sort()
        assert where[cid] == members[0], "cluster_id is the id of the cluster's first document"
        out.append((tuple(members), kept[cid]))
    return sorted(out)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def spark():
    os.environ.setdefault("JAVA_HOME", spark_mod.JAVA_17)
    os.environ["PYSPARK_PYTHON"] = sys.executable
    # Adaptive query execution re-plans after every shuffle: on test-sized data that costs more
    # than it saves (the component rounds run twice as fast without it). Results do not depend on it.
    session = spark_mod.get_session("local[2]", shuffle_partitions=2, **{"spark.sql.adaptive.enabled": "false"})
    yield session
    session.stop()


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> tuple[list[str | None], list[str], str]:
    texts = _corpus()
    ids = [f"doc-{i:04d}" for i in range(len(texts))]
    return texts, ids, _write(tmp_path_factory.mktemp("corpus"), "corpus", texts, ids)


# --------------------------------------------------------------------------- documents


def test_one_partition_in_file_order_equals_local(spark, corpus):
    """Default document order (the DataFrame's own order) on one partition: the local clusters,
    kept members, candidate pairs and verified edges."""
    texts, ids, path = corpus
    stats: dict = {}
    result = spark_mod.find_duplicates(spark.read.parquet(path).coalesce(1), "id", "text", 0.8, stats=stats)
    local = _local_clusters(texts, 0.8)
    assert len(local) >= 50  # the corpus really has duplicates
    assert _spark_clusters(result, ids) == local
    assert result.columns == ["id", "cluster_id", "kept"]
    # Texts equal up to whitespace are collapsed first; the others get the same LSH candidates and
    # the same verified edges as a local run on them.
    plain = [t or "" for t in texts]
    firsts = list({re.sub(r"[ \t\n\x0b\f\r]+", " ", t).strip(" "): t for t in reversed(plain)}.values())
    assert stats["exact_duplicates"] == len(plain) - len(firsts) > 0
    bands, rows = optimal_bands(0.8 - RECALL_MARGIN, 128)
    index = LSHIndex(0.8, 128, bands=bands, rows=rows)
    index.add(signatures(firsts))
    assert stats["candidates"] == len(index.candidate_pairs())
    assert stats["edges"] == len(dedup.find_duplicate_pairs(firsts, 0.8))
    assert stats["components"] == "driver"


def test_several_partitions_with_order_column_equals_local(spark, corpus):
    """Rows shuffled over 3 partitions; ``order_by`` restores the document order (two sessions
    cannot coexist in one JVM, so 1 vs many partitions stands in for local[1] vs local[2])."""
    texts, ids, path = corpus
    df = spark.read.parquet(path).repartition(3)
    assert df.rdd.getNumPartitions() == 3
    result = spark_mod.find_duplicates(df, "id", "text", 0.7, keep="longest", order_by="pos", num_perm=64)
    assert _spark_clusters(result, ids) == _local_clusters(texts, 0.7, "longest", num_perm=64)


def test_drop_duplicates_keeps_one_per_cluster_and_every_bad_row(spark, corpus):
    texts, ids, path = corpus
    kept = spark_mod.drop_duplicates(spark.read.parquet(path), "id", "text", 0.8)
    assert kept.columns == ["id", "pos", "text"]
    local = _local_clusters(texts, 0.8)
    dropped = {i for members, k in local for i in members if i != k}
    assert sorted(r["id"] for r in kept.collect()) == [ids[i] for i in range(len(texts)) if i not in dropped]
    # Null, empty and token-less texts are never duplicates: all of them are still there.
    bad = [ids[i] for i, t in enumerate(texts) if not t or not dedup.tokenize([t]).hashes.size]
    assert len(bad) == 5
    assert set(bad) <= {r["id"] for r in kept.collect()}


def test_bad_text_column_is_refused_with_a_clear_error(spark, tmp_path):
    path = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"id": [1, 2], "text": [3, 4]}), path)
    with pytest.raises(TypeError, match="column 'text' is bigint, not a string"):
        spark_mod.find_duplicates(spark.read.parquet(str(path)), "id", "text")
    with pytest.raises(ValueError, match="no column 'body'"):
        spark_mod.find_duplicates(spark.read.parquet(str(path)), "id", "body")
    with pytest.raises(ValueError, match="threshold"):
        spark_mod.find_duplicates(spark.read.parquet(str(path)), "id", "id", threshold=1.5)


def _hard_graph(seed: int = 3) -> list[str]:
    """A chain of 64 documents (each similar only to its neighbours), a star (leaves similar to the
    centre only) and two buckets of 40 identical documents (more than the pairing window)."""
    rng = random.Random(seed)
    vocab = _vocabulary(rng)

    def words(n: int) -> list[str]:
        return [rng.choice(vocab) for _ in range(n)]

    # Windows of 200 words, 25 apart: Jaccard 0.77 with the next one, 0.59 with the one after.
    stream = words(25 * 64 + 200)
    chain = [" ".join(stream[25 * k : 25 * k + 200]) for k in range(64)]
    centre = words(200)
    star = [" ".join(centre)]
    for k in range(12):  # each leaf replaces its own 20 words of the centre
        leaf = list(centre)
        leaf[15 * k + 2 : 15 * k + 22] = words(20)
        star.append(" ".join(leaf))
    a, b = " ".join(words(120)), " ".join(words(120))
    noise = [" ".join(words(100)) for _ in range(30)]
    texts = chain + star + [a] * 40 + [b] * 40 + noise
    rng.shuffle(texts)
    return texts


def test_hard_graph_distributed_components_equal_local(spark, tmp_path):
    texts = _hard_graph()
    ids = [f"h{i}" for i in range(len(texts))]
    path = _write(tmp_path, "hard", texts, ids)
    local = _local_clusters(texts, 0.7)
    sizes = sorted(len(m) for m, _ in local)
    assert sizes == [13, 40, 40, 64]  # the star, the two buckets, the chain
    stats: dict = {}
    result = spark_mod.find_duplicates(
        spark.read.parquet(path).coalesce(1), "id", "text", 0.7, max_local_edges=0, stats=stats
    )
    assert stats["components"] == "distributed"
    assert stats["rounds"] >= 3  # a long shuffled chain needs several large-star/small-star rounds
    assert stats["exact_duplicates"] == 78  # the two buckets of 40 identical documents
    assert _spark_clusters(result, ids) == local


def test_many_identical_documents_are_one_star(spark, tmp_path):
    """3,000 identical documents (plus their case-changed copy and unrelated ones) are collapsed
    before LSH: one cluster, found in at most two large-star/small-star rounds."""
    rng = random.Random(5)
    vocab = _vocabulary(rng)
    same = " ".join(rng.choice(vocab) for _ in range(80))
    texts = [same] * 3000 + [same.upper()] + [" ".join(rng.choice(vocab) for _ in range(80)) for _ in range(50)]
    rng.shuffle(texts)
    path = _write(tmp_path, "identical", texts)
    stats: dict = {}
    result = spark_mod.find_duplicates(
        spark.read.parquet(path), "id", "text", order_by="pos", max_local_edges=0, stats=stats
    )
    clusters = [r for r in result.collect()]
    assert len(clusters) == 3001 and len({r["cluster_id"] for r in clusters}) == 1
    assert stats["exact_duplicates"] == 2999
    assert stats["rounds"] <= 2


# --------------------------------------------------------------------------- passages


def _passage_corpus(seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    seed_text = SEED_PATH.read_text(encoding="utf-8")
    lines = seed_text.split("\n")
    article = "\n".join(lines[8:55])  # lines 9-55 of the seed: the MEI article
    quote = " ".join(_words(rng, vocab, 60)) + "."
    docs = [seed_text]
    for k in range(8):
        parts = [" ".join(_words(rng, vocab, rng.randint(40, 90))) + "." for _ in range(4)]
        if k % 3 == 0:
            parts.insert(2, quote)  # the same quote in several documents
        if k == 4:
            parts.insert(1, article)  # the seed's article copied into another document
        if k == 6:
            edited = _edit(rng, vocab, quote.split(), 3)
            parts.insert(3, " ".join(edited))  # an edited copy
        docs.append("\n\n".join(parts))
    docs.insert(3, "")
    return docs


@pytest.mark.parametrize("hot", [spark_passages.DEFAULT_HOT_SHINGLES, 2])
def test_passages_equal_local(spark, tmp_path, hot):
    """The matches of the distributed passage search equal the local ones, with and without salting."""
    docs = _passage_corpus()
    ids = [f"p{i}" for i in range(len(docs))]
    path = _write(tmp_path, "passages", docs, ids)
    local = dedup.find_repeated_passages(docs, min_words=20)
    assert len(local) >= 5
    assert any(m.original.doc == 0 and m.repeat.doc == 0 for m in local)  # the seed's own repeat
    stats: dict = {}
    found = spark_mod.find_repeated_passages(
        spark.read.parquet(path).repartition(2),
        "id",
        "text",
        min_words=20,
        order_by="pos",
        hot_shingles=hot,
        stats=stats,
    )
    rows = [tuple(r) for r in found.collect()]
    expected = [
        (
            ids[m.original.doc],
            m.original.start,
            m.original.end,
            ids[m.repeat.doc],
            m.repeat.start,
            m.repeat.end,
            m.similarity,
        )
        for m in local
    ]
    assert rows == expected
    assert found.columns == [
        "original_id",
        "original_start",
        "original_end",
        "repeat_id",
        "repeat_start",
        "repeat_end",
        "similarity",
    ]
    assert stats["matches"] == len(local)


@pytest.mark.parametrize("hot", [None, 2])
def test_distributed_seeds_equal_the_local_seeds(spark, tmp_path, hot):
    """The shuffle on full 64-bit shingle hashes yields exactly the local seeds, token bounds and
    multiplicity, also when every repeated shingle is salted over several tasks (``hot=2``), and
    with no hot-shingle count at all (``None``; the default's count runs in every other test)."""
    docs = _passage_corpus()
    path = _write(tmp_path, "seeds", docs)
    indexed = spark_session.indexed(spark.read.parquet(path).repartition(2), "id", "text", "pos")
    stats: dict = {}
    occ = spark_passages.seed_occurrences(indexed, 5, hot_shingles=hot, stats=stats).toPandas()
    assert stats["hot_shingles"] > 0 if hot == 2 else stats["hot_shingles"] == 0
    order = [r[0] for r in indexed.select(spark_session.IDX).orderBy(spark_session.IDX).collect()]
    want_o, want_r, want_bounds, want_mult = local_passages._seeds(docs, 5, 1)
    rank = {idx: k for k, idx in enumerate(order)}
    glob_o = np.array([want_bounds[rank[i]] + p for i, p in zip(occ["oi"], occ["op"])], dtype=np.int64)
    glob_r = np.array([want_bounds[rank[i]] + p for i, p in zip(occ["ri"], occ["rp"])], dtype=np.int64)
    # Token counts travel with the shingles.
    assert all(want_bounds[rank[i] + 1] - want_bounds[rank[i]] == n for i, n in zip(occ["ri"], occ["rn"]))
    later = glob_o != glob_r
    got = sorted(zip(glob_r[later].tolist(), glob_o[later].tolist()))
    assert got == sorted(zip(want_r.tolist(), want_o.tolist()))
    assert np.array_equal(want_mult[glob_r], occ["cnt"].to_numpy())
    assert set(np.flatnonzero(want_mult > 1).tolist()) == set(glob_r.tolist())


def _exchanges(df) -> dict[str, str]:
    """The hash shuffles of ``df``'s executed plan (those inside cached relations included), each
    with the two operators below it (what it shuffles the output of)."""
    lines = df._jdf.queryExecution().executedPlan().toString().splitlines()
    return {
        line[line.index("Exchange") :]: " / ".join(
            re.sub(r"^[\s:+\-]*(\*\(\d+\)\s*)?", "", below) for below in lines[i + 1 : i + 3]
        )
        for i, line in enumerate(lines)
        if "Exchange hashpartitioning" in line
    }


def test_seed_plans_shuffle_the_shingles_once(spark, tmp_path):
    """Co-partitioned: the shingles are shuffled on their hash once; grouping them and joining each
    with its group need no second shuffle (and no filter on the driver). The old plan had two.
    With hot shingles (all repeated ones, ``hot_shingles=2``) the shingles are still shuffled once,
    on (hash, salt); the only other shuffles move aggregated rows (the per-salt parts of the hot
    shingles, combined) and the combined group rows copied to each salt. All give the same seeds."""
    docs = _passage_corpus()
    indexed = spark_session.indexed(spark.read.parquet(_write(tmp_path, "s", docs)), "id", "text", "pos")
    before = spark.conf.get("spark.sql.autoBroadcastJoinThreshold")
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")  # a sort-merge join, as on a big corpus
    try:
        plans, seeds = {}, {}
        for variant, kw in {"one": {}, "two": {"copartition": False}, "hot": {"hot_shingles": 2}}.items():
            stats: dict = {}
            occ = spark_passages.seed_occurrences(indexed, 5, stats=stats, **kw)
            seeds[variant] = sorted(map(tuple, occ.collect()))
            plans[variant] = {ex: child for ex, child in _exchanges(occ).items() if "hashpartitioning(h#" in ex}
            assert stats["hot_shingles"] > 0 if variant == "hot" else stats["hot_shingles"] == 0
    finally:
        spark.conf.set("spark.sql.autoBroadcastJoinThreshold", before)
    assert len(plans["one"]) == 1 and "REPARTITION_BY_NUM" in next(iter(plans["one"]))
    assert len(plans["two"]) == 2  # the grouping's shuffle and the join's
    hot = plans["hot"]
    of_shingles = [ex for ex, child in hot.items() if child.startswith("MapInArrow")]
    assert len(of_shingles) == 1, hot
    assert re.match(r"Exchange hashpartitioning\(h#\d+L, s#\d+, \d+\), REPARTITION_BY_NUM", of_shingles[0])
    others = [child for ex, child in hot.items() if ex != of_shingles[0]]
    assert len(others) == 2, hot
    # The per-salt parts, partially aggregated, combined on the hash; the combined groups copied to each salt.
    assert sum(bool(re.match(r"\w*Aggregate\(key=\[h#\d+L\], functions=\[partial_sum", c)) for c in others) == 1, hot
    assert sum("Generate explode" in c for c in others) == 1, hot
    assert seeds["one"] == seeds["two"] == seeds["hot"] and len(seeds["one"]) > 100


def test_hot_shingles_are_found_exactly_and_spread_in_the_first_shuffle(spark, tmp_path):
    """Boilerplate repeated many times inside a few documents (a sample of documents misjudges it):
    the hot shingles are counted exactly (a line occurring ``hot_at + 1`` times is hot, one
    occurring ``hot_at`` times is not), each hot shingle's occurrences land in several partitions
    of the shingles' one shuffle (salted), not all in one task; the matches equal the local ones."""
    from pyspark.sql import functions as F

    from dedup.internal import passage_shingles

    rng = random.Random(11)
    vocab = _vocabulary(rng)
    hot_at = 600
    over = "all rights reserved no part of this page may be copied without written permission"
    at = "subscribe today for unlimited access to every story on our award winning website"

    def page(line: str, copies: int) -> str:
        return " ".join(f"{' '.join(_words(rng, vocab, 8))}. {line}." for _ in range(copies))

    docs = [page(over, 300), page(at, 300), page(over, 300), page(at, 300), page(over, 1)]
    docs += [" ".join(_words(rng, vocab, 60)) for _ in range(200)]
    ids = [f"b{i}" for i in range(len(docs))]
    hashes = passage_shingles(docs, 5)[0].view(np.int64)
    values, counts = np.unique(hashes, return_counts=True)
    want_hot = set(values[counts > hot_at].tolist())
    assert len(want_hot) >= 10 and counts.max() == hot_at + 1 and (counts == hot_at).sum() >= 9
    path = _write(tmp_path, "hot", docs, ids)
    before = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "8")
    try:
        ix = spark_session.indexed(spark.read.parquet(path), "id", "text", "pos")
        parted, hot = spark_passages._partitioned_shingles(ix, 5, hot_at)
        watched = [int(h) for h in values[counts >= hot_at]]
        where = parted.where(F.col("h").isin(watched)).groupBy("h", F.spark_partition_id().alias("p")).count().collect()
        stats: dict = {}
        found = spark_mod.find_repeated_passages(
            spark.read.parquet(path), "id", "text", min_words=10, order_by="pos", hot_shingles=hot_at, stats=stats
        )
        rows = [tuple(r) for r in found.collect()]
        parted.unpersist()
        ix.unpersist()
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", before)
    assert set(hot.tolist()) == want_hot and stats["hot_shingles"] == len(want_hot)
    per_hash: dict[int, list[int]] = {}
    for r in where:
        per_hash.setdefault(r["h"], []).append(r["count"])
    for h in want_hot:  # unsalted, all of a shingle's occurrences would be in one partition
        assert len(per_hash[h]) >= 4 and max(per_hash[h]) <= 0.4 * (hot_at + 1), per_hash[h]
    at_threshold = set(values[counts == hot_at].tolist())
    assert all(per_hash[h] == [hot_at] for h in at_threshold)  # not hot: one partition, as before
    local = dedup.find_repeated_passages(docs, min_words=10)
    assert len(local) >= 1_000
    expected = [
        (ids[m.original.doc], m.original.start, m.original.end, ids[m.repeat.doc], m.repeat.start, m.repeat.end,
         m.similarity)
        for m in local
    ]  # fmt: skip
    assert rows == expected


def test_sparse_multiplicity_equals_the_local_array():
    """The driver-side multiplicity rebuilt from the seeds equals the local dense array."""
    docs = [*_passage_corpus()[:6], "one two", "", "a b c d e f g h a b c d e f g h"]
    _, _, bounds, dense = local_passages._seeds(docs, 5, 1)
    where = np.flatnonzero(dense > 1)
    sparse = spark_passages.Multiplicity(bounds, 5, where, dense[where])
    assert len(sparse) == len(dense)
    assert np.array_equal(sparse[0 : len(dense)], dense)
    for lo, hi in [(0, 7), (100, 400), (len(dense) - 9, len(dense) + 5)]:
        assert np.array_equal(sparse[lo:hi], dense[lo:hi])


# --------------------------------------------------------------------------- command line entry points


def test_cli_docs_reads_jsonl_like_the_local_engine(spark, tmp_path, corpus):
    """``dedup docs --engine spark --jsonl``: the local clusters, members named by path, line and id;
    blank lines skipped; bad JSON, a missing or non-string text reported and counted, as locally."""
    import json

    texts = [t for t in corpus[0][:120] if t]
    lines = [json.dumps({"id": k, "text": t}) for k, t in enumerate(texts)]
    lines.insert(3, "")
    lines.insert(7, "{not json")
    lines.insert(9, json.dumps({"id": "no-text"}))
    lines.insert(11, json.dumps({"id": "number", "text": 5}))
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # An undecodable byte on line 2: with --errors strict the whole file is skipped, as locally.
    undecodable = tmp_path / "bytes.jsonl"
    undecodable.write_bytes(b"\n".join([lines[0].encode(), b'{"id": "x", "text": "caf\xe9 au lait"}', b""]))
    args = {
        "paths": [str(path), str(undecodable)],
        "jsonl": True,
        "parquet": False,
        "text_field": "text",
        "id_field": "id",
        "threshold": 0.8,
        "ngram": 5,
        "num_perm": 128,
        "spark_master": "local[2]",
    }
    result = spark_mod.cli_docs(args)
    good = [
        d
        for d in dedup.formats.iter_jsonl(path.read_text(), str(path), "text", "id")
        if isinstance(d, dedup.formats.Document)
    ]
    local = _local_clusters([d.text for d in good], 0.8)
    assert len(local) >= 5

    def member(d):
        return {"path": str(path), "record": d.record, "id": d.id}

    # Each member with its similarity to the kept one, as the local report gives it (which_to_keep).
    sims = dedup.which_to_keep([d.text for d in good], 0.8).similarity
    assert result["clusters"] == [
        {"members": [{**member(good[i]), "similarity": float(sims[i])} for i in c], "kept": member(good[k])}
        for c, k in local
    ]
    assert any(m["similarity"] < 1.0 for c in result["clusters"] for m in c["members"])
    summary = result["summary"]
    assert (summary["documents"], summary["skipped_records"], summary["clusters"]) == (len(texts), 3, len(local))
    assert (summary["files"], summary["skipped_files"]) == (1, 1)
    assert result["problems"] == [
        f"{undecodable}:2: not valid utf-8 (invalid continuation byte, byte 0xe9 at column 25 of the line);"
        " use --encoding ENC or --errors replace",
        f"{path}:8: not valid JSON (Expecting property name enclosed in double quotes at column 2)",
        f"{path}:10: no field 'text' (fields: 'id'); use --text-field",
        f"{path}:12: field 'text' is int, not a string",
    ]


def test_cli_passages_on_the_seed_dump(spark, seed_path):
    """``dedup passages --engine spark FILE``: the article at lines 8-55 repeats at lines 160-206."""
    result = spark_mod.cli_passages({"paths": [str(seed_path)], "threshold": 0.8, "min_words": 20, "ngram": 5})
    spans = [
        ((m["original"]["start_line"], m["original"]["end_line"]), (m["repeat"]["start_line"], m["repeat"]["end_line"]))
        for m in result["matches"]
    ]
    assert spans == [((8, 8), (9, 9)), ((8, 55), (160, 206))]
    local = dedup.find_repeated_passages(seed_path.read_bytes().decode("utf-8"))
    assert [(m["original"]["start"], m["repeat"]["end"], m["similarity"]) for m in result["matches"]] == [
        (m.original.start, m.repeat.end, m.similarity) for m in local
    ]


# --------------------------------------------------------------------------- clean


def _clean_inputs(root: Path) -> Path:
    """A directory of every input kind ``clean`` writes back: text files (one empty, one a near
    copy of another, one repeating a passage of another), JSON Lines plain and compressed (gzip,
    zstd, xz; with a bad line), and Parquet; records with duplicates and repeated passages."""
    import gzip
    import json
    import lzma

    import zstandard

    rng = random.Random(21)
    vocab = _vocabulary(rng)
    data = root / "in"
    (data / "sub").mkdir(parents=True)
    para = [" ".join(_words(rng, vocab, 45)) + "." for _ in range(12)]
    (data / "a.txt").write_text("\n".join(para[:4]) + "\n", encoding="utf-8")
    (data / "b.txt").write_text("\n".join(para[:4]).replace(para[0][:8], "Changed ") + "\n", encoding="utf-8")
    (data / "c.txt").write_text(f"{para[5]}\n{para[1]}\n{para[6]}\n{para[5]}\n", encoding="utf-8")
    (data / "empty.txt").write_bytes(b"")

    def records(k: int, n: int) -> bytes:
        out = []
        for j in range(n):
            text = " ".join(_words(rng, vocab, 60))
            if j % 4 == 1:
                text = out[-1]["text"]  # an exact duplicate record
            if j % 5 == 2:
                text += "\n" + para[7 + k % 4] + "\n" + " ".join(_words(rng, vocab, 30))  # a shared passage
            out.append({"id": f"{k}-{j}", "text": text, "n": j})
        lines = [json.dumps(r) for r in out]
        lines.insert(3, "{broken")
        return ("\n".join(lines) + "\n").encode()

    # Undecodable bytes (read with --errors replace, i.e. surrogateescape): in a record whose passage
    # is cut, in a dropped record and in a text file whose second paragraph repeats a.txt's; written
    # back (or into removed.jsonl) as the local engine writes them.
    cut, dropped = b'"id": "0-7", "text": "', b'"id": "0-1", "text": "'  # 0-1 duplicates 0-0: removed.jsonl
    (data / "r.jsonl").write_bytes(records(0, 14).replace(cut, cut + b"\xff\xfe ").replace(dropped, dropped + b"\xfa "))
    (data / "u.txt").write_bytes(f"{para[8]}\n".encode() + b"odd \xe9 bytes\n" + f"{para[1]}\n".encode())
    (data / "sub" / "r.jsonl.gz").write_bytes(gzip.compress(records(1, 12)))
    (data / "sub" / "r.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(records(2, 12)))
    (data / "sub" / "r.jsonl.xz").write_bytes(lzma.compress(records(3, 8)))
    rows = [json.loads(line) for line in records(4, 10).decode().splitlines() if line.startswith('{"')]
    pq.write_table(pa.Table.from_pylist(rows), data / "sub" / "t.parquet", row_group_size=4)
    return data


def test_cli_clean_on_spark_writes_what_the_local_clean_writes(spark, tmp_path, capsys):
    """``dedup clean --engine spark --docs``: the executors write the same cleaned files (text,
    JSON Lines plain and compressed, Parquet; an empty file copied; undecodable bytes kept), the
    same manifest, the same removed.jsonl and the same counts as the local engine, from a
    directory of mixed formats; the terminal gets the same lines (summary line with its
    document count included) and the same HTML report (``--format html``: only the documents
    on either side of a removal come back to the driver)."""
    import json

    from dedup.cli import main

    data = _clean_inputs(tmp_path)
    common = ["clean", str(data), "-r", "--docs", "--id-field", "id", "--min-words", "12", "--format", "html"]
    common += ["--errors", "replace"]  # undecodable bytes kept byte for byte, as locally
    outs, said, pages = {}, {}, {}
    for engine in ("local", "spark"):
        out = tmp_path / engine
        extra = ["--engine", "spark", "--spark-master", "local[2]", "--spark-partitions", "2"] * (engine == "spark")
        code = main([*common, "-o", str(out), *extra])
        assert code == 0
        outs[engine] = out
        printed = capsys.readouterr()
        said[engine] = re.sub(r"[0-9.]+ s$", "S s", printed.err.replace(str(out), "OUT"), flags=re.M)
        # The summary table differs by its seconds and the engine's own keys; the rest is the report.
        rows = r"<tr><th>(seconds|engine|spark_master)</th><td>[^<]*</td></tr>"
        pages[engine] = re.sub(rows, "", printed.out)
    assert said["spark"] == said["local"]
    assert re.search(r"^dedup: \d+ files, [0-9.]+ MB, \d+ documents, ", said["spark"], re.M), said["spark"]
    assert pages["spark"] == pages["local"]
    assert "<html" in pages["spark"] and "sub/t.parquet#" in pages["spark"]
    local, remote = outs["local"], outs["spark"]
    names = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(remote).as_posix() for p in remote.rglob("*") if p.is_file())
    assert {"empty.txt", "sub/r.jsonl.zst", "sub/t.parquet", "manifest.jsonl", "removed.jsonl"} <= set(names)
    for name in names:
        if name == "stats.json":
            continue
        if name.endswith(("manifest.jsonl", "removed.jsonl")):
            want = (local / name).read_text().replace(str(local), "OUT")
            assert (remote / name).read_text().replace(str(remote), "OUT") == want, name
        else:
            assert (remote / name).read_bytes() == (local / name).read_bytes(), name
    manifest = [json.loads(line) for line in (local / "manifest.jsonl").read_text().splitlines()]
    kinds = {r["kind"] for r in manifest}
    assert kinds == {"document", "passage"}
    stats = [json.loads((out / "stats.json").read_text()) for out in (local, remote)]
    for key in ("records_in", "records_out", "bytes_in", "bytes_out", "documents", "duplicates", "passages_removed"):
        assert stats[0][key] == stats[1][key], key


def test_cli_docs_and_passages_html_on_spark_equal_local(spark, tmp_path, capsys):
    """``dedup docs|passages --engine spark --format html``: the local engine's page (built on the
    driver from the clusters or matches found and the texts of the documents they show), from text
    files and Parquet records; refused with ``--spark-output``, which keeps results off the driver."""
    from dedup.cli import main

    data = _clean_inputs(tmp_path)
    files = [str(data / name) for name in ("a.txt", "b.txt", "c.txt", "sub/t.parquet")]  # near copies, repeats
    common = [*files, "--id-field", "id", "--format", "html"]
    spark_args = ["--engine", "spark", "--spark-master", "local[2]", "--spark-partitions", "2"]
    rows = r"<tr><th>(seconds|engine|spark_master)</th><td>[^<]*</td></tr>"
    for command in (["docs"], ["passages", "--min-words", "12"]):
        pages = {}
        for engine, extra in (("local", []), ("spark", spark_args)):
            assert main([*command, *common, *extra]) == 0
            pages[engine] = re.sub(rows, "", capsys.readouterr().out)
        assert pages["spark"] == pages["local"], command
        assert "<html" in pages["spark"] and "sub/t.parquet#" in pages["spark"]
    assert main(["docs", *common, *spark_args, "--spark-output", str(tmp_path / "o")]) == 2
    assert "cannot be used with --spark-output" in capsys.readouterr().err


def test_spark_clean_library_equals_local_plan(spark, tmp_path):
    """``dedup.spark.clean``: the kept rows with their texts cut as ``plan_removals`` +
    ``apply_removals`` cut them after ``which_to_keep``, and the removals in document order;
    also when a cut depends on an earlier document's cuts (several plan levels)."""
    rng = random.Random(4)
    vocab = _vocabulary(rng)
    p = [" ".join(_words(rng, vocab, 40)) + "." for _ in range(6)]
    docs = [
        f"{p[0]}\n{p[1]}",
        f"{p[2]}\n{p[0]}\n{p[3]}",  # repeats p0 of doc 0
        f"{p[4]}\n{p[2]}\n{p[0]}",  # p2's original lies in doc 1, which loses p0
        f"{p[2]}\n{p[0]}\n{p[3]}",  # an exact copy of doc 1: dropped
        f"{p[5]}\n{p[5]}",
    ]
    path = _write(tmp_path, "clean", docs, list(range(len(docs))))
    stats: dict = {}
    cleaned, removals = spark_mod.clean(
        spark.read.parquet(path).repartition(2), "id", "text", min_words=10, order_by="pos", stats=stats
    )
    decision = dedup.which_to_keep(docs)
    kept = [i for i in range(len(docs)) if decision.keep[i]]
    sub = [docs[i] for i in kept]
    plan = local_passages.plan_removals(sub, dedup.find_repeated_passages(sub, min_words=10))
    want = dict(zip(kept, local_passages.apply_removals(sub, plan)))
    assert {r["id"]: r["text"] for r in cleaned.collect()} == want
    assert stats["plan_levels"] >= 2
    rows = [tuple(r) for r in removals.collect()]
    expected = [("document", 3, 0, len(docs[3]), 1, 0, len(docs[1]), 1.0)]
    expected += [
        (
            "passage",
            kept[r.span.doc],
            r.span.start,
            r.span.end,
            kept[r.match.original.doc],
            r.match.original.start,
            r.match.original.end,
            r.match.similarity,
        )
        for r in plan
    ]
    key = {"document": 0, "passage": 1}
    assert rows == sorted(expected, key=lambda r: (r[1], key[r[0]], r[2]))
