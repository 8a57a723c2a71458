"""Print the features two caldav-server-tester reports grade differently.

Usage: python compare.py BASELINE.txt OTHER.txt
Each file is what run-tester.sh writes; its first Python dict (the
``--format hints`` part) is read.
"""

import ast
import sys


def features(path):
    text = open(path, encoding="utf-8").read()
    start = text.index("{")
    depth = 0
    for end, char in enumerate(text[start:], start):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return ast.literal_eval(text[start:end + 1])
    raise ValueError(f"{path}: no feature list")


def grade(info):
    return info.get("support", info.get("value")) if info else None


def main(baseline, other):
    a, b = features(baseline), features(other)
    print(f"{'feature':48} {'baseline':12} other")
    for name in sorted(set(a) | set(b)):
        if grade(a.get(name)) != grade(b.get(name)):
            print(f"{name:48} {grade(a.get(name))!s:12} {grade(b.get(name))}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
