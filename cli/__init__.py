"""The `m4d` command line."""
