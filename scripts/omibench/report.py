"""The bench's report: the table a run prints, and the files it writes.

table() is make bench's table, one function a group of rows (the
numbers in each row's name are scripts/bench.md's); search_table() is
--only-search's.  Each row is (measurement, omifs, reference, ratio,
target, verdict), read from the raw numbers that phases.py put in
results; write_results() and write_partial() save those numbers as JSON.
"""

import json
import os

from .machinery import LISTING_PAGE, TRANSCRIPT_PAGE, log, median, min_requests


# --------------------------------------------------------------------------- formatting
def fmt_s(x):
    if x is None:
        return "n/a"
    return "%.2f s" % x if x >= 0.1 else "%.0f ms" % (x * 1000)


def fmt_x(x):
    return "n/a" if x is None else ("%.2fx" % x if x < 100 else "%.0fx" % x)


def mib(kib):
    return None if kib is None else kib / 1024.0


def ok(b):
    return "n/a" if b is None else ("met" if b else "MISSED")


def incomplete(c):
    """What a cold run's omifs column adds when its rsync failed."""
    return "" if c["rsync_rc"] == 0 else " [rsync exit %d: INCOMPLETE]" % c["rsync_rc"]


def format_rows(rows):
    hdr = ("measurement", "omifs", "reference", "ratio", "target", "")
    widths = [max(len(r[i]) for r in rows + [hdr]) for i in range(6)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(hdr, widths)).rstrip(),
             "  ".join("-" * w for w in widths).rstrip()]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return lines


# --------------------------------------------------------------------------- the rows
def search_rows(row, sr, scale):
    """Rows 3b of one scale: omifs search and ls search/<query> against grep -r."""
    if not sr:
        return
    g = sr["grep_local_median"]
    row("3b. %s: omifs search \"%s\"" % (scale, sr["phrase"]),
        "%s, %s results" % (fmt_s(sr["omifs_search_median"]), sr.get("search_results")),
        "grep -r on local disk %s (%d files)" % (fmt_s(g), sr.get("grep_files", 0)),
        "%.0fx faster" % (g / sr["omifs_search_median"]), ">= 100x at 10x" if scale == "10x" else "-",
        ok(g / sr["omifs_search_median"] >= 100) if scale == "10x" else "")
    row("   %s: ls search/<query>, first look-up" % scale, fmt_s(sr["ls_search_median"]),
        "%d entries; %d requests" % (sr.get("ls_entries", 0), sr["requests"]),
        "%.0fx faster" % (g / sr["ls_search_median"]), "0 req", ok(sr["requests"] == 0))


def cold_wall(results):
    """The median wall time of the cold runs, mount and rsync."""
    return median([c["mount_seconds"] + c["seconds"] for c in results["cold"]])


def cold_rows(row, results):
    """Rows 1 and 1b: requests against the minimum, wall time against latency and local disk."""
    acc = results["account"]
    lat = results["config"]["latency_ms"] / 1000.0
    mint = acc["minimum_total"]
    c0 = results["cold"][0]
    cold_t = cold_wall(results)
    # A mount lists conversations without transcripts, then reads them in
    # pages: the floor plus those listing pages is its own floor.
    lpages = min_requests(acc["listed"]["conversations"], LISTING_PAGE["documented"])
    req_ratio = c0["requests"] / (mint + lpages)
    row("1. cold rsync -a: requests", "%d%s" % (c0["requests"], incomplete(c0)),
        "minimum %d = %s, + %d listing pages" % (
            mint, " + ".join("%d %s" % (v, k) for k, v in acc["minimum_requests"].items()), lpages),
        fmt_x(req_ratio), "<= 1.05x", ok(req_ratio <= 1.05))
    row("1. cold rsync -a: wall time (mount + rsync)", fmt_s(cold_t),
        "min requests x latency = %s" % fmt_s(mint * lat), fmt_x(cold_t / (mint * lat)), "-", "")
    lr = median(results["local_rsync_seconds"])
    row("   the same, against rsync of the local copy", fmt_s(cold_t), "local rsync into empty dir %s" % fmt_s(lr),
        fmt_x(cold_t / lr), "-", "")
    cd = results.get("cold_default")
    if cd:
        r = cd["requests"] / (mint + lpages)
        row("1b. cold rsync -a, omifs defaults: requests",
            "%d%s" % (cd["requests"], incomplete(cd)), "minimum %d + %d listing pages" % (mint, lpages),
            fmt_x(r), "<= 1.05x", ok(r <= 1.05))
        t = cd["mount_seconds"] + cd["seconds"]
        row("1b. cold rsync -a, omifs defaults: wall time", fmt_s(t),
            "min requests x latency = %s" % fmt_s(mint * lat), fmt_x(t / (mint * lat)), "-", "")


