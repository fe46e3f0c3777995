"""Reads the embedded consumer protocol (ConsumerProtocolSubscription) that members of a
`consumer` group carry as JoinGroup metadata.

Owns only decoding, and never raises on foreign bytes: an unreadable subscription is an empty
one (the group still works; only OffsetDelete's subscription check sees less).
"""

from __future__ import annotations

import struct

from panda.net.kafka import CodecError, decode_body

_VERSION = struct.Struct(">h")
_VERSION_MAX = 3  # newer versions append fields, so they read as the newest one we know


def subscription_topics(metadata: bytes) -> set[str]:
    """Topic names a consumer subscribes to, from its JoinGroup protocol metadata."""
    if len(metadata) < _VERSION.size:
        return set()
    (version,) = _VERSION.unpack_from(metadata)
    if version < 0:
        return set()
    try:
        subscription, _end = decode_body("ConsumerProtocolSubscription",
                                         min(version, _VERSION_MAX), metadata, _VERSION.size)
    except CodecError:
        return set()
    return set(subscription.topics)
