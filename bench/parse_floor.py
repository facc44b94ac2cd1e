"""The parse floor for a listing: start up as glancectl must, then json.load every shard.

What any listing of a sharded JSON store must do at the least, with nothing
but the standard library: the reference process for bench/records.py.

    python3 bench/parse_floor.py STORE_HOME [images|tasks]
"""

import json
import os
import sys

import click  # noqa: F401  (start-up: what every glancectl command imports)
import tinydb  # noqa: F401


def main(argv: list[str]) -> None:
    directory = os.path.join(argv[0], argv[1] if len(argv) > 1 else "images")
    for name in sorted(os.listdir(directory)):
        if name.endswith(".json"):
            with open(os.path.join(directory, name), "rb") as handle:
                json.loads(handle.read())


if __name__ == "__main__":
    main(sys.argv[1:])
