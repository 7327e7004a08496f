#!/usr/bin/env python3
"""check_doc_paths.py - every source file README.md and the reference docs name exists.

A name in backquotes that ends in .c, .h, .sh, .py, .proto or .md (or a
directory ending in / whose first part is a top-level directory) must exist, either as written (relative to the
source root) or, for a bare file name in a table row that names its
directory elsewhere, under one of the source directories. Prints one line
per missing name and exits 1 when any is missing.

Usage: check_doc_paths.py SOURCE_ROOT
"""
import os
import re
import sys

DOCS = ["README.md", "docs/architecture.md", "docs/storage-format.md", "docs/api.md"]
DIRS = [".", "mds", "mds/feed", "mds/auth", "gateway-plugin", "chaos", "docs",
        "include/mds", "include/mds/v1", "tests", "tests/integration", "tools"]
NAME = re.compile(r"`([A-Za-z0-9_./-]+\.(?:c|h|sh|py|proto|md)|[A-Za-z0-9_.-]+/(?:[A-Za-z0-9_.-]+/)*)`")


def exists(root, name):
    if "*" in name:
        return True
    if os.path.exists(os.path.join(root, name)):
        return True
    return any(os.path.exists(os.path.join(root, d, name)) for d in DIRS)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    missing = []
    n = 0
    top = set(os.listdir(root))
    for doc in DOCS:
        with open(os.path.join(root, doc), encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                for m in NAME.finditer(line):
                    name = m.group(1)
                    if name.startswith(("DATA/", "var/", "./", "feed/")) or name == "v1/":
                        continue  # runtime paths, not source files
                    if name.endswith("/") and not name.split("/")[0] in top:
                        continue  # a prefix such as `a/`, not a directory of ours
                    n += 1
                    if not exists(root, name):
                        missing.append(f"{doc}:{lineno}: '{name}' does not exist")
    for line in missing:
        print(line)
    if missing:
        return 1
    print(f"{n} file names in {len(DOCS)} documents, all present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
