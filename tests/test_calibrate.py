"""dedup calibrate: measured recall and precision agree with the generator's truth, within their intervals."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import dedup
from dedup import cli, synth
from dedup.calibrate import calibrate, wilson
from dedup.lsh import LSHIndex, band_keys, collision_probability


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    synth.write_dump(out, size_bytes="4MB", seed=0)
    return out, list(synth.iter_texts(out)), synth.load_truth(out)


def _truth_recall(texts, truth, bands: int, rows: int, threshold: float = 0.8) -> tuple[float, int]:
    """Share of the generator's near-duplicate pairs that the banding makes candidates (all of them)."""
    sig = dedup.signatures(texts)
    pos = truth.duplicate_pairs(threshold)
    hit = (band_keys(sig[pos[:, 0]], bands, rows) == band_keys(sig[pos[:, 1]], bands, rows)).any(axis=1)
    return float(hit.mean()), len(pos)


def test_wilson_interval() -> None:
    lo, hi = wilson(8, 10)
    # (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n), by hand
    z = 1.959963984540054
    centre = (0.8 + z * z / 20) / (1 + z * z / 10)
    half = z * math.sqrt(0.8 * 0.2 / 10 + z * z / 400) / (1 + z * z / 10)
    assert lo == pytest.approx(centre - half) and hi == pytest.approx(centre + half)
    assert wilson(10, 10)[1] == pytest.approx(1.0) and wilson(0, 10)[0] == pytest.approx(0.0)


@pytest.mark.parametrize(("bands", "rows"), [(9, 13), (None, None)])
def test_measured_recall_agrees_with_the_truth(corpus, bands, rows) -> None:
    _, texts, truth = corpus
    # few pairs per bin: the strata are sub-sampled, so the weights matter
    c = calibrate(texts, 0.8, bands=bands, rows=rows, per_bin=60, random_pairs=100)
    true_recall, positives = _truth_recall(texts, truth, c.bands, c.rows)
    assert positives > 50 and c.positives_sampled >= 30
    lo, hi = c.chosen.recall_ci
    assert lo <= true_recall <= hi, (c.chosen, true_recall)
    if bands is None:  # the default banding is tuned below the threshold: nothing at 0.8 is missed
        assert true_recall == 1.0
    else:  # 9 x 13 has its midpoint at 0.84: a real share is missed, and measured
        assert true_recall < 0.97 and c.chosen.recall < 0.97


def test_measured_precision_agrees_with_all_candidates(corpus) -> None:
    _, texts, _ = corpus
    c = calibrate(texts, 0.7, per_bin=60, random_pairs=100)
    index = LSHIndex(num_perm=128, bands=c.bands, rows=c.rows)
    index.add(dedup.signatures(texts))
    cands = index.candidate_pairs()
    sims = np.array([dedup.exact_jaccard(texts[i], texts[j]) for i, j in cands.tolist()])
    true_precision = float((sims >= 0.7).mean())
    lo, hi = c.chosen.precision_ci
    assert lo <= true_precision <= hi, (c.chosen, true_precision)


def test_curve_and_suggestions(corpus) -> None:
    _, texts, _ = corpus
    c = calibrate(texts, 0.8, target_recall=0.9, per_bin=60, random_pairs=100)
    assert sum(b["pairs"] for b in c.curve) == c.sampled_pairs == len(c.jaccard)
    for b in c.curve:
        inside = (c.jaccard >= b["lo"]) & ((c.jaccard < b["hi"]) | (b["hi"] == 1.0))
        expected = np.average(collision_probability(c.jaccard[inside], c.bands, c.rows), weights=c.weight[inside])
        assert b["theory"] == pytest.approx(expected)
        assert b["ci_lo"] - 1e-9 <= b["measured"] <= b["ci_hi"] + 1e-9
    assert [s["num_perm"] for s in c.suggestions] == [64, 128, 256]
    for s in c.suggestions:
        setting = s["setting"]
        assert setting["recall"] >= 0.9 and setting["bands"] * setting["rows"] <= s["num_perm"]
    # the same draw with the same seed
    again = calibrate(texts, 0.8, target_recall=0.9, per_bin=60, random_pairs=100)
    assert again.to_dict() == c.to_dict()


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="sequence"):
        calibrate(iter(["a b c"]))
    with pytest.raises(ValueError, match="not both"):
        calibrate(["a"], target_recall=0.9, target_precision=0.9)
    with pytest.raises(ValueError, match="both bands and rows"):
        calibrate(["a"], bands=3)
    empty = calibrate(["", ""])
    assert empty.sampled_pairs == 1 and empty.positives_sampled == 0


def test_cli_json_and_plots(corpus, tmp_path, capsys) -> None:
    out, _, _ = corpus
    png, svg = tmp_path / "s.png", tmp_path / "s.svg"
    argv = ["calibrate", str(out / "docs.jsonl"), "--jsonl", "--per-bin", "40", "--format", "json", "-q"]
    assert cli.main([*argv, "--plot", str(png), "--plot", str(svg), "--target-precision", "0.9"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["threshold"] == 0.8 and 0.0 <= report["chosen"]["recall"] <= 1.0
    assert len(report["suggestions"]) == 3
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "<svg" in svg.read_text(encoding="utf-8")
    assert cli.main(["calibrate", str(out / "docs.jsonl"), "--jsonl", "--per-bin", "40", "-q"]) == 0
    assert "candidate recall" in capsys.readouterr().out
    for bad, message in ((["--plot", str(tmp_path / "x.txt")], "--plot writes"), (["--bands", "3"], "both --bands")):
        assert cli.main([*argv, *bad]) == 2
        assert message in capsys.readouterr().err
