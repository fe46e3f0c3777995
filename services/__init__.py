"""panda.services: the services of the product (admin API, controller, Kafka broker, consumer
groups, examples) and `launcher.py`, the `panda-runtime` entry point that names the ones a
node runs by default. Services import runtime/, storage/ and net/; no layer below imports them."""
