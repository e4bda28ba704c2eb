"""Goals, the fourth collection, mounted: shown where the server serves them
(the backend), with each goal's history, and absent without a word of alarm
where it does not (the documented API answers 404)."""

import os
import re

import reference
from emulator import UNLIMITED
from fsutil import read
from mount import run_omifs


def goal_path(m, ident):
    return m.p("goals", reference.safe_name(ident, ".md"))


def refresh(m):
    r = run_omifs("refresh", "--wait", m.path, key=None, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def goal_requests(emu):
    by = emu.stats()["by_endpoint"]
    return {k: sum(v.values()) for k, v in by.items() if "/user/goals" in k}


def test_a_goal_with_history_renders_by_the_spec_and_follows_its_edits(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED, profile="backend")
    m = mount_factory(emu.url, "ttl=0")
    # Known before the mount answers its first request: a backup started
    # at once misses no goal.
    assert "goals" in os.listdir(m.path)
    goal = next(g for g in emu.data()["goals"] if g["history"])
    path = goal_path(m, goal["id"])
    assert read(path) == reference.render_goal(goal)
    assert "## History" in read(path)
    before = os.stat(path)
    assert before.st_mtime == reference.first_valid(goal["updated_at"])

    # Unchanged goals cost the listing alone: no history is asked again.
    emu.reset_stats()
    refresh(m)
    assert goal_requests(emu) == {"GET /user/goals": 1}

    # Progress recorded: the value, updated_at and a day of history move.
    raw = emu.get("goals", goal["id"])
    day = {"date": "2025-07-01", "value": 9.5, "recorded_at": "2025-07-01T12:00:00+00:00"}
    emu.patch("goals", goal["id"], {"current_value": 9.5, "updated_at": "2025-07-01T12:00:00+00:00",
                                    "_history": [day] + raw["_history"]})
    emu.reset_stats()
    refresh(m)
    assert goal_requests(emu) == {"GET /user/goals": 1, "GET /user/goals/{id}/history": 1}
    edited = next(g for g in emu.data()["goals"] if g["id"] == goal["id"])
    assert read(path) == reference.render_goal(edited)
    assert "| 2025-07-01 | 9.5 |" in read(path)
    assert os.stat(path).st_mtime > before.st_mtime

    # A history that cannot be fetched keeps the one cached: never less.
    emu.set_faults(error_rate=1.0, error_status=404, paths="/history")
    emu.patch("goals", goal["id"], {"title": "Run two marathons", "updated_at": "2025-07-02T08:00:00+00:00"})
    refresh(m)
    text = read(path)
    assert text.startswith("# Run two marathons\n") and "| 2025-07-01 | 9.5 |" in text
    emu.clear_faults()


def test_goals_are_searched_and_counted_in_the_status(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED, profile="backend")
    m = mount_factory(emu.url)
    goals = emu.data()["goals"]
    status = read(m.p(".omifs", "status"))
    assert re.search(r"^goals +%d items, listed completely at" % len(goals), status, re.M), status
    title = goals[0]["title"]
    assert os.listdir(m.p("search", "kind:goal " + title.split()[-1]))
    r = run_omifs("search", "--json", "kind:goal", key=None, cache_home=os.path.join(m.dir, "cache"))
    assert r.returncode == 0, r.stderr
    assert sorted(re.findall(r'"path":"(goals/[^"]+)"', r.stdout)) == sorted(
        "goals/" + reference.safe_name(g["id"], ".md") for g in goals)


def test_a_server_without_goals_shows_none_and_says_why_calmly(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED, profile="documented")
    m = mount_factory(emu.url, "ttl=0")
    refresh(m)
    assert "goals" not in os.listdir(m.path) and "goals.jsonl" not in os.listdir(m.path)
    assert "Goals.md" not in os.listdir(m.p("vault"))
    assert not os.path.exists(m.p("goals"))
    status = read(m.p(".omifs", "status"))
    assert re.search(r"^goals +not served by this server$", status, re.M), status
    # Asked, answered 404, and not a word of it in the log (warnings and errors).
    assert emu.stats()["by_endpoint"].get("GET (unmatched)", {}).get("404", 0) >= 1
    assert "goal" not in m.log()
