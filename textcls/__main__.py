"""`python -m textcls ...` runs the command line (as `torchrun -m textcls` needs)."""

from textcls.cli import main

main()
