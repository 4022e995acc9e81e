"""`python -m labelport.cli`: the `labelport` command."""

from labelport.cli.app import main

main()
