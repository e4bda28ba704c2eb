"""scripts/check-layers: passes on the repository, and fails, saying why,
on a copy of it that breaks each rule ARCHITECTURE.md states."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check-layers"


@pytest.fixture
def copy(tmp_path):
    """A copy of src/ and ARCHITECTURE.md that a test may break."""
    shutil.copytree(ROOT / "src", tmp_path / "src")
    shutil.copy(ROOT / "ARCHITECTURE.md", tmp_path / "ARCHITECTURE.md")
    return tmp_path


def run(root):
    return subprocess.run([sys.executable, str(SCRIPT), str(root)], capture_output=True,
                          text=True, timeout=60)


def edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_repository_keeps_to_its_layering():
    r = run(ROOT)
    assert r.returncode == 0, r.stderr
    assert "keep to the layering" in r.stdout


def test_the_copy_is_clean_before_it_is_broken(copy):
    assert run(copy).returncode == 0


def test_an_upward_include_fails(copy):
    # The very mistake the check was made for: config reaching up to api.
    edit(copy / "src" / "config.h", "#include <stdbool.h>", '#include "api.h"\n#include <stdbool.h>')
    r = run(copy)
    assert r.returncode == 1
    assert 'src/config.h: #include "api.h" crosses the layering' in r.stderr
    assert "config may include only: buf, hash" in r.stderr


def test_a_skipped_layer_fails(copy):
    # tree must not reach the network layer around sync.
    edit(copy / "src" / "tree.c", '#include "names.h"', '#include "api.h"\n#include "names.h"')
    r = run(copy)
    assert r.returncode == 1 and 'src/tree.c: #include "api.h"' in r.stderr


def test_a_module_missing_from_the_table_fails(copy):
    (copy / "src" / "extra.c").write_text('#include "buf.h"\n', encoding="utf-8")
    r = run(copy)
    assert r.returncode == 1 and "module 'extra' is not in ARCHITECTURE.md" in r.stderr


def test_an_exception_no_longer_needed_fails(copy):
    edit(copy / "ARCHITECTURE.md", "| file | includes | why, and what pays it |\n| --- | --- | --- |\n",
         "| file | includes | why, and what pays it |\n| --- | --- | --- |\n"
         "| `fs.c` | `model.h` | a debt already paid |\n")
    r = run(copy)
    assert r.returncode == 1 and "fs.c -> model.h is no longer needed" in r.stderr


def test_a_cycle_in_the_table_fails(copy):
    edit(copy / "ARCHITECTURE.md", "| `model` | objects | `buf`, `jsontext` |",
         "| `model` | objects | `buf`, `jsontext`, `collections` |")
    r = run(copy)
    assert r.returncode == 1 and "the allowed table has a cycle" in r.stderr


def test_a_missing_table_is_an_error_of_its_own(copy):
    edit(copy / "ARCHITECTURE.md", "<!-- check-layers:allowed -->", "")
    assert run(copy).returncode == 2


def test_a_part_of_no_module_fails(copy):
    edit(copy / "ARCHITECTURE.md", "| `sync_reads` | `sync` |", "| `sync_reads` | `nosuch` |")
    r = run(copy)
    assert r.returncode == 1 and "part sync_reads belongs to 'nosuch'" in r.stderr


def test_a_part_includes_what_its_module_may_not_fails(copy):
    edit(copy / "src" / "transcripts.c", '#include "sync_state.h"\n',
         '#include "sync_state.h"\n#include "tree.h"\n')
    r = run(copy)
    assert r.returncode == 1 and 'transcripts.c: #include "tree.h" crosses the layering' in r.stderr
