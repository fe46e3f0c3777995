"""Message classes by spec name, loaded lazily: `messages.FetchRequest`, and the nested structs
services build responses from (`messages.PartitionData`); `messages.module("FetchRequest")`
holds every nested struct of a message.

Owns name lookup only; importing this module loads no generated code (a class's module loads
on first use). The one way into the generated codecs outside net/kafka: services import from
here (`from panda.net.kafka.messages import FetchResponse, PartitionData`), never `_generated`.
"""

# ruff: noqa: F401 - the TYPE_CHECKING imports are this module's public names

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from panda.net.kafka.registry import MODULES, codec

# The imports below are re-exports for static tools (mypy, IDEs): at run time __getattr__
# loads each class on first use. tests/kafka/test_broker_messages.py checks both agree.
if TYPE_CHECKING:
    from panda.net.kafka._generated.alter_configs_response import (
        AlterConfigsResourceResponse,
        AlterConfigsResponse,
    )
    from panda.net.kafka._generated.api_versions_response import ApiVersion, ApiVersionsResponse
    from panda.net.kafka._generated.create_partitions_response import (
        CreatePartitionsResponse,
        CreatePartitionsTopicResult,
    )
    from panda.net.kafka._generated.create_topics_response import (
        CreatableTopicConfigs,
        CreatableTopicResult,
        CreateTopicsResponse,
    )
    from panda.net.kafka._generated.delete_groups_response import (
        DeletableGroupResult,
        DeleteGroupsResponse,
    )
    from panda.net.kafka._generated.delete_records_response import (
        DeleteRecordsPartitionResult,
        DeleteRecordsResponse,
        DeleteRecordsTopicResult,
    )
    from panda.net.kafka._generated.delete_topics_response import (
        DeletableTopicResult,
        DeleteTopicsResponse,
    )
    from panda.net.kafka._generated.describe_cluster_response import (
        DescribeClusterBroker,
        DescribeClusterResponse,
    )
    from panda.net.kafka._generated.describe_configs_response import (
        DescribeConfigsResourceResult,
        DescribeConfigsResponse,
        DescribeConfigsResult,
    )
    from panda.net.kafka._generated.describe_groups_response import (
        DescribedGroup,
        DescribedGroupMember,
        DescribeGroupsResponse,
    )
    from panda.net.kafka._generated.describe_log_dirs_response import (
        DescribeLogDirsPartition,
        DescribeLogDirsResponse,
        DescribeLogDirsResult,
        DescribeLogDirsTopic,
    )
    from panda.net.kafka._generated.fetch_response import (
        FetchableTopicResponse,
        FetchResponse,
        PartitionData,
    )
    from panda.net.kafka._generated.find_coordinator_response import (
        Coordinator,
        FindCoordinatorResponse,
    )
    from panda.net.kafka._generated.heartbeat_response import HeartbeatResponse
    from panda.net.kafka._generated.incremental_alter_configs_response import (
        AlterConfigsResourceResponse as IncrementalAlterConfigsResourceResponse,
    )
    from panda.net.kafka._generated.incremental_alter_configs_response import (
        IncrementalAlterConfigsResponse,
    )
    from panda.net.kafka._generated.init_producer_id_response import InitProducerIdResponse
    from panda.net.kafka._generated.join_group_response import (
        JoinGroupResponse,
        JoinGroupResponseMember,
    )
    from panda.net.kafka._generated.leave_group_response import LeaveGroupResponse, MemberResponse
    from panda.net.kafka._generated.list_groups_response import ListedGroup, ListGroupsResponse
    from panda.net.kafka._generated.list_offsets_response import (
        ListOffsetsPartitionResponse,
        ListOffsetsResponse,
        ListOffsetsTopicResponse,
    )
    from panda.net.kafka._generated.metadata_response import (
        MetadataResponse,
        MetadataResponseBroker,
        MetadataResponsePartition,
        MetadataResponseTopic,
    )
    from panda.net.kafka._generated.offset_commit_response import (
        OffsetCommitResponse,
        OffsetCommitResponsePartition,
        OffsetCommitResponseTopic,
    )
    from panda.net.kafka._generated.offset_delete_response import (
        OffsetDeleteResponse,
        OffsetDeleteResponsePartition,
        OffsetDeleteResponseTopic,
    )
    from panda.net.kafka._generated.offset_fetch_response import (
        OffsetFetchResponse,
        OffsetFetchResponseGroup,
        OffsetFetchResponsePartition,
        OffsetFetchResponsePartitions,
        OffsetFetchResponseTopic,
        OffsetFetchResponseTopics,
    )
    from panda.net.kafka._generated.offset_for_leader_epoch_response import (
        EpochEndOffset,
        OffsetForLeaderEpochResponse,
        OffsetForLeaderTopicResult,
    )
    from panda.net.kafka._generated.produce_response import (
        PartitionProduceResponse,
        ProduceResponse,
        TopicProduceResponse,
    )
    from panda.net.kafka._generated.sync_group_response import SyncGroupResponse

