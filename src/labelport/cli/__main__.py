"""`python -m labelport.cli`: the `labelport` command."""

from labelport.cli.commands import main

main()
