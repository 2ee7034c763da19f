"""Every byte format of brandpulse, in one place: what goes on a topic or in a table.

    events    input records (social events; scheduled and withdrawn posts on the
              brand-posts topic) and dead-letter records
    control   operator crisis commands (control topic)
    shares    per-worker audience counts for the global crisis scope (crisis-shares topic)
    signing   the HMAC header that internal records (control, crisis shares) carry
    state     the worker's state rows (changelog of the `sla-state` table)
    alerts    tone-deaf post alerts (alerts topic)
    check     the pre-publish check's request and answer (POST /api/check); the
              decision is streams.core.check's

Decoders never raise and never run code: a bad record is a `Rejection` with a bounded
reason. Import from `streams.wire`; the submodules are its sections.
"""

from streams.wire.alerts import tone_deaf_alert
from streams.wire.check import CheckError, parse_draft, result_to_json
from streams.wire.control import (
    MAX_CONTROL_BYTES,
    MAX_CONTROL_FUTURE_SECONDS,
    MAX_CONTROL_PAST_SECONDS,
    MAX_CRISIS_NAME_CHARS,
    MAX_CRISIS_TERM_CHARS,
    MAX_CRISIS_TERMS,
    decode_crisis_command,
    encode_crisis_command,
)
from streams.wire.events import (
    dead_letter_record,
    decode_event,
    decode_input,
    encode_event,
    encode_record,
    event_from_dict,
    event_to_dict,
    format_rfc3339,
    json_number,
    load_record,
    parse_rfc3339,
    record_side,
    schedule_from_dict,
    schedule_to_dict,
    status_from_dict,
    status_to_dict,
)
from streams.wire.shares import (
    CRISIS_RETENTION_SECONDS,
    MAX_BUCKET_MESSAGES,
    MAX_CRISIS_SHARE_BYTES,
    MAX_SOURCE_CHARS,
    decode_crisis_share,
    encode_crisis_share,
)
from streams.wire.signing import (
    SIGNATURE_HEADER,
    RecordVerifier,
    sign_record,
    verify_record,
)
from streams.wire.state import (
    KEY_SEPARATOR,
    MARKER_PREFIX,
    MAX_STATE_VALUE_BYTES,
    STATE_VERSION,
    MarkerKind,
    StateRow,
    decode_marker,
    decode_state,
    decode_state_record,
    encode_marker,
    encode_state_key,
    encode_state_value,
    read_txn,
    state_key_brand,
)

__all__ = [
    "CRISIS_RETENTION_SECONDS",
    "KEY_SEPARATOR",
    "MARKER_PREFIX",
    "MAX_BUCKET_MESSAGES",
    "MAX_CONTROL_BYTES",
    "MAX_CONTROL_FUTURE_SECONDS",
    "MAX_CONTROL_PAST_SECONDS",
    "MAX_CRISIS_NAME_CHARS",
    "MAX_CRISIS_SHARE_BYTES",
    "MAX_CRISIS_TERMS",
    "MAX_CRISIS_TERM_CHARS",
    "MAX_SOURCE_CHARS",
    "MAX_STATE_VALUE_BYTES",
    "SIGNATURE_HEADER",
    "STATE_VERSION",
    "CheckError",
    "MarkerKind",
    "RecordVerifier",
    "StateRow",
    "dead_letter_record",
    "decode_crisis_command",
    "decode_crisis_share",
    "decode_event",
    "decode_input",
    "decode_marker",
    "decode_state",
    "decode_state_record",
    "encode_crisis_command",
    "encode_crisis_share",
    "encode_event",
    "encode_marker",
    "encode_record",
    "encode_state_key",
    "encode_state_value",
    "event_from_dict",
    "event_to_dict",
    "format_rfc3339",
    "json_number",
    "load_record",
    "parse_draft",
    "parse_rfc3339",
    "read_txn",
    "record_side",
    "result_to_json",
    "schedule_from_dict",
    "schedule_to_dict",
    "sign_record",
    "state_key_brand",
    "status_from_dict",
    "status_to_dict",
    "tone_deaf_alert",
    "verify_record",
]
