"""`python -m panda.runtime`: the bare runtime, running only the services given with
`--service` (or the config's `services`) and its own control service."""

from .cli import main

main()
