"""The internal records' signature (streams/wire/signing.py) and the key's configuration."""

from __future__ import annotations

import pytest

from streams.config import ConfigError, Settings, settings_from
from streams.wire import SIGNATURE_HEADER, RecordVerifier, sign_record, verify_record

KEY = b"k" * 32
OLD = b"o" * 32
TOPIC = "brandpulse.control"
VALUE = b'{"action":"declare","name":"Storm","start":"2027-01-15T08:00:00Z"}'
NOW = 1_800_000_000.0


def reason(result: object) -> str | None:
    return getattr(getattr(result, "reason", None), "value", None)


def test_a_signed_record_verifies_and_gives_its_signing_time() -> None:
    headers = sign_record(KEY, TOPIC, VALUE, NOW)
    assert [name for name, _ in headers] == [SIGNATURE_HEADER]
    assert verify_record([KEY], TOPIC, headers, VALUE) == NOW
    assert verify_record([KEY], TOPIC, tuple(headers), VALUE) == NOW  # any sequence


def test_the_previous_key_still_verifies_during_a_rotation() -> None:
    headers = sign_record(OLD, TOPIC, VALUE, NOW)
    assert verify_record([KEY, OLD], TOPIC, headers, VALUE) == NOW
    assert reason(verify_record([KEY], TOPIC, headers, VALUE)) == "bad_signature"


@pytest.mark.parametrize("headers", [None, [], [("other", b"x")], "not headers", 42])
def test_no_signature_header_is_unsigned(headers: object) -> None:
    assert reason(verify_record([KEY], TOPIC, headers, VALUE)) == "unsigned"


def test_a_wrong_key_a_tampered_value_or_another_topic_is_a_bad_signature() -> None:
    headers = sign_record(KEY, TOPIC, VALUE, NOW)
    assert reason(verify_record([b"x" * 32], TOPIC, headers, VALUE)) == "bad_signature"
    assert reason(verify_record([KEY], TOPIC, headers, VALUE + b" ")) == "bad_signature"
    assert reason(verify_record([KEY], TOPIC, headers, None)) == "bad_signature"
    # a control record replayed on the shares topic (and the reverse)
    assert reason(verify_record([KEY], "brandpulse.crisis-shares", headers,
                                VALUE)) == "bad_signature"


def test_the_signing_time_is_covered() -> None:
    (name, value), = sign_record(KEY, TOPIC, VALUE, NOW)
    _, ms, mac = value.split(b":")
    moved = b"v1:" + str(int(ms) + 1).encode() + b":" + mac
    assert reason(verify_record([KEY], TOPIC, [(name, moved)], VALUE)) == "bad_signature"


@pytest.mark.parametrize("value", [
    b"", b"v1", b"v1::", b"v2:1:" + b"0" * 64, b"v1:1:" + b"0" * 63, b"v1:1:" + b"G" * 64,
    b"v1:1:" + b"A" * 64,  # upper-case hex is not what a signer writes
    b"v1:" + b"9" * 16 + b":" + b"0" * 64, b"v1:-1:" + b"0" * 64,
    b"v1:1:" + b"0" * 64 + b"\n", b"\x00" * 1_000_000, None, "v1:1:" + "0" * 64, 7,
])
def test_garbage_or_huge_signatures_are_refused_without_raising(value: object) -> None:
    assert reason(verify_record([KEY], TOPIC, [(SIGNATURE_HEADER, value)],
                                VALUE)) == "bad_signature"


def test_two_signature_headers_are_refused() -> None:
    headers = sign_record(KEY, TOPIC, VALUE, NOW)
    assert reason(verify_record([KEY], TOPIC, headers * 2, VALUE)) == "bad_signature"


