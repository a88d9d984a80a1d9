"""Tokenisation, normalisation and shingling (dedup.text).

What users rely on: texts that differ only in case, accents, quotes, dashes,
spacing or Unicode compatibility forms hash the same; every script produces
sensible tokens whose character offsets point at the right characters of the
caller's string; hashes never depend on the batch a text was processed in.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dedup import normalize, shingle, tokenize


def token_texts(text: str, mode: str = "word") -> list[str]:
    """The substrings of ``text`` that the tokenizer reports, via its offsets."""
    batch = tokenize([text], offsets=True, mode=mode)
    return [text[s:e] for s, e in zip(batch.starts.tolist(), batch.ends.tolist())]


def hashes_of(text: str, mode: str = "word") -> list[int]:
    return tokenize([text], mode=mode).hashes.tolist()


# --------------------------------------------------------------------------- basics


def test_words_and_offsets_latin():
    text = "Hello, World!  It's 2024 -- fine."
    assert token_texts(text) == ["Hello", "World", "It", "s", "2024", "fine"]
    assert normalize(text) == "hello world it s 2024 fine"


def test_batch_layout_and_empty_documents():
    batch = tokenize(["one two", "", "!!! ...", "three"], offsets=True)
    # bounds[d]:bounds[d+1] are the tokens of document d; offsets are per document.
    assert batch.bounds.tolist() == [0, 2, 2, 2, 3]
    assert batch.counts().tolist() == [2, 0, 0, 1]
    assert batch.starts.tolist() == [0, 4, 0]
    assert batch.ends.tolist() == [3, 7, 5]
    assert tokenize([]).n_docs == 0


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="mode"):
        tokenize(["x"], mode="words")


@pytest.mark.parametrize(
    "variant",
    [
        'the cafe said "don\'t" - twice',
        "The Café said “don’t” — twice",  # curly quotes, em dash, accent, case
        "THE CAFE\u0301 SAID 'DON'T' – TWICE",  # combining accent, en dash
        'the\u00a0cafe\nsaid\t"don\'t"\r\n-   twice',  # NBSP, re-wrapped lines
        "ｔｈｅ ｃａｆｅ ｓａｉｄ ＂ｄｏｎ＇ｔ＂ － ｔｗｉｃｅ",  # full-width forms (NFKC)
        "the ca\u00adfe said don't twice",  # soft hyphen inside a word
    ],
)
def test_normalisation_folds_typographic_variants(variant):
    assert hashes_of(variant) == hashes_of("the cafe said don't twice")
    assert normalize(variant) == "the cafe said don t twice"


def test_mathematical_alphanumerics_fold_like_nfkc():
    # "Fancy text" from social media (U+1D400 block) is NFKC-equivalent to ASCII.
    assert normalize("𝐇𝐞𝐥𝐥𝐨 𝘸𝘰𝘳𝘭𝘥") == "hello world"
    assert hashes_of("𝐇𝐞𝐥𝐥𝐨 𝘸𝘰𝘳𝘭𝘥") == hashes_of("Hello world")


def test_different_words_hash_differently():
    words = ["a", "b", "ab", "ba", "aa", "abc", "cab", "the", "then", "thee", "1", "11", "l"]
    hashes = tokenize([" ".join(words)]).hashes
    assert len(set(hashes.tolist())) == len(words)


# --------------------------------------------------------------------------- scripts


def test_cyrillic_words():
    text = "Привет, мир! Как дела у Ивана?"
    assert token_texts(text) == ["Привет", "мир", "Как", "дела", "у", "Ивана"]
    assert normalize(text) == "привет мир как дела у ивана"
    assert hashes_of("ПРИВЕТ МИР") == hashes_of("привет мир")


def test_cjk_characters_are_single_tokens():
    text = "東京は晴れ、今日は暑い。"
    assert token_texts(text) == list("東京は晴れ今日は暑い")
    # The same text without the punctuation has the same tokens.
    assert hashes_of(text) == hashes_of("東京は晴れ 今日は暑い")


def test_thai_and_hangul():
    # Thai is written without spaces: one token per character; Hangul has spaces: words.
    assert token_texts("ภาษาไทย") == list("ภาษาไทย")
    assert token_texts("한국어 텍스트입니다") == ["한국어", "텍스트입니다"]


def test_emoji_are_tokens_with_exact_offsets():
    text = "I love 🍕 pizza and 🎉🎉 parties"
    assert token_texts(text) == ["I", "love", "🍕", "pizza", "and", "🎉", "🎉", "parties"]
    # Emoji (astral code points) are one Python character: offsets stay in str indices.
    batch = tokenize([text], offsets=True)
    assert text[batch.starts[2]] == "🍕"
    assert text[batch.starts[3] : batch.ends[3]] == "pizza"


def test_emoji_sequences_do_not_break_neighbouring_words():
    # Skin-tone modifiers and variation selectors are not words; the words around them survive.
    toks = token_texts("ok👍🏽great ❤️ love")
    assert "great" in toks and "love" in toks and "ok" in toks
    assert "👍" in "".join(toks)


def test_mixed_script_offsets_point_at_the_right_characters():
    text = "Москва (Moscow) — 東京 Tokyo, “Αθήνα” Athens 🌍!"
    assert token_texts(text) == ["Москва", "Moscow", "東", "京", "Tokyo", "Αθήνα", "Athens", "🌍"]
    assert normalize(text) == "москва moscow 東 京 tokyo αθηνα athens 🌍"


def test_char_mode_ignores_spaces_and_punctuation():
    assert token_texts("ab, c", mode="char") == ["a", "b", "c"]
    assert hashes_of("a-b c", mode="char") == hashes_of("abc", mode="char")


# --------------------------------------------------------------------------- properties

# Text from a deliberately wide alphabet: Latin, accents, Cyrillic, CJK, Thai,
# emoji, combining marks, zero-width joiner, punctuation and whitespace.
ALPHABET = st.sampled_from(
    list("aZé09 \n\t.,;!?-—“”'\"")
    + list("жЖё")
    + list("東京は")
    + list("ไทย")
    + ["🍕", "👍", "🏽", "\u0301", "\u200d", "\u00ad", "\u00a0", "Ａ", "𝐀", "ß", "ﬁ"]
)
TEXTS = st.text(alphabet=ALPHABET, max_size=60)


@given(st.lists(TEXTS, min_size=1, max_size=6))
def test_tokens_do_not_depend_on_the_batch(texts):
    """Documents are tokenised in batches: a text's tokens must be the same in any batch."""
    batch = tokenize(texts, offsets=True)
    for d, text in enumerate(texts):
        alone = tokenize([text], offsets=True)
        lo, hi = batch.bounds[d], batch.bounds[d + 1]
        assert batch.hashes[lo:hi].tolist() == alone.hashes.tolist()
        assert batch.starts[lo:hi].tolist() == alone.starts.tolist()
        assert batch.ends[lo:hi].tolist() == alone.ends.tolist()


