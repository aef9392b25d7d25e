"""`python -m m4d.cli`: the same as the `m4d` command."""

from m4d.cli.main import main

main()
