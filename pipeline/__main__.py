"""``python -m pipeline`` is the ``mailbeam`` command."""

from pipeline.cli import main

main()
