"""Must-accept and must-reject tables for modified UTF-7 (after Dovecot's test-imap-utf7.c)."""

from __future__ import annotations

import pytest

from mailstore.errors import Kind, MailstoreError
from mailstore.mutf7 import decode_mutf7, encode_mutf7, is_valid_mutf7

# (UTF-8 name, canonical mUTF-7 spelling)
ROUND_TRIP = [
    ("", ""),
    ("INBOX", "INBOX"),
    ("Sent Items", "Sent Items"),
    ("a.b/c~d-e", "a.b/c~d-e"),
    ("&", "&-"),
    ("&&", "&-&-"),
    ("Tom & Jerry", "Tom &- Jerry"),
    ("Entwürfe", "Entw&APw-rfe"),
    ("ä", "&AOQ-"),
    ("ää", "&AOQA5A-"),
    ("ä&ä", "&AOQ-&-&AOQ-"),
    ("äx", "&AOQ-x"),
    ("ä-", "&AOQ--"),
    ("Черновики", "&BCcENQRABD0EPgQyBDgEOgQ4-"),
    ("日本語", "&ZeVnLIqe-"),
    ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
    ("😀", "&2D3eAA-"),
    ("a😀b", "a&2D3eAA-b"),
    ("😀😀", "&2D3eANg93gA-"),
    ("tab\there", "tab&AAk-here"),
    ("del\x7f", "del&AH8-"),
    ("\u00a0", "&AKA-"),
    ("\uffff", "&,,8-"),
]


@pytest.mark.parametrize(("name", "encoded"), ROUND_TRIP)
def test_encode(name: str, encoded: str) -> None:
    assert encode_mutf7(name) == encoded


@pytest.mark.parametrize(("name", "encoded"), ROUND_TRIP)
def test_decode(name: str, encoded: str) -> None:
    assert decode_mutf7(encoded) == name
    assert is_valid_mutf7(encoded)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("&", "not terminated"),
        ("a&", "not terminated"),
        ("&AOQ", "not terminated"),
        ("&Jjo!", "not terminated"),
        ("&U,BTFw", "not terminated"),
        ("&A-", "truncated"),
        ("&AOQAA-", "truncated"),
        ("&AA-", "odd number"),
        ("&AO-", "padding"),
        ("&AOQA-", "odd number"),
        ("&AOR-", "padding"),
        ("&AOX-", "padding"),
        ("&2D3eAB-", "padding"),
        ("&AGE-", "printable ASCII"),
        ("&ACY-", "printable ASCII"),
        ("&AH4-", "printable ASCII"),
        ("&AOQAYQ-", "printable ASCII"),
        ("&AAA-", "NUL"),
        ("&2D0-", "unpaired high"),
        ("&2D0AYQ-", "unpaired high"),
        ("&2D3YPQ-", "unpaired high"),
        ("&3gA-", "unpaired low"),
        ("&AOTeAA-", "unpaired low"),
        ("&AOQ-&AOQ-", "back to back"),
        ("&U,BTFw-&ZeVnLIqe-", "back to back"),
        ("&AOQ/-", "not a modified-base64"),
        ("&AOQ=-", "not a modified-base64"),
        ("&&-", "not a modified-base64"),
        ("&A Q-", "not a modified-base64"),
        ("a\tb", "not printable"),
        ("a\x00b", "not printable"),
        ("a\x7fb", "not printable"),
        ("Entwürfe", "not printable"),
        ("日本語", "not printable"),
    ],
)
def test_decode_rejects(text: str, reason: str) -> None:
    with pytest.raises(MailstoreError) as info:
        decode_mutf7(text)
    assert info.value.kind is Kind.INVALIDDATA
    message = str(info.value)
    assert repr(text) in message
    assert reason in message
    assert not is_valid_mutf7(text)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("a\x00b", "NUL"),
        ("bad\ud800", "lone surrogate"),
        ("\udc80", "lone surrogate"),
    ],
)
def test_encode_rejects(name: str, reason: str) -> None:
    with pytest.raises(MailstoreError) as info:
        encode_mutf7(name)
    assert info.value.kind is Kind.INVALIDDATA
    assert reason in str(info.value)


def test_every_bmp_and_astral_sample_round_trips() -> None:
    samples = [chr(c) for c in range(1, 0xD800, 97)] + [
        chr(c) for c in range(0xE000, 0x110000, 4099)
    ]
    name = "".join(samples)
    encoded = encode_mutf7(name)
    assert all(0x20 <= ord(c) <= 0x7E for c in encoded)
    assert decode_mutf7(encoded) == name