def warm_rows(row, results):
    """Rows 2 to 4: the second rsync, warm reads against local disk, and their requests."""
    s = results["second"]
    s_ok = s["files_transferred"] == 0 and s["requests"] == 0 and s["rsync_rc"] == 0
    row("2. second rsync -a, right after",
        "%s files, %d req, %s" % (s["files_transferred"], s["requests"], fmt_s(s["seconds"])),
        "local no-op rsync %s" % fmt_s(s["local_seconds"]), fmt_x(s["seconds"] / s["local_seconds"]),
        "0 files, 0 req", ok(s_ok))
    w = results["warm"]
    for key, label, target in (("grep", "3. warm grep -r PHRASE", 1.5), ("ls_lR", "4. warm ls -lR", None),
                               ("find_cat", "4. warm find -type f -exec cat {} +", 1.5)):
        x = w[key]
        same = "" if x["same_output"] else " (OUTPUT DIFFERS)"
        row(label, fmt_s(x["mount_median"]), "local %s%s" % (fmt_s(x["local_median"]), same),
            fmt_x(x["ratio_median"]), "<= %.1fx" % target if target else "-",
            ok(x["ratio_median"] <= target) if target else "")
    row("   requests during the warm runs", "%d" % w["requests"], "", "", "0", ok(w["requests"] == 0))


def views_rows(row, v):
    """Rows 3c: the views copied out twice, and ls -lR with -o xattr."""
    if not v:
        return
    row("3c. views: first rsync -a of vault/ and *.jsonl",
        "%s, %d req" % (fmt_s(v["first_seconds"]), v["requests"]),
        "%d files, %.1f MiB; local copy %s" % (v["files"], v["bytes"] / 2**20,
                                               fmt_s(v["local_copy_seconds"])),
        fmt_x(v["first_seconds"] / v["local_copy_seconds"]), "0 req",
        ok(v["requests"] == 0 and v["first_rc"] == 0))
    row("   views: second rsync -a", "%s files" % v["second_files"], "", "", "0 files",
        ok(v["second_files"] == 0))
    row("   warm ls -lR with -o xattr", fmt_s(v["ls_xattr"]),
        "without %s; local %s" % (fmt_s(v["ls_plain"]), fmt_s(v["ls_local"])),
        fmt_x(v["ls_xattr"] / v["ls_plain"]), "-", "")


def remount_row(row, rm):
    """Row 5: a remount on the disk cache, to the first complete ls -R."""
    if rm:
        row("5. remount on the disk cache: start to ls -R done",
            "%s, %d req" % (fmt_s(rm["start_to_listed_seconds"]), rm["requests"]),
            "mount %s + ls -R %s; %d req before ls" % (fmt_s(rm["mount_seconds"]), fmt_s(rm["ls_seconds"]),
                                                     rm["requests_at_start"]),
            "", "0 req", ok(rm["requests"] == 0))
    else:
        row("5. remount on the disk cache", "n/a (no disk cache yet)", "", "", "0 req", "n/a")


