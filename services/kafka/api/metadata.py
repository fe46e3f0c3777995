"""Metadata and DescribeCluster: this node as the only broker, topics and their partitions."""

from __future__ import annotations

from uuid import UUID

from panda.net.kafka import ErrorCode
from panda.net.kafka.messages import (
    DescribeClusterBroker,
    DescribeClusterResponse,
    MetadataResponse,
    MetadataResponseBroker,
    MetadataResponsePartition,
    MetadataResponseTopic,
)

from .topic_lookup import auto_create, controller, error_for_missing, topic, topic_by_id

CLUSTER_ID = "panda-runtime"


def _describe(info, node: int) -> MetadataResponseTopic:
    """One topic as Metadata lists it: every partition led by this node (one replica)."""
    parts = [MetadataResponsePartition(error_code=0, partition_index=i, leader_id=node,
                                       leader_epoch=0, replica_nodes=[node], isr_nodes=[node])
             for i in range(len(info.shards))]
    return MetadataResponseTopic(error_code=0, name=info.name, topic_id=UUID(hex=info.topic_id),
                                 is_internal=info.internal, partitions=parts)


async def metadata(ctx, header, body) -> MetadataResponse:
    requested = body.topics
    if requested is None or (header.request_api_version == 0 and not requested):
        topics = [_describe(t, ctx.node_id) for t in controller().table.topics.values()
                  if not t.internal]
    else:
        names = [t.name for t in requested if t.name]
        if body.allow_auto_topic_creation or header.request_api_version < 4:
            await auto_create(names, ctx)
        topics = []
        for wanted in requested:
            info = topic(wanted.name) if wanted.name else topic_by_id(wanted.topic_id)
            if info is None:
                topics.append(MetadataResponseTopic(
                    error_code=error_for_missing(wanted.name) if wanted.name
                    else ErrorCode.UNKNOWN_TOPIC_ID, name=wanted.name, topic_id=wanted.topic_id))
            else:
                topics.append(_describe(info, ctx.node_id))
    broker = MetadataResponseBroker(node_id=ctx.node_id, host=ctx.advertised_host,
                                    port=ctx.advertised_port)
    return MetadataResponse(brokers=[broker], cluster_id=CLUSTER_ID, controller_id=ctx.node_id,
                            topics=topics)


async def describe_cluster(ctx, header, body) -> DescribeClusterResponse:
    broker = DescribeClusterBroker(broker_id=ctx.node_id, host=ctx.advertised_host,
                                   port=ctx.advertised_port)
    return DescribeClusterResponse(error_code=0, cluster_id=CLUSTER_ID,
                                   controller_id=ctx.node_id, brokers=[broker])
