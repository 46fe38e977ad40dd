"""Envelope encryption, attacked: every flipped byte, truncation and swapped binding must fail."""

from __future__ import annotations

import dataclasses
import os

import pytest

from satchel.errors import IntegrityError, PrivacyError
from satchel.privacy import Binding, SubjectKey, open_sealed, seal
from satchel.privacy.envelope import OVERHEAD

A, B = "a" * 32, "b" * 32


@pytest.fixture
def key_a() -> SubjectKey:
    return SubjectKey(A, os.urandom(32))


@pytest.fixture
def key_b() -> SubjectKey:
    return SubjectKey(B, os.urandom(32))


def binding(subject: str = A, **changes: object) -> Binding:
    return dataclasses.replace(Binding("quizapp", subject, "habit", "checkpoint", 3), **changes)


@pytest.mark.parametrize("size", [0, 1, 4096, 1 << 20])
def test_round_trip(key_a: SubjectKey, size: int) -> None:
    plaintext = os.urandom(size)
    blob = seal(plaintext, key_a, binding())
    assert len(blob) == size + OVERHEAD
    assert open_sealed(blob, key_a, binding()) == plaintext


def test_fresh_data_key_and_nonce_every_time(key_a: SubjectKey) -> None:
    blobs = {seal(b"same", key_a, binding()) for _ in range(50)}
    assert len(blobs) == 50
    assert b"same" not in b"".join(blobs)


def test_every_flipped_byte_fails(key_a: SubjectKey) -> None:
    blob = seal(b"x" * 64, key_a, binding())
    for position in range(len(blob)):
        for mask in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[position] ^= mask
            with pytest.raises(IntegrityError):
                open_sealed(bytes(tampered), key_a, binding())


def test_every_truncation_and_extension_fails(key_a: SubjectKey) -> None:
    blob = seal(b"x" * 64, key_a, binding())
    for length in range(len(blob)):
        with pytest.raises(IntegrityError):
            open_sealed(blob[:length], key_a, binding())
    for tail in (b"\x00", b"extra bytes"):
        with pytest.raises(IntegrityError):
            open_sealed(blob + tail, key_a, binding())


@pytest.mark.parametrize(
    "changes",
    [
        {"app_id": "otherapp"},
        {"pipeline": "language"},
        {"kind": "events"},
        {"version": 2},
        {"version": 4},
        {"pipeline": ""},
    ],
    ids=lambda c: next(iter(c)),
)
def test_wrong_binding_fails(key_a: SubjectKey, changes: dict) -> None:
    blob = seal(b"weights", key_a, binding())
    with pytest.raises(IntegrityError, match="failed authentication"):
        open_sealed(blob, key_a, binding(**changes))


def test_blob_swapped_between_subjects_fails(key_a: SubjectKey, key_b: SubjectKey) -> None:
    blob_a = seal(b"alice's weights", key_a, binding(A))
    with pytest.raises(IntegrityError, match="another learner"):
        open_sealed(blob_a, key_b, binding(B))


def test_key_id_forged_to_match_still_fails(key_a: SubjectKey, key_b: SubjectKey) -> None:
    blob = bytearray(seal(b"alice's weights", key_a, binding(A)))
    blob[5:13] = bytes.fromhex(key_b.key_id)  # the header now names B's key
    with pytest.raises(IntegrityError, match="failed authentication"):
        open_sealed(bytes(blob), key_b, binding(B))


def test_same_key_different_subject_binding_is_refused(key_a: SubjectKey) -> None:
    with pytest.raises(PrivacyError, match="key of subject"):
        seal(b"x", key_a, binding(B))
    with pytest.raises(PrivacyError, match="key of subject"):
        open_sealed(seal(b"x", key_a, binding(A)), key_a, binding(B))


def test_wrong_key_same_subject_fails(key_a: SubjectKey) -> None:
    blob = seal(b"x", key_a, binding())
    with pytest.raises(IntegrityError):
        open_sealed(blob, SubjectKey(A, os.urandom(32)), binding())


def test_error_messages_say_where(key_a: SubjectKey) -> None:
    with pytest.raises(IntegrityError) as caught:
        open_sealed(b"STCH\x01" + b"\x00" * 200, key_a, binding())
    assert "quizapp/" + A + "/habit/checkpoint@v3" in str(caught.value)
    with pytest.raises(IntegrityError, match="bad magic"):
        open_sealed(b"GIF89a" + b"\x00" * 200, key_a, binding())
    with pytest.raises(IntegrityError, match="format version 2"):
        open_sealed(b"STCH\x02" + b"\x00" * 200, key_a, binding())


def test_binding_and_key_validation() -> None:
    for bad in (
        {"app_id": ""},
        {"subject": ""},
        {"kind": ""},
        {"version": -1},
        {"version": 2**63},
        {"version": True},
        {"version": 1.0},
    ):
        with pytest.raises(ValueError):
            binding(**bad)
    with pytest.raises(ValueError, match="32 bytes"):
        SubjectKey(A, b"short")
    with pytest.raises(ValueError, match="does not match"):
        SubjectKey(A, os.urandom(32), key_id="0" * 16)


def test_secret_is_not_in_repr(key_a: SubjectKey) -> None:
    assert key_a.secret.hex() not in repr(key_a) and "secret" not in repr(key_a)