def memory_rows(row, results):
    """Row 6: peak memory at 1x; at 10x with the 10x cold rsync, its warm
    remount (6b) and its search (3b at 10x)."""
    m1 = results["memory_1x"]
    row("6. peak memory (VmHWM), 1x", "%.1f MiB" % mib(m1["vm_hwm_after_cold_kib"]), "after the cold rsync",
        "", "-", "")
    row("   ... and after the warm runs", "%.1f MiB" % mib(m1["vm_hwm_kib"]), "", "", "-", "")
    m10 = results.get("memory_10x")
    if not m10:
        row("6. peak memory (VmHWM), 10x", "not measured (--skip-10x)", "", "", "< 64 MiB", "n/a")
        return
    l = m10["listed"]
    acc10 = "%d conv (%d seg), %d mem, %d ai" % (l["conversations"],
                                               results["config"]["account_10x"]["segments"],
                                               l["memories"], l["action-items"])
    row("6. peak memory (VmHWM), 10x", "%.1f MiB%s" % (mib(m10["vm_hwm_kib"]), incomplete(m10)),
        "after the cold rsync; " + acc10, "", "< 64 MiB", ok(mib(m10["vm_hwm_kib"]) < 64))
    floor10 = m10["minimum_total"] + m10["listing_pages"]
    r = m10["requests"] / floor10
    row("   10x cold rsync -a: requests", "%d%s" % (m10["requests"], incomplete(m10)),
        "minimum %d + %d listing pages" % (m10["minimum_total"], m10["listing_pages"]),
        fmt_x(r), "<= 1.05x", ok(r <= 1.05))
    t10 = m10["mount_seconds"] + m10["seconds"]
    t_floor = m10["minimum_total"] * 60.0 / 100
    row("   10x cold rsync -a at 100 a minute: wall time", fmt_s(t10),
        "floor %d req / 100 a min = %s; %d files, %.0f MiB" % (m10["minimum_total"], fmt_s(t_floor),
                                                               m10["files"], m10["bytes"] / 2**20),
        fmt_x(t10 / t_floor), "exit 0", ok(m10["rsync_rc"] == 0))
    rm10 = results.get("remount_10x")
    if rm10:
        row("   10x warm remount: ls -lR, rsync -a, cat everything",
            "%d req, %d changed" % (rm10["requests"], rm10["rsync_itemized"]),
            "ls %s, rsync %s, cat %s; VmHWM %.1f MiB" % (
                fmt_s(rm10["ls_seconds"]), fmt_s(rm10["rsync_seconds"]), fmt_s(rm10["cat_seconds"]),
                mib(rm10["vm_hwm_kib"])), "", "0 req", ok(rm10["requests"] == 0))
        search_rows(row, rm10.get("search"), "10x")


def floor_rows(row, floors):
    """Rows 8, one group per scale and dialect: cold rsync and omifs sync against the floor."""
    for key, f in sorted(floors.items()):
        profile = key.split()[-1]
        c, sy = f["cold"], f["sync"]
        r = c["transcript_requests"] / f["transcript_floor"]
        row("8. %s: cold rsync -a, requests with transcripts" % key,
            "%d%s" % (c["transcript_requests"], incomplete(c)),
            "floor %d (pages of %d)" % (f["transcript_floor"], TRANSCRIPT_PAGE[profile]), fmt_x(r),
            "<= 1.05x", ok(r <= 1.05))
        allowed = f["floor"] + f["listing_pages"]
        r = c["requests"] / allowed
        row("   %s: cold rsync -a, all requests" % key, "%d" % c["requests"],
            "floor %d + %d listing pages" % (f["floor"], f["listing_pages"]), fmt_x(r), "<= 1.00x",
            ok(r <= 1.0))
        r = sy["requests"] / f["floor"]
        row("   %s: omifs sync from empty, requests" % key,
            "%d%s" % (sy["requests"], "" if sy["rc"] == 0 else " [exit %d]" % sy["rc"]),
            "floor %d" % f["floor"], fmt_x(r), "<= 1.05x", ok(r <= 1.05 and sy["rc"] == 0))


