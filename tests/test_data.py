"""The shipped corpus is the file data/README.md describes, byte for byte."""

import hashlib

from conftest import ROOT

MACBETH = ROOT / "data" / "macbeth.txt"
SHA256 = "54e1d8055ffa2aec7e831ec43044dd646cacdfce5bf333fa81e6af9c0363c3b7"


def test_macbeth_checksum_and_size():
    data = MACBETH.read_bytes()
    assert len(data) == 103_427
    assert hashlib.sha256(data).hexdigest() == SHA256


def test_readme_states_the_same_checksum():
    assert SHA256 in (ROOT / "data" / "README.md").read_text()


def test_macbeth_is_plain_ascii():
    assert max(MACBETH.read_bytes()) < 128


HAMLET = ROOT / "data" / "hamlet.txt"
HAMLET_SHA256 = "bbe5635616c6e0e0bcf01b7b8c324be8b42451c51848f11c283bd2f4442b1e0a"


def test_hamlet_checksum_size_and_readme():
    data = HAMLET.read_bytes()
    assert len(data) == 173_942 and max(data) < 128
    assert hashlib.sha256(data).hexdigest() == HAMLET_SHA256
    assert HAMLET_SHA256 in (ROOT / "data" / "README.md").read_text()


def test_hamlet_adds_only_two_digits_to_macbeths_characters():
    assert set(HAMLET.read_text()) - set(MACBETH.read_text()) == {"1", "2"}
