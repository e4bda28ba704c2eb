"""Hostile data from the server: huge, deep, odd. Never a crash, never unbounded."""

import json
import os
import re
import subprocess

from emulator import EMULATOR, PYTHON, UNLIMITED


def dataset(tmp_path):
    path = tmp_path / "data.json"
    subprocess.run([PYTHON, str(EMULATOR), "--dump-data", str(path), "--conversations", "20"], check=True,
                   timeout=60)
    return path, json.loads(path.read_text())


def nested(depth):
    value = "bottom"
    for _ in range(depth):
        value = {"deeper": value}
    return value


def test_a_50_mb_transcript_and_deep_nesting(emulator_factory, mount_factory, tmp_path):
    path, data = dataset(tmp_path)
    huge_text = "word " * (10 * 1024 * 1024)  # 50 MiB in one segment
    data["conversations"].append({
        "id": "huge-one", "created_at": "2025-06-10T10:00:00Z", "started_at": None, "finished_at": None,
        "language": "en", "source": "omi", "structured": {"title": "Huge", "category": "other"},
        "transcript_segments": [{"id": "s", "text": huge_text, "speaker_id": 0, "start": 0.0, "end": 1.0}],
        "geolocation": nested(100),
    })
    data["memories"].append({"id": "deep-memory", "content": "deep", "category": "core", "tags": [nested(150)]})
    path.write_text(json.dumps(data))
    emu = emulator_factory(*UNLIMITED, "--data", str(path), "--profile", "backend")
    m = mount_factory(emu.url, "transcript_batch=5", "timeout=120")

    assert os.path.exists(m.p("memories", "core", "deep-memory.txt"))
    transcript = m.p("conversations", "2025-06-10", "huge-one", "transcript.txt")
    size = os.stat(transcript).st_size
    assert size == len("[00:00:00] Speaker 0: ") + len(huge_text) + 1
    read = 0
    with open(transcript, "rb") as f:
        while chunk := f.read(1 << 20):
            read += len(chunk)
    assert read == size
    with open(m.p("conversations", "2025-06-10", "huge-one", "conversation.json")) as f:
        assert json.load(f)["geolocation"] == nested(100)
    peak_kib = int(next(line.split()[1] for line in open(f"/proc/{m.proc.pid}/status")
                        if line.startswith("VmHWM:")))
    # A few copies of the 50 MiB object at once, not an unbounded pile of
    # them; under make check-asan, AddressSanitizer also keeps freed memory
    # in quarantine, up to the size its options say.
    quarantine = re.search(r"quarantine_size_mb=(\d+)", os.environ.get("ASAN_OPTIONS", ""))
    allowed_mib = 600 + (int(quarantine.group(1)) if quarantine else 0)
    assert peak_kib < allowed_mib * 1024, peak_kib
    assert m.proc.poll() is None
