"""The ``margin`` command line (Typer). Thin: parsing, progress and printing only."""
