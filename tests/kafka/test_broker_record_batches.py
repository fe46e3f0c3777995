"""Record batches as confluent-kafka (librdkafka) writes them, captured through the broker.

The broker stores a client's batches byte for byte, so fetching them back over a raw socket
captures exactly what librdkafka sent; our v2 parser must read every one of them, in every
compression, with the keys, values, headers and timestamps the client gave.
"""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from panda.storage import record_batch as rb

from .conftest import KafkaWire, create_topic, fetch_body, unique_topic

FETCH_V = 12
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
COUNT = 50


@pytest.mark.parametrize("codec", CODECS)
def test_librdkafka_batches_decode_with_our_parser(module_broker, codec):
    topic = unique_topic(f"rb-{codec}")
    with KafkaWire(module_broker.kafka_addr) as wire:
        assert create_topic(wire, topic, 1) == 0
        producer = Producer({"bootstrap.servers": module_broker.kafka_addr, "acks": "all",
                             "compression.type": codec, "linger.ms": 20})
        for i in range(COUNT):
            key = None if i % 7 == 0 else f"key-{i}".encode()
            producer.produce(topic, key=key, value=f"value-{i}".encode() * (i % 5 + 1),
                             headers=[("h", f"{i}".encode()), ("empty", None)],
                             timestamp=1_700_000_000_000 + i)
        assert producer.flush(15) == 0
        response = wire.request(1, FETCH_V, fetch_body(topic, 0, 0, max_wait_ms=1000))
    data = bytes(response.responses[0].partitions[0].records)
    records, compressions = [], set()
    for offset, header in rb.iter_batches(data, check_crc=True, strict=True):
        compressions.add(header.compression)
        records.extend(rb.decode_records(data, offset))
    expected = rb.Compression[codec.upper()] if codec != "none" else rb.Compression.NONE
    # librdkafka sends a batch uncompressed when compressing would not make it smaller
    assert expected in compressions and compressions <= {expected, rb.Compression.NONE}
    assert [r.offset for r in records] == list(range(COUNT))
    for i, record in enumerate(records):
        assert record.key == (None if i % 7 == 0 else f"key-{i}".encode())
        assert record.value == f"value-{i}".encode() * (i % 5 + 1)
        assert record.timestamp == 1_700_000_000_000 + i
        assert list(record.headers) == [("h", f"{i}".encode()), ("empty", None)]
