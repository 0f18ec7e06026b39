import sys

from audiorole_dagster.cli import main

sys.exit(main(["demo", *sys.argv[1:]]))