# Nested structs by public name: (the message whose module defines it, its name there). A
# name two messages share is published under a longer one (IncrementalAlterConfigs...).
NESTED: dict[str, tuple[str, str]] = {
    name: (message, name) for message, names in {
        "AlterConfigsResponse": ("AlterConfigsResourceResponse",),
        "ApiVersionsResponse": ("ApiVersion",),
        "CreatePartitionsResponse": ("CreatePartitionsTopicResult",),
        "CreateTopicsResponse": ("CreatableTopicConfigs", "CreatableTopicResult"),
        "DeleteGroupsResponse": ("DeletableGroupResult",),
        "DeleteRecordsResponse": ("DeleteRecordsPartitionResult", "DeleteRecordsTopicResult"),
        "DeleteTopicsResponse": ("DeletableTopicResult",),
        "DescribeClusterResponse": ("DescribeClusterBroker",),
        "DescribeConfigsResponse": ("DescribeConfigsResourceResult", "DescribeConfigsResult"),
        "DescribeGroupsResponse": ("DescribedGroup", "DescribedGroupMember"),
        "DescribeLogDirsResponse": ("DescribeLogDirsPartition", "DescribeLogDirsResult",
                                    "DescribeLogDirsTopic"),
        "FetchResponse": ("FetchableTopicResponse", "PartitionData"),
        "FindCoordinatorResponse": ("Coordinator",),
        "JoinGroupResponse": ("JoinGroupResponseMember",),
        "LeaveGroupResponse": ("MemberResponse",),
        "ListGroupsResponse": ("ListedGroup",),
        "ListOffsetsResponse": ("ListOffsetsPartitionResponse", "ListOffsetsTopicResponse"),
        "MetadataResponse": ("MetadataResponseBroker", "MetadataResponsePartition",
                             "MetadataResponseTopic"),
        "OffsetCommitResponse": ("OffsetCommitResponsePartition", "OffsetCommitResponseTopic"),
        "OffsetDeleteResponse": ("OffsetDeleteResponsePartition", "OffsetDeleteResponseTopic"),
        "OffsetFetchResponse": ("OffsetFetchResponseGroup", "OffsetFetchResponsePartition",
                                "OffsetFetchResponsePartitions", "OffsetFetchResponseTopic",
                                "OffsetFetchResponseTopics"),
        "OffsetForLeaderEpochResponse": ("EpochEndOffset", "OffsetForLeaderTopicResult"),
        "ProduceResponse": ("PartitionProduceResponse", "TopicProduceResponse"),
    }.items() for name in names
}
NESTED["IncrementalAlterConfigsResourceResponse"] = (
    "IncrementalAlterConfigsResponse", "AlterConfigsResourceResponse")


def module(name: str) -> ModuleType:
    """The generated module of a message (holds its nested struct classes and SCHEMA)."""
    return codec(name).module


def names() -> list[str]:
    return sorted(MODULES)


def __getattr__(name: str) -> type:
    if name in MODULES:
        return codec(name).message
    found = NESTED.get(name)
    if found is not None:
        return getattr(module(found[0]), found[1])
    raise AttributeError(f"no Kafka message named {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(MODULES) | set(NESTED))
