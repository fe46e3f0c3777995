"""Typed errors of the Kafka wire codecs: the only exceptions decode and encode raise.

Hierarchy::

    CodecError                 base of every codec failure
    ├── ProtocolError          bytes from the wire do not parse (truncated, bad length,
    │                          bad varint, invalid UTF-8, unknown api key or version)
    └── EncodeError            a message object cannot be written at the requested version

Never raised for programmer bugs inside the codecs; those stay loud (AssertionError).
"""

from __future__ import annotations


class CodecError(Exception):
    """Base of the codec errors; carries api key, version and byte offset when known."""

    def __init__(
        self,
        reason: str,
        *,
        api_key: int | None = None,
        version: int | None = None,
        offset: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.api_key = api_key
        self.version = version
        self.offset = offset

    def locate(self, api_key: int | None, version: int | None) -> None:
        """Fill in the message coordinates if the raiser did not know them."""
        if self.api_key is None:
            self.api_key = api_key
        if self.version is None:
            self.version = version

    def __str__(self) -> str:
        where = []
        if self.api_key is not None:
            where.append(f"api_key={self.api_key}")
        if self.version is not None:
            where.append(f"version={self.version}")
        if self.offset is not None:
            where.append(f"offset={self.offset}")
        return f"{self.reason} ({', '.join(where)})" if where else self.reason

    def __reduce__(self):  # keep the keyword arguments across pickling (cross-shard errors)
        return (_rebuild, (type(self), self.reason, self.api_key, self.version, self.offset))


def _rebuild(cls, reason, api_key, version, offset):
    return cls(reason, api_key=api_key, version=version, offset=offset)


class ProtocolError(CodecError):
    """Malformed or unsupported input on decode; maps to Kafka CORRUPT_MESSAGE or
    UNSUPPORTED_VERSION at the service edge."""

    retriable = False


class EncodeError(CodecError):
    """A message object holds a value its version cannot carry (None where not nullable,
    integer out of range, wrong type)."""

    retriable = False
