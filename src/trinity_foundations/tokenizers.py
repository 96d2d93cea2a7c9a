"""Tokenizers: the toy word vocabulary and byte-level byte-pair encoding (BPE).

A word tokenizer maps each whitespace-separated word of a fixed vocabulary to
its index. Byte-level BPE starts from the 256 byte values and learns merges:
repeatedly, the most frequent adjacent pair of the current sequence becomes a
new id (256, 257, ...). The rules are minbpe's BasicTokenizer, exactly:

- pairs are counted with overlaps ("aaa" holds two "aa");
- a tie in count goes to the pair whose first occurrence comes earliest in the
  current sequence (what `max` over a dict filled in sequence order returns);
- a merge replaces occurrences left to right, so "aaa" becomes [Z, a].

Two trainers give the same merges: `train_recount`, the plain algorithm that
recounts every pair of the whole text after each merge (O(n) per merge), kept
as the reference, and `train`, which keeps the counts up to date: a doubly
linked list over the sequence, a set of positions per pair (its count is the
set's size, its first occurrence the set's minimum) and a heap of counts, so a
merge costs time in proportion to the occurrences it replaces.

`rank_encode` is the other way to apply BPE, tiktoken's: a table of ranks
(bytes -> rank) and a pre-split of the text into chunks; within a chunk the
adjacent pair whose concatenation has the lowest rank is merged first.

References:
  Sennrich, Haddow, Birch, "Neural Machine Translation of Rare Words with
  Subword Units" (2016), https://arxiv.org/abs/1508.07909
  Karpathy, minbpe, https://github.com/karpathy/minbpe (basic.py, base.py)
"""

from __future__ import annotations

import base64
import heapq
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

# ----------------------------------------------------------------------------
# The toy word vocabulary of the original lesson.

WORDS: tuple[str, ...] = (
    "<pad>", "The", "cat", "sat", "on", "mat", "dog", "bites", "man", "a",
    "is", "happy", "furry", "friendly", "brown", "and", "the", "with",
    "sleeping", "<eos>",
)  # fmt: skip
WORD_IDS: dict[str, int] = {w: i for i, w in enumerate(WORDS)}


def word_encode(text: str) -> list[int]:
    """Ids of the whitespace-separated words of `text`; ValueError for a word
    outside the vocabulary (a word tokenizer has no way to spell it)."""
    unknown = [w for w in text.split() if w not in WORD_IDS]
    if unknown:
        raise ValueError(f"not in the vocabulary: {unknown[0]!r}")
    return [WORD_IDS[w] for w in text.split()]


def word_decode(ids: Iterable[int]) -> str:
    """The words of `ids`, joined by single spaces."""
    return " ".join(WORDS[i] for i in ids)


# ----------------------------------------------------------------------------
# Byte-level BPE: the reference pieces (minbpe's get_stats and merge).

Pair = tuple[int, int]
FIRST_ID = 256  # ids 0..255 are the bytes themselves


class Merge(NamedTuple):
    """One learned merge: `pair` becomes `new_id`."""

    pair: Pair
    new_id: int
    count: int  # occurrences of the pair (overlaps counted) when it was chosen
    length: int  # tokens in the training sequence after the merge


def pair_counts(ids: Sequence[int]) -> dict[Pair, int]:
    """Count every adjacent pair, overlaps included; keys in first-occurrence order."""
    counts: dict[Pair, int] = {}
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge(ids: Sequence[int], pair: Pair, new_id: int) -> list[int]:
    """Replace every occurrence of `pair` in `ids` by `new_id`, left to right."""
    out, i, n = [], 0, len(ids)
    while i < n:
        if i + 1 < n and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def train_recount(data: bytes, num_merges: int) -> list[Merge]:
    """Learn up to `num_merges` merges, recounting every pair after each one.

    The reference algorithm: O(len(data)) per merge. Stops early when the
    sequence has no pair left (a single token).
    """
    ids, merges = list(data), []
    for k in range(num_merges):
        counts = pair_counts(ids)
        if not counts:
            break
        pair = max(counts, key=counts.get)  # first maximal key: earliest first occurrence
        ids = merge(ids, pair, FIRST_ID + k)
        merges.append(Merge(pair, FIRST_ID + k, counts[pair], len(ids)))
    return merges


# ----------------------------------------------------------------------------
# Byte-level BPE: incremental pair counts over a linked list.


class _Chain:
    """The sequence as a doubly linked list, with the positions of every pair.

    Positions are indices into the original sequence; merging removes the
    right node of each replaced pair and never reorders, so position order is
    sequence order and min(occ[pair]) is the pair's first occurrence.
    """

    def __init__(self, ids: Sequence[int]):
        n = len(ids)
        self.val = list(ids)
        self.nxt = [*range(1, n), -1]
        self.prv = list(range(-1, n - 1))
        self.length = n
        self.occ: dict[Pair, set[int]] = {}
        for i, pair in enumerate(zip(ids, ids[1:])):
            self.occ.setdefault(pair, set()).add(i)

    def _drop(self, i: int, changed: set[Pair]) -> None:
        pair = (self.val[i], self.val[self.nxt[i]])
        self.occ[pair].discard(i)
        changed.add(pair)

    def _add(self, i: int, changed: set[Pair]) -> None:
        pair = (self.val[i], self.val[self.nxt[i]])
        self.occ.setdefault(pair, set()).add(i)
        changed.add(pair)

    def merge(self, pair: Pair, new_id: int) -> set[Pair]:
        """Replace `pair` by `new_id` left to right; return the pairs whose count changed."""
        a, b = pair
        val, nxt, prv, changed = self.val, self.nxt, self.prv, set()
        for i in sorted(self.occ.get(pair, ())):
            j = nxt[i]
            # An earlier replacement may have used this occurrence up ("aaa").
            if val[i] != a or j < 0 or val[j] != b:
                continue
            p, q = prv[i], nxt[j]
            if p >= 0:
                self._drop(p, changed)
            self._drop(i, changed)
            if q >= 0:
                self._drop(j, changed)
            val[i], val[j] = new_id, -1
            nxt[i] = q
            if q >= 0:
                prv[q] = i
            if p >= 0:
                self._add(p, changed)
            if q >= 0:
                self._add(i, changed)
            self.length -= 1
        for c in changed:
            if not self.occ[c]:
                del self.occ[c]
        return changed

    def ids(self) -> list[int]:
        out, i = [], 0 if self.val else -1
        while i >= 0:
            out.append(self.val[i])
            i = self.nxt[i]
        return out


