"""The ``offering-sync`` commands, one module per command or group; ``cli.py`` assembles them.

Each module holds plain functions with typer annotations, so registering one is a single line in
``cli.py``. Shared pieces: ``output`` (what the user sees), ``inputs`` (what the user typed),
``progress`` (the live line on a terminal).
"""
