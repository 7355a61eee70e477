"""``python -m margin``: the CLI, for when the ``margin`` script is not on the path (the
demo's learning loop drives its world this way, with the same interpreter)."""

from margin.cli.main import run

if __name__ == "__main__":
    run()