def test_the_verifier_bounds_replays_and_future_signatures() -> None:
    verifier = RecordVerifier(TOPIC, [KEY], tolerance=300)

    def at(signed_at: float, partition: int = 0) -> str | None:
        return reason(verifier.check(partition, sign_record(KEY, TOPIC, VALUE, signed_at),
                                     VALUE, NOW))

    assert at(NOW - 86400) is None  # the first record of a partition may be old
    assert at(NOW - 3600) is None
    assert at(NOW - 3600 - 299) is None  # skew within the tolerance
    assert at(NOW - 86400) == "replayed"  # written again after newer ones
    assert at(NOW - 86400, partition=1) is None  # partitions are ordered apart
    assert at(NOW + 301) == "future_timestamp"
    assert at(NOW + 299) is None
    assert at(NOW - 3600) == "replayed"  # the newest is now NOW + 299
    assert reason(verifier.check(0, None, VALUE, NOW)) == "unsigned"


def test_without_keys_the_verifier_lets_everything_through() -> None:
    assert RecordVerifier(TOPIC, (), 300).check(0, None, b"anything", NOW) is None


def test_the_key_comes_from_the_environment_and_is_never_shown() -> None:
    key = "s3cret-" * 6
    settings = settings_from({"BRANDPULSE_INTERNAL_KEY": key,
                              "BRANDPULSE_INTERNAL_KEY_PREVIOUS": "p" * 40})
    assert settings.internal_keys == (key.encode(), b"p" * 40)
    assert settings.require_internal_key("the worker") == settings.internal_keys
    assert key not in repr(settings) and "p" * 40 not in repr(settings)


@pytest.mark.parametrize("env", [
    {"BRANDPULSE_INTERNAL_KEY": "hunter2"},
    {"BRANDPULSE_INTERNAL_KEY": ""},
    {"BRANDPULSE_INTERNAL_KEY": "k" * 32, "BRANDPULSE_INTERNAL_KEY_PREVIOUS": "hunter2"},
    {"BRANDPULSE_INTERNAL_KEY_PREVIOUS": "p" * 32},
])
def test_a_bad_key_fails_at_start_naming_the_field_and_the_fix(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"internal_key.*Fix: ") as caught:
        settings_from(env)
    assert "hunter2" not in str(caught.value)  # the key itself is never echoed


def test_a_worker_without_a_key_refuses_to_start_unless_explicitly_unsigned() -> None:
    with pytest.raises(ConfigError, match=r"BRANDPULSE_INTERNAL_KEY.*BRANDPULSE_ALLOW_UNSIGNED"):
        Settings().require_internal_key("the worker")
    unsigned = settings_from({"BRANDPULSE_ALLOW_UNSIGNED": "1"})
    assert unsigned.require_internal_key("the worker") == ()


def test_brandpulse_crisis_signs_what_it_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    from streams.commands import control
    from streams.core.crisis import CommandAction, CrisisCommand, DeclaredCrisis

    sent: list[tuple[str, bytes, list[tuple[str, bytes]]]] = []

    class Producer:
        def send(self, topic: str, key: bytes, value: bytes,
                 headers: list[tuple[str, bytes]]) -> Producer:
            sent.append((topic, value, headers))
            return self

        def get(self, timeout: float) -> None:
            pass

        def close(self, timeout: float) -> None:
            pass

    monkeypatch.setattr(control, "make_producer", lambda *a, **k: Producer())
    settings = settings_from({"BRANDPULSE_INTERNAL_KEY": KEY.decode()})
    control.send_crisis_command(settings, CrisisCommand(
        CommandAction.DECLARE, DeclaredCrisis("Storm", ("storm",), (), None, NOW)))
    (topic, value, headers), = sent
    assert topic == "brandpulse.control"
    assert isinstance(verify_record([KEY], topic, headers, value), float)
    with pytest.raises(ConfigError, match="BRANDPULSE_INTERNAL_KEY"):  # never unsigned
        control.send_crisis_command(Settings(), CrisisCommand(
            CommandAction.DECLARE, DeclaredCrisis("Storm", start=NOW)))
