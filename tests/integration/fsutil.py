"""Small helpers the mounted tests share: walking a tree, waiting for a change."""

import os
import time


# The views over the id tree (test_views.py checks them), and the README's
# backup, which leaves them out.
VIEWS = ("vault", "memories.jsonl", "action-items.jsonl", "conversations.jsonl", "goals.jsonl")
BACKUP_EXCLUDES = ["--exclude=/.omifs/", "--exclude=/vault/", "--exclude=/*.jsonl"]


def files_under(root, views=False):
    """Maps each file's path relative to root to its full path; the views
    at the top of root are left out unless views is true."""
    found = {}
    for dirpath, dirs, names in os.walk(root):
        if dirpath == root and not views:
            dirs[:] = [d for d in dirs if d not in VIEWS]
            names = [n for n in names if n not in VIEWS]
        for name in names:
            full = os.path.join(dirpath, name)
            found[os.path.relpath(full, root)] = full
    return found


def tree_bytes(root):
    """Every file's bytes, except .omifs/'s (which change by themselves)."""
    out = {}
    for rel, full in files_under(root).items():
        if not rel.startswith(".omifs/"):
            with open(full, "rb") as f:
                out[rel] = f.read()
    return out


def wait_for(condition, timeout=20):
    """Polls condition until it holds; fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the change did not show in time"
        time.sleep(0.2)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()
