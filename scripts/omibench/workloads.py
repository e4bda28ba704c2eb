"""The bench's workloads: what it measures, one function each.

Cold rsync of a fresh mount, the manual export with curl, warm reads
against the same files on local disk, search against grep -r, the views,
remounts on a warm cache, omifs sync from empty and the request floors.
Each mounts what it needs, runs its tools with machinery.run() and
returns (or files into results) a dict of raw numbers; the report reads
them.  The order of a run is in phases.py.
"""

import json
import os
import re
import time

from .machinery import (KEY, KINDS, LISTING_PAGE, OMIFS, PAGE, TOOL_ENV, TRANSCRIPT_PAGE, Mount,
                        count_files, log, median, min_requests, pick_phrase, private_dir,
                        rm_tree, run)

# The README's backup: the id tree, without the mount's state and the views
# (computed from the same items, and renamed with their titles).
BACKUP_EXCLUDES = ["--exclude=/.omifs/", "--exclude=/vault/", "--exclude=/*.jsonl"]


def cold_rsync(emu, workdir, name, options, dest, timeout, keep=False, disk_cache=True):
    """Mounts fresh, rsyncs everything to dest; returns a result dict (and the mount if keep)."""
    emu.reset_stats()
    m = Mount(workdir, name, emu.url, options)
    m.start()
    t, cp = run(["rsync", "-a"] + BACKUP_EXCLUDES + [m.path + "/", dest + "/"], timeout=timeout,
                check=False)
    st = emu.stats()
    hwm, rss = m.memory()
    res = {"options": options, "seconds": t, "rsync_rc": cp.returncode,
           "rsync_stderr": cp.stderr.decode("utf-8", "replace")[-1000:],
           "mount_seconds": m.mounted_after, "requests": st["total"], "by_endpoint": st["by_endpoint"],
           "transcript_requests": st.get("transcript_requests"), "vm_hwm_kib": hwm, "vm_rss_kib": rss,
           "request_log": emu.log_since_reset()}
    if cp.returncode != 0:
        log("rsync from %s exited %d: %s" % (name, cp.returncode, res["rsync_stderr"][-300:]))
    if keep:
        return res, m
    m.stop()
    return res, None


def manual_export(emu, workdir, reps):
    """The documentation's way: curl per page, sequentially, offset += 1000 until []."""
    runs = []
    counts = {}
    for r in range(reps):
        out = os.path.join(workdir, "export")
        rm_tree(out)
        os.mkdir(out)
        emu.reset_stats()
        pages = []
        t0 = time.monotonic()
        for name, path, extra in KINDS:
            offset = 0
            while True:
                f = os.path.join(out, "%s-%06d.json" % (name, offset))
                url = "%s%s?%slimit=%d&offset=%d" % (emu.url, path, extra, PAGE, offset)
                run(["curl", "-sS", "--fail", "--noproxy", "*", "--max-time", "120",
                     "-H", "Authorization: Bearer " + KEY, "-o", f, url], timeout=180)
                pages.append((name, f))
                with open(f, "rb") as fh:
                    head = fh.read(16).strip()
                if head == b"[]":
                    break
                offset += PAGE
        dt = time.monotonic() - t0
        runs.append({"seconds": dt, "requests": emu.requests(), "pages": len(pages)})
        if r == 0:
            for name, f in pages:
                with open(f, "rb") as fh:
                    counts[name] = counts.get(name, 0) + len(json.load(fh))
        rm_tree(out)
    return runs, counts


# "$@" is the top-level entries but .omifs (whose status file changes by itself,
# so its copy differs), the same names on both sides.
WARM_COMMANDS = [
    ("grep", 'grep -r -F -- "$PHRASE" "$@" | wc -l'),
    ("ls_lR", 'ls -lR "$@" | wc -l'),
    ("find_cat", 'find "$@" -type f -exec cat {} + | wc -c'),
]


