"""Summarise a py-spy ``--format raw`` profile (collapsed stacks): where the samples fall.

    python bench/profile_summary.py PROFILE.txt [--top 25] [--match TEXT]

Prints the share of samples spent *inside* (inclusive) each frame and the share spent in each
frame itself (self), so a reader can see which layer (middleware, dependency, SQLAlchemy,
asyncpg, JSON, logging) the time goes to.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="", help="only frames whose text contains this")
    args = parser.parse_args()
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in args.profile.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    print(f"{total} samples")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"-- {title}")
        shown = 0
        for frame, count in counter.most_common():
            if args.match and args.match not in frame:
                continue
            print(f"{count / total:6.1%}  {frame[:150]}")
            shown += 1
            if shown >= args.top:
                break


if __name__ == "__main__":
    main()
