"""`make chaos` (`python -m bench.chaos`): Rayline's load-and-fault suite; see `__main__`."""