def warm_compare(emu, mnt, local, phrase, reps, heavy_reps, timeout):
    """Each command once on both sides (the warm-up), then reps alternating sides."""
    env = dict(TOOL_ENV, PHRASE=phrase)
    names = sorted(n for n in os.listdir(local) if n != ".omifs")
    out = {"top_level": names}
    emu.reset_stats()
    for key, cmd in WARM_COMMANDS:
        res = {"command": cmd, "mount": [], "local": [], "ratios": []}
        for side, root in (("mount", mnt), ("local", local)):
            t, cp = run([cmd, "bench"] + names, timeout, cwd=root, env=env, shell=True)
            res[side + "_warmup"] = t
            res[side + "_output"] = cp.stdout.decode().strip()
        for r in range(heavy_reps if key == "find_cat" else reps):
            order = (("mount", mnt), ("local", local)) if r % 2 == 0 else (("local", local), ("mount", mnt))
            times = {}
            for side, root in order:
                t, cp = run([cmd, "bench"] + names, timeout, cwd=root, env=env, shell=True)
                times[side] = t
                res[side].append(t)
            res["ratios"].append(times["mount"] / times["local"])
        res["mount_median"] = median(res["mount"])
        res["local_median"] = median(res["local"])
        res["ratio_median"] = median(res["ratios"])
        res["same_output"] = res["mount_output"] == res["local_output"]
        out[key] = res
    out["requests"] = emu.requests()
    out["request_log"] = emu.log_since_reset()
    return out


def search_compare(emu, mnt, local, cache, phrase, reps, timeout):
    """The same question three ways, each timed reps times: grep -r on the
    local copy, `omifs search` on the cache, and a first look-up of
    search/<query> on the mount (a new query each time, so that it runs)."""
    env = dict(TOOL_ENV, PHRASE=phrase, OMI_API_KEY=KEY)
    query = '"%s"' % phrase
    res = {"phrase": phrase, "grep_local": [], "omifs_search": [], "ls_search": []}
    emu.reset_stats()
    for r in range(reps):
        t, cp = run(['grep -r -l -F -- "$PHRASE" . | wc -l'], timeout, cwd=local, env=env, shell=True)
        res["grep_local"].append(t)
        res["grep_files"] = int(cp.stdout.decode().strip() or 0)
        t, cp = run([str(OMIFS), "search", "--limit", "0", "--json", "-o",
                     "url=%s,cache_dir=%s" % (emu.url, cache), query], timeout, env=env, check=False)
        res["omifs_search"].append(t)
        res["search_rc"] = cp.returncode
        try:
            res["search_results"] = len(json.loads(cp.stdout.decode() or "{}").get("results", []))
        except ValueError:
            res["search_results"] = None
        t, cp = run(["ls", os.path.join(mnt, "search", "%s OR zzzbench%d" % (query, r))], timeout,
                    env=env, check=False)
        res["ls_search"].append(t)
        res["ls_entries"] = cp.stdout.count(b"\n")
    for k in ("grep_local", "omifs_search", "ls_search"):
        res[k + "_median"] = median(res[k])
    res["requests"] = emu.requests()
    return res


