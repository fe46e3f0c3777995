"""Limits every consumer group obeys: Kafka's group.* and offset.* broker settings, the
`groups:` section of the node config (`--groups-*` flags, `PANDA_GROUPS_*` env).

Owns defaults and units (last in each name); never read from files here: the runtime hands
the section to the coordinator, which gives it to every GroupManager and Group.
"""

from __future__ import annotations

from typing import Annotated

import msgspec


def _doc(text: str, **extra: str) -> msgspec.Meta:
    return msgspec.Meta(description=text, extra=extra or None)


class GroupConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Limits of every group (Kafka's group.* broker settings), units last."""

    session_timeout_ms_min: Annotated[int, _doc(
        "shortest session timeout a member may ask for (Kafka: 6000)")] = 1_000
    session_timeout_ms_max: Annotated[int, _doc(
        "longest session timeout a member may ask for")] = 1_800_000
    initial_rebalance_delay_ms: Annotated[int, _doc(
        "wait for more members before the first rebalance of an empty group (Kafka: 3000)",
    )] = 0
    new_member_join_timeout_ms: Annotated[int, _doc(
        "a new member that never rejoins is dropped after this")] = 300_000
    members_max: Annotated[int, _doc(
        "members one group may have (group.max.size)", unit="members")] = 1_000
    offset_metadata_bytes_max: Annotated[int, _doc(
        "metadata of one committed offset (offset.metadata.max.bytes)")] = 4_096
    offsets_retention_ms: Annotated[int, _doc(
        "committed offsets of an Empty group are kept this long")] = 7 * 24 * 3_600_000
    offsets_retention_check_ms: Annotated[int, _doc(
        "how often expired offsets are looked for")] = 600_000