def export_row(row, results):
    """Row 7: the first cold rsync against the manual export with curl."""
    c0, cold_t = results["cold"][0], cold_wall(results)
    me = results["manual_export"]
    row("7. manual export, curl per page, sequential",
        "%d req, %s" % (c0["requests"], fmt_s(cold_t)),
        "curl: %d req, %s" % (me["requests"], fmt_s(me["seconds_median"])),
        fmt_x(cold_t / me["seconds_median"]), "-", "")


# --------------------------------------------------------------------------- the tables
def table_head(results):
    """The lines above make bench's table: the account, the options, the method."""
    cfg, acc = results["config"], results["account"]
    n = acc["listed"]
    cache = ["cache_dir=DIR"] if results["disk_cache"] else []
    return [
        "omifs bench%s: %d conversations (mean %d transcript segments), %d memories, %d action items"
        % (" (--quick)" if cfg["quick"] else "", n["conversations"], cfg["account_1x"]["segments"],
           n["memories"], n["action-items"]),
        "  = %d files, %.1f MiB in the tree; emulator --profile documented --seed 1 --days %d,"
        " %d ms latency per request, its rate limits raised"
        % (acc["files"], acc["bytes"] / 2**20, cfg["days"], cfg["latency_ms"]),
        "  omifs -f -o %s (every other option at omifs' default)"
        % ",".join(cfg["omifs_options"] + cache)
        + ("" if results["disk_cache"] else "  [no disk cache: omifs refused cache_dir]"),
        "  10x run: -o %s; 1b: -o cache_dir=DIR only"
        % ",".join(cfg["omifs_options_10x"] + cache),
        "  %d cores, shared; medians: cold %d runs, warm %d runs (find|cat %d) alternating sides after one"
        " warm-up run each; ratio = omifs / reference"
        % (cfg["nproc"], cfg["cold_reps"], cfg["reps"], cfg["heavy_reps"]),
        "  grep phrase %r; omifs %s" % (results["phrase"], cfg.get("omifs_commit", "?")),
        "",
    ]


def table(results):
    """make bench's table, rows in the order scripts/bench.md gives them."""
    rows = []

    def row(*cells):
        rows.append(cells)

    cold_rows(row, results)
    warm_rows(row, results)
    search_rows(row, results.get("search_1x"), "1x")
    views_rows(row, results.get("views"))
    remount_row(row, results.get("remount"))
    memory_rows(row, results)
    floor_rows(row, results.get("floor", {}))
    export_row(row, results)
    return "\n".join(table_head(results) + format_rows(rows)) + "\n"


def search_table(results):
    """The table of an --only-search run."""
    cfg = results["config"]
    rows = []
    head = ["omifs bench --only-search%s: emulator --profile documented --seed 1 --days %d, "
            "%d ms latency, its rate limits raised" % (" --quick" if cfg["quick"] else "",
                                                       cfg["days"], cfg["latency_ms"])]
    for scale in ("1x", "10x"):
        sr = results.get("search_" + scale)
        if sr:
            n = sr["account"]
            head.append("  %s: %d conversations (mean %d transcript segments), %d memories, "
                        "%d action items" % (scale, n["conversations"],
                                             cfg["account_1x"]["segments"], n["memories"],
                                             n["action-items"]))
        search_rows(lambda *r: rows.append(r), sr, scale)
    head += ["  %d cores, shared; medians of %d runs at 1x, 3 at 10x; omifs %s"
             % (cfg["nproc"], cfg["reps"], cfg.get("omifs_commit", "?")), ""]
    return "\n".join(head + format_rows(rows)) + "\n"


# --------------------------------------------------------------------------- the files
def write_results(out, results, text):
    """results.json (every raw number) and results.txt (the table) in out."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
    with open(os.path.join(out, "results.txt"), "w") as f:
        f.write(text)


def write_partial(out, results):
    """What a failed or interrupted run had measured, in results-partial.json."""
    try:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "results-partial.json"), "w") as f:
            json.dump(results, f, indent=2, sort_keys=True, default=str)
        log("partial results in %s/results-partial.json" % out)
    except OSError:
        pass