def views_compare(emu, workdir, mnt, local, options, reps, timeout):
    """The views, right after the backup: vault/ and the .jsonl files copied
    out twice (the first renders them), counting requests; then warm ls -lR
    on the mount against a second mount of the same cache with -o xattr."""
    dest = os.path.join(workdir, "views")
    os.mkdir(dest)
    views = [os.path.join(mnt.path, n) for n in ("vault", "memories.jsonl", "action-items.jsonl",
                                                   "conversations.jsonl")]
    emu.reset_stats()
    t_first, cp = run(["rsync", "-a"] + views + [dest + "/"], timeout=timeout, check=False)
    first_rc = cp.returncode
    t_second, cp = run(["rsync", "-a", "--stats"] + views + [dest + "/"], timeout=timeout,
                       check=False)
    m_ = re.search(r"Number of regular files transferred: ([\d,]+)", cp.stdout.decode())
    files, nbytes = count_files(dest)
    res = {"first_seconds": t_first, "first_rc": first_rc, "second_seconds": t_second,
           "second_files": int(m_.group(1).replace(",", "")) if m_ else None,
           "requests": emu.requests(), "files": files, "bytes": nbytes}
    t_local, _ = run(["rsync", "-a", dest + "/", dest + "-copy/"], timeout=timeout)
    res["local_copy_seconds"] = t_local
    rm_tree(dest + "-copy")
    rm_tree(dest)
    x = Mount(workdir, "mnt-xattr", emu.url, options + ["xattr"])
    x.start()
    names = sorted(n for n in os.listdir(local) if n != ".omifs")
    plain, with_xattr, local_ls = [], [], []
    for r in range(reps + 1):
        for root, out in ((mnt.path, plain), (x.path, with_xattr), (local, local_ls)):
            t, _ = run(["ls", "-lR"] + names, timeout=timeout, cwd=root)
            if r:
                out.append(t)
    x.stop()
    res.update(ls_plain=median(plain), ls_xattr=median(with_xattr), ls_local=median(local_ls))
    return res


def remount_ls(emu, workdir, name, options):
    emu.reset_stats()
    m = Mount(workdir, name, emu.url, options)
    m.start()
    after_mount = emu.requests()
    t, cp = run(["ls", "-R", m.path], timeout=600)
    total = time.monotonic() - m.started
    res = {"options": options, "mount_seconds": m.mounted_after, "ls_seconds": t,
           "start_to_listed_seconds": total, "requests_at_start": after_mount,
           "requests": emu.requests(), "ls_lines": cp.stdout.count(b"\n"),
           "request_log": emu.log_since_reset()}
    m.stop()
    return res


def remount_read_all(emu, workdir, name, options, dest, timeout, search_in=None):
    """Remounts on a warm cache and reads everything: ls -lR, then a second
    rsync -a into the copy the cold run made (which compares every file's
    size and mtime) and a find | cat of every file, counting requests."""
    emu.reset_stats()
    # The reads are measured, not the refresher's schedule: with the vault
    # rendered on the way, they outlast a refresh interval at 10x.
    m = Mount(workdir, name, emu.url, options + ["refresh=86400", "full_refresh=86400"])
    m.start()
    at_start = emu.requests()
    # First, while no refresh is due yet: the search sends nothing either.
    searched = search_compare(emu, m.path, dest, search_in, pick_phrase(dest), 3, timeout) \
        if search_in else None
    t_ls, cp = run(["ls", "-lR", m.path], timeout=timeout)
    t_rsync, rs = run(["rsync", "-a", "--itemize-changes"] + BACKUP_EXCLUDES + [m.path + "/",
                       dest + "/"], timeout=timeout, check=False)
    t_cat, _ = run(["sh", "-c", 'find "$1" -type f -exec cat {} + | wc -c', "sh", m.path],
                   timeout=timeout)
    hwm, rss = m.memory()
    # search_compare counts from its own start: the mount's come first.
    requests = (at_start if searched else 0) + emu.requests()
    res = {"options": options, "mount_seconds": m.mounted_after, "requests_at_start": at_start,
           "search": searched,
           "ls_seconds": t_ls, "rsync_seconds": t_rsync, "rsync_rc": rs.returncode,
           "rsync_itemized": len([l for l in rs.stdout.decode("utf-8", "replace").splitlines()
                                  if re.match(r"^[<>ch.*][fdLDS]", l)]),
           "cat_seconds": t_cat, "ls_lines": cp.stdout.count(b"\n"), "requests": requests,
           "vm_hwm_kib": hwm, "vm_rss_kib": rss}
    m.stop()
    return res