@given(TEXTS)
def test_offsets_are_ordered_spans_inside_the_text(text):
    batch = tokenize([text], offsets=True)
    starts, ends = batch.starts.tolist(), batch.ends.tolist()
    assert len(starts) == len(ends) == len(batch.hashes)
    previous_end = 0
    for s, e in zip(starts, ends):
        assert previous_end <= s < e <= len(text)
        # A token starts on a visible character: a letter, digit or symbol.
        assert text[s] not in " \n\t.,;!?-—“”'\"\u0301\u200d\u00ad\u00a0"
        previous_end = e


@given(TEXTS)
def test_normalized_text_tokenises_like_the_original(text):
    """normalize() shows what the hashing sees: it must hash exactly like the original."""
    assert hashes_of(normalize(text)) == hashes_of(text)


@given(st.lists(st.sampled_from(["alpha", "beta", "gamma", "δέλτα", "東", "🍕"]), max_size=12))
def test_case_and_separators_never_matter(words):
    plain = " ".join(words)
    noisy = " ,  ".join(w.upper() for w in words) + " !"
    assert hashes_of(noisy) == hashes_of(plain)


# --------------------------------------------------------------------------- shingles


def reference_shingles(words: list[str], n: int) -> list[tuple[str, ...]]:
    """Word n-grams, or the whole text as one shingle when it is shorter than n."""
    if not words:
        return []
    if len(words) < n:
        return [tuple(words)]
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


@given(
    st.lists(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=9), min_size=1, max_size=5),
    st.integers(1, 6),
)
def test_shingles_match_a_reference_shingler(docs, n):
    """Shingle k of a document hashes tokens k..k+n-1: equal n-grams <=> equal hashes."""
    batch = shingle(tokenize([" ".join(d) for d in docs]), ngram=n)
    assert batch.ngram == n
    hashes = batch.hashes.tolist()
    all_ref = []
    for d, words in enumerate(docs):
        ref = reference_shingles(words, n)
        got = hashes[batch.bounds[d] : batch.bounds[d + 1]]
        assert len(got) == len(ref)
        all_ref.extend(ref)
    # The mapping n-gram -> hash is a function and (for this tiny vocabulary) injective.
    mapping: dict = {}
    for gram, h in zip(all_ref, hashes):
        assert mapping.setdefault(gram, h) == h
    assert len(set(mapping.values())) == len(mapping)


def test_shingle_first_token_indexes_the_token_batch():
    tokens = tokenize(["a b c d", "x", "p q r"])
    batch = shingle(tokens, ngram=3)
    assert batch.bounds.tolist() == [0, 2, 3, 4]
    assert batch.first_token.tolist() == [0, 1, 4, 5]


def test_short_document_gets_one_shingle_distinct_from_its_prefixes():
    batch = shingle(tokenize(["a b", "a", "a b c d e", ""]), ngram=5)
    assert batch.bounds.tolist() == [0, 1, 2, 3, 3]
    # "a b" and "a" are different single shingles, and neither equals the 5-gram.
    assert len(set(batch.hashes.tolist())) == 3


def test_shingles_are_order_sensitive():
    forward = shingle(tokenize(["a b c"]), ngram=3).hashes
    backward = shingle(tokenize(["c b a"]), ngram=3).hashes
    assert forward.tolist() != backward.tolist()


def test_hashes32_are_the_upper_half():
    batch = shingle(tokenize(["one two three four five six seven"]), ngram=2)
    h32 = batch.hashes32()
    assert h32.dtype == np.uint32
    assert (h32.astype(np.uint64) == batch.hashes >> np.uint64(32)).all()


def test_ngram_below_one_is_rejected():
    with pytest.raises(ValueError, match="ngram"):
        shingle(tokenize(["a b"]), ngram=0)