def _entry(chain: _Chain, pair: Pair) -> tuple[int, int, Pair]:
    """The heap key of a pair: most frequent first, then earliest first occurrence."""
    where = chain.occ[pair]
    return (-len(where), min(where), pair)


def _most_frequent(chain: _Chain, heap: list[tuple[int, int, Pair]]) -> Pair | None:
    """Pop the most frequent pair (ties: earliest first occurrence); None if none is left.

    The heap holds (-count, first position, pair) and may hold stale entries:
    an entry is live while its count is the pair's count and its position is
    still an occurrence. Every change of a pair pushes its exact entry, so a
    live entry at the top is exact: had the first occurrence moved earlier,
    the newer entry would sort above it; had it been removed, it would not be
    live. (Only a stale entry can tie a live one in count and position; the
    pairs then decide the order, which is harmless.)
    """
    while heap:
        count, first, pair = heapq.heappop(heap)
        where = chain.occ.get(pair)
        if where is not None and len(where) == -count and first in where:
            return pair
    return None


def train(data: bytes, num_merges: int) -> list[Merge]:
    """Learn up to `num_merges` merges, keeping the pair counts up to date.

    The same merges as `train_recount` (same counts, same ties), in time
    proportional to the text plus the occurrences each merge replaces or
    touches, instead of the whole text once per merge.
    """
    chain = _Chain(list(data))
    heap = [_entry(chain, p) for p in chain.occ]
    heapq.heapify(heap)
    merges = []
    for k in range(num_merges):
        pair = _most_frequent(chain, heap)
        if pair is None:
            break
        count = len(chain.occ[pair])
        for c in chain.merge(pair, FIRST_ID + k):
            if c in chain.occ:
                heapq.heappush(heap, _entry(chain, c))
        merges.append(Merge(pair, FIRST_ID + k, count, chain.length))
    return merges


# ----------------------------------------------------------------------------
# Using the merges.


def vocab(merges: Iterable[Merge]) -> dict[int, bytes]:
    """The bytes each id stands for: the 256 bytes, then each merge's two halves joined."""
    table = {i: bytes([i]) for i in range(FIRST_ID)}
    for m in merges:
        table[m.new_id] = table[m.pair[0]] + table[m.pair[1]]
    return table


def encode(data: bytes, merges: Sequence[Merge]) -> list[int]:
    """The ids of `data` under the learned merges, as minbpe's encode gives them.

    minbpe repeatedly merges the present pair with the lowest merge index. A
    merge's new id is larger than every id in an earlier merge's pair, so no
    earlier pair can reappear after it: applying the merges once each, in
    order, is the same. Each merge touches only its own occurrences.
    """
    chain = _Chain(list(data))
    for m in merges:
        if m.pair in chain.occ:
            chain.merge(m.pair, m.new_id)
    return chain.ids()


def decode(ids: Iterable[int], merges: Iterable[Merge]) -> bytes:
    """The bytes of `ids` (decode them with errors='replace' to print a partial character)."""
    table = vocab(merges)
    return b"".join(table[i] for i in ids)


# ----------------------------------------------------------------------------
# Rank-based BPE, as tiktoken applies it.


def load_ranks(text: str) -> dict[bytes, int]:
    """Parse a .tiktoken ranks file: one 'base64-token rank' per line."""
    ranks = {}
    for line in text.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def rank_encode_chunk(chunk: bytes, ranks: dict[bytes, int]) -> list[int]:
    """BPE on one chunk by ranks: merge the lowest-ranked adjacent pair (leftmost
    on a tie) until no adjacent pair is in the table; return the parts' ranks."""
    if chunk in ranks:
        return [ranks[chunk]]
    parts = [chunk[i : i + 1] for i in range(len(chunk))]
    none = sys.maxsize  # larger than every rank
    while len(parts) > 1:
        joined = [ranks.get(parts[i] + parts[i + 1], none) for i in range(len(parts) - 1)]
        best = min(range(len(joined)), key=joined.__getitem__)
        if joined[best] == none:
            break
        parts[best : best + 2] = [parts[best] + parts[best + 1]]
    return [ranks[p] for p in parts]


def rank_encode(text: str, ranks: dict[bytes, int], split: Callable[[str], list[str]]) -> list[int]:
    """Ids of `text`: split into chunks (e.g. a compiled pattern's findall), each
    chunk's UTF-8 bytes encoded by ranks."""
    ids = []
    for chunk in split(text):
        ids.extend(rank_encode_chunk(chunk.encode("utf-8"), ranks))
    return ids