def remount_search(emu, workdir, name, options, dest, cache, timeout):
    """Remounts on a warm cache and runs only the search comparison (row 3b);
    requests count from the mount's start."""
    emu.reset_stats()
    m = Mount(workdir, name, emu.url, options)
    m.start()
    at_start = emu.requests()
    try:
        searched = search_compare(emu, m.path, dest, cache, pick_phrase(dest), 3, timeout)
    finally:
        m.stop()
    searched["requests"] += at_start
    return searched



def account_args(conv, mem, ai, seg, days, latency, profile="documented", raise_limits=True):
    """The emulator's arguments; its limits raised unless the run is about them."""
    raised = []
    for k in ("minute", "day", "memories", "action_items", "conversations", "conversation", "transcripts"):
        raised += ["--limit", "%s=1000000" % k]
    return (["--profile", profile, "--seed", "1", "--conversations", conv, "--memories", mem,
             "--action-items", ai, "--segments", seg, "--days", days, "--latency-ms", latency]
            + (raised if raise_limits else []))


def omifs_sync(emu, workdir, name, options, timeout):
    """omifs sync from an empty cache; returns requests, transcript requests, seconds."""
    cache = os.path.join(workdir, name)
    private_dir(cache)
    emu.reset_stats()
    t, cp = run([str(OMIFS), "sync", "-q", "-o", ",".join(["url=" + emu.url, "cache_dir=" + cache] + options)],
                timeout=timeout, env=dict(TOOL_ENV, OMI_API_KEY=KEY), check=False)
    st = emu.stats()
    rm_tree(cache)
    return {"rc": cp.returncode, "seconds": t, "requests": st["total"],
            "transcript_requests": st.get("transcript_requests"),
            "stderr": cp.stderr.decode("utf-8", "replace")[-1000:]}


def floor_in(emu, workdir, profile, a, results, scale="1x"):
    """Phase 8: cold mount + rsync and omifs sync from empty, against each dialect's floor."""
    n = listed_counts(emu)
    tpage, lpage = TRANSCRIPT_PAGE[profile], LISTING_PAGE[profile]
    floor_t = min_requests(n["conversations"], tpage)
    floor = (floor_t + min_requests(n["memories"]) + min_requests(n["action-items"])
             + goals_floor(emu))
    # The backend's hourly policies are what a real account lives with; the
    # bench measures requests, so its hours are shrunk to 3.6 s on omifs'
    # side (the emulator's limits are raised).
    opts = (["api_profile=backend", "rate_window_scale=0.001"] if profile == "backend" else [])
    cache = os.path.join(workdir, "cache-floor-%s-%s" % (scale, profile))
    private_dir(cache)
    dest = os.path.join(workdir, "copy-floor-%s-%s" % (scale, profile))
    timeout = a.timeout if scale == "1x" else a.timeout_10x
    name = "floor-%s-%s" % (scale, profile)
    cold, _ = cold_rsync(emu, workdir, "mnt-" + name, opts + ["cache_dir=" + cache], dest, timeout)
    rm_tree(dest)
    rm_tree(cache)
    sync = omifs_sync(emu, workdir, "cache-sync-" + name, opts, timeout)
    results.setdefault("floor", {})["%s %s" % (scale, profile)] = {
        "listed": n, "transcript_floor": floor_t, "floor": floor,
        "listing_pages": min_requests(n["conversations"], lpage), "cold": cold, "sync": sync}


def goals_floor(emu):
    """The fewest requests goals take: one listing, which a server without
    goals answers 404, and one history per goal where they are served
    (the backend profile)."""
    info = emu.info()
    return 1 + (info["counts"].get("goals", 0) if info["profile"] == "backend" else 0)


def minimum_requests(emu, n):
    """The fewest requests for the account's listings at pages of 1000."""
    minimum = {k: min_requests(v) for k, v in n.items()}
    minimum["goals"] = goals_floor(emu)
    return minimum


def listed_counts(emu):
    info = emu.info()
    return {"conversations": info["visible_conversations"], "memories": info["counts"]["memories"],
            "action-items": info["counts"]["action_items"]}

