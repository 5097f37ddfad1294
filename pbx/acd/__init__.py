"""Automatic call distribution: queues, strategies and agent states as pure, deterministic Python.

Nothing here performs I/O, reads the clock or draws unseeded randomness: time comes in as
`now` (aware UTC), randomness as an injected `random.Random`, and every decision comes back as
commands (see `pbx.acd.commands`) for an adapter to carry out. All state round-trips through
`to_dict`/`from_dict` so a persistence layer can keep it where a restart does not lose it.
"""
