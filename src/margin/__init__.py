"""margin."""
