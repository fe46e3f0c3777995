"""`python -m panda.runtime` is `panda-runtime`."""

from .cli import main

main()
