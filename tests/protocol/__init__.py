"""Kafka wire protocol codec tests."""
