"""The order of a bench run: which accounts, which workloads, in which
phase, with which options.

bench() is make bench's whole run (rows 1 to 8, at 1x and 10x), one
method of FullRun a phase; bench_search() is --only-search (row 3b
alone).  Each phase is logged with its time and kept in
results["phases"]; the raw numbers go into results under the keys the
report reads.
"""

import os
import re
import time

from .machinery import (LISTING_PAGE, BenchError, Emulator, UnknownOption, count_files, log,
                        median, min_requests, omifs_commit, pick_phrase, private_dir, rm_tree,
                        run)
from .workloads import (BACKUP_EXCLUDES, account_args, cold_rsync, floor_in, listed_counts,
                        manual_export, minimum_requests, remount_ls, remount_read_all,
                        remount_search, search_compare, views_compare, warm_compare)


class Phases:
    """Calling it starts the next phase: logged, and timed in results["phases"]."""

    def __init__(self, results):
        self.t0 = time.monotonic()
        self.list = results.setdefault("phases", [])

    def __call__(self, msg):
        now = time.monotonic() - self.t0
        if self.list:
            self.list[-1]["seconds"] = now - self.list[-1]["at"]
        self.list.append({"phase": msg, "at": now})
        log("[%4.0f s] %s" % (now, msg))


def account_size(quick):
    """(conversations, memories, action items) of the 1x account."""
    return (200, 500, 200) if quick else (2000, 5000, 2000)


class FullRun:
    """make bench: the 1x account on one emulator (rows 1 to 7), the floor
    in both dialects (row 8), then the 10x account (row 6 at 10x, and the
    floor again unless --skip-floor-10x)."""

    def __init__(self, a, workdir, results):
        self.a = a
        self.workdir = workdir
        self.results = results
        self.lat = a.latency_ms
        self.size = account_size(a.quick)
        self.size10 = tuple(10 * n for n in self.size)
        self.seg = a.segments
        self.seg10 = a.segments_10x if a.segments_10x is not None else a.segments
        self.reps = a.reps or (3 if a.quick else 5)
        self.heavy_reps = min(self.reps, 3)
        self.cold_reps = a.cold_reps or 2
        self.days = 365
        self.opts = [o for o in a.options.split(",") if o]
        self.opts10 = self.opts + [o for o in a.options_10x.split(",") if o]
        self.phase = Phases(results)
        self.emu = self.mnt = None
        self.disk_cache = True

    def run(self):
        self.record_config()
        self.start_1x()
        self.cold()
        self.second_rsync()
        self.warm()
        self.remount()
        self.local_reference()
        self.cold_again()
        self.cold_defaults()
        self.export()
        self.floors("1x", self.size, self.seg, 300)
        if self.a.skip_10x:
            self.results["memory_10x"] = None
            self.phase("done")
            return
        self.tenx()
        if not self.a.skip_floor_10x:
            self.floors("10x", self.size10, self.seg10, 900)
        self.phase("done")

    def record_config(self):
        size, size10 = self.size, self.size10
        self.results["config"] = {
            "quick": self.a.quick, "latency_ms": self.lat, "profile": "documented", "seed": 1,
            "days": self.days,
            "account_1x": {"conversations": size[0], "memories": size[1], "action_items": size[2],
                           "segments": self.seg},
            "account_10x": {"conversations": size10[0], "memories": size10[1],
                            "action_items": size10[2], "segments": self.seg10},
            "omifs_options": self.opts, "omifs_options_10x": self.opts10, "reps": self.reps,
            "heavy_reps": self.heavy_reps, "cold_reps": self.cold_reps, "nproc": os.cpu_count(),
            "emulator_limits": "minute=1000000, day=1000000 (raised: the bench makes many runs with one key)",
        }
        commit = omifs_commit()
        if commit is not None:
            self.results["config"]["omifs_commit"] = commit

    def start_1x(self):
        size = self.size
        self.phase("starting the emulator: %d conversations (%d segments), %d memories, %d action items, %s ms latency"
                   % (size[0], self.seg, size[1], size[2], self.lat))
        self.emu = Emulator(self.workdir, account_args(size[0], size[1], size[2], self.seg, self.days,
                                                       self.lat), start_timeout=300).start()
        n = listed_counts(self.emu)
        minimum = minimum_requests(self.emu, n)
        self.results["account"] = {"listed": n, "minimum_requests": minimum,
                                   "minimum_total": sum(minimum.values())}

    def cold(self):
        """Row 1: the first cold rsync, whose mount the warm rows go on using.
        Is the disk cache there?  Try it; fall back without it."""
        a, workdir, results = self.a, self.workdir, self.results
        self.cache = os.path.join(workdir, "cache-main")
        private_dir(self.cache)
        self.local = os.path.join(workdir, "local")
        self.main_opts = self.opts + ["cache_dir=" + self.cache]
        self.phase("1. cold rsync -a MOUNT/ DIR/ with -o " + ",".join(self.main_opts))
        try:
            cold, self.mnt = cold_rsync(self.emu, workdir, "mnt", self.main_opts, self.local,
                                        a.timeout, keep=True)
        except UnknownOption as e:
            log("omifs refused cache_dir (%s): measuring without the disk cache" % e.args[0].splitlines()[-1])
            self.disk_cache = False
            self.main_opts = list(self.opts)
            rm_tree(self.local)
            cold, self.mnt = cold_rsync(self.emu, workdir, "mnt", self.main_opts, self.local,
                                        a.timeout, keep=True)
        self.listed_at = time.monotonic()
        results["disk_cache"] = self.disk_cache
        results["cold"] = [cold]
        files, nbytes = count_files(self.local)
        results["account"]["files"] = files
        results["account"]["bytes"] = nbytes

    def second_rsync(self):
        """Row 2, and the same no-op rsync between two local directories, for scale."""
        a, emu, local = self.a, self.emu, self.local
        self.phase("2. second rsync -a")
        emu.reset_stats()
        # As the README says to back up: .omifs/status is the mount's state,
        # which the first backup itself changes (transcripts cached, indexed).
        t, cp = run(["rsync", "-a", "--itemize-changes", "--stats"] + BACKUP_EXCLUDES +
                    [self.mnt.path + "/", local + "/"], timeout=a.timeout, check=False)
        text = cp.stdout.decode("utf-8", "replace")
        m_ = re.search(r"Number of regular files transferred: ([\d,]+)", text)
        itemized = [l for l in text.splitlines() if re.match(r"^[<>ch.*][fdLDS]", l)]
        second = {"seconds": t, "rsync_rc": cp.returncode, "requests": emu.requests(),
                  "request_log": emu.log_since_reset(),
                  "files_transferred": int(m_.group(1).replace(",", "")) if m_ else None,
                  "itemized": len(itemized), "itemized_sample": itemized[:20],
                  "seconds_since_cold_listing": time.monotonic() - self.listed_at}
        self.local2 = os.path.join(self.workdir, "local2")
        run(["rsync", "-a", local + "/", self.local2 + "/"], timeout=a.timeout)
        second["local_seconds_all"] = [run(["rsync", "-a", local + "/", self.local2 + "/"],
                                           timeout=a.timeout)[0] for _ in range(3)]
        second["local_seconds"] = median(second["local_seconds_all"])
        rm_tree(self.local2)
        self.results["second"] = second

    def warm(self):
        """Rows 3, 4, 3b and 3c on the cold run's mount, then its memory; the mount stops."""
        a, emu, mnt, local, results = self.a, self.emu, self.mnt, self.local, self.results
        self.phase("3-4. warm grep -r / ls -lR / find | cat: mount against the local copy")
        phrase = pick_phrase(local)
        results["phrase"] = phrase
        results["warm"] = warm_compare(emu, mnt.path, local, phrase, self.reps, self.heavy_reps,
                                       a.timeout)
        if self.disk_cache:
            self.phase("3b. the same phrase: grep -r on local disk, omifs search, ls search/<query>")
            results["search_1x"] = search_compare(emu, mnt.path, local, self.cache, phrase,
                                                  self.reps, a.timeout)
        self.phase("3c. the views: vault/ and *.jsonl copied out; warm ls -lR with -o xattr")
        results["views"] = views_compare(emu, self.workdir, mnt, local, self.main_opts, self.reps,
                                         a.timeout)
        hwm, rss = mnt.memory()
        results["memory_1x"] = {"vm_hwm_kib": hwm, "vm_rss_kib": rss,
                                "vm_hwm_after_cold_kib": results["cold"][0]["vm_hwm_kib"],
                                "after": "cold rsync, second rsync and the warm runs"}
        mnt.stop()

    def remount(self):
        """Row 5: a remount on the same disk cache, if there is one."""
        if self.disk_cache:
            self.phase("5. remount on the same disk cache: time to the first complete ls -R")
            self.results["remount"] = remount_ls(self.emu, self.workdir, "mnt-re", self.main_opts)
            self.results["remount"]["seconds_since_cold_listing"] = time.monotonic() - self.listed_at
        else:
            self.results["remount"] = None

    def local_reference(self):
        self.phase("reference: rsync -a of the local copy into an empty directory")
        lt = []
        for _ in range(self.cold_reps):
            rm_tree(self.local2)
            lt.append(run(["rsync", "-a", self.local + "/", self.local2 + "/"],
                          timeout=self.a.timeout)[0])
        rm_tree(self.local2)
        self.results["local_rsync_seconds"] = lt

    def cold_again(self):
        """Row 1's other runs, each on a fresh mount and cache."""
        workdir = self.workdir
        for r in range(1, self.cold_reps):
            self.phase("1. cold rsync again (%d of %d), fresh mount and cache" % (r + 1, self.cold_reps))
            c = os.path.join(workdir, "cache-%d" % r)
            private_dir(c)
            dest = os.path.join(workdir, "copy-%d" % r)
            res, _ = cold_rsync(self.emu, workdir, "mnt-%d" % r,
                                self.opts + (["cache_dir=" + c] if self.disk_cache else []),
                                dest, self.a.timeout)
            self.results["cold"].append(res)
            rm_tree(dest)
            rm_tree(c)

    def cold_defaults(self):
        """Row 1b, unless --skip-default."""
        if self.a.skip_default:
            return
        self.phase("1b. cold rsync with omifs' default options")
        c = os.path.join(self.workdir, "cache-default")
        private_dir(c)
        dest = os.path.join(self.workdir, "copy-default")
        self.results["cold_default"], _ = cold_rsync(
            self.emu, self.workdir, "mnt-default", ["cache_dir=" + c] if self.disk_cache else [],
            dest, self.a.timeout)
        rm_tree(dest)
        rm_tree(c)

    def export(self):
        """Row 7; the 1x emulator and the local copy go after it."""
        reps = max(self.cold_reps, 3)
        self.phase("7. manual export: curl per page, sequential, %d runs" % reps)
        runs, counts = manual_export(self.emu, self.workdir, reps)
        self.results["manual_export"] = {"runs": runs, "items": counts,
                                         "seconds_median": median([r["seconds"] for r in runs]),
                                         "requests": runs[0]["requests"]}
        self.emu.stop()
        rm_tree(self.local)

    def floors(self, scale, size, seg, start_timeout):
        """Row 8 at one scale: an emulator per dialect."""
        for profile in ("documented", "backend"):
            if scale == "1x":
                self.phase("8. the floor, %s dialect: cold rsync -a and omifs sync from empty" % profile)
            else:
                self.phase("8. the floor at 10x, %s dialect: cold rsync -a and omifs sync from empty"
                           % profile)
            emu = Emulator(self.workdir, account_args(size[0], size[1], size[2], seg, self.days,
                                                      self.lat, profile=profile),
                           start_timeout=start_timeout).start()
            floor_in(emu, self.workdir, profile, self.a, self.results, scale=scale)
            emu.stop()

    def tenx(self):
        """Row 6 at 10x: a cold rsync at the documented limits (100 a minute,
        as a real account has), then row 6b on its warm cache."""
        workdir, results, size10 = self.workdir, self.results, self.size10
        self.phase("6. starting the 10x emulator: %d conversations (%d segments), %d memories, %d action items"
                   % (size10[0], self.seg10, size10[1], size10[2]))
        emu = Emulator(workdir, account_args(size10[0], size10[1], size10[2], self.seg10, self.days,
                                             self.lat, raise_limits=False) + ["--limit", "day=1000000"],
                       start_timeout=900).start()
        n10 = listed_counts(emu)
        c = os.path.join(workdir, "cache-10x")
        private_dir(c)
        dest = os.path.join(workdir, "copy-10x")
        o = self.opts10 + (["cache_dir=" + c] if self.disk_cache else [])
        self.phase("6. cold rsync -a of the 10x account with -o " + ",".join(o))
        res, _ = cold_rsync(emu, workdir, "mnt-10x", o, dest, self.a.timeout_10x)
        files10, bytes10 = count_files(dest)
        res.update({"listed": n10, "minimum_requests": minimum_requests(emu, n10),
                    "files": files10, "bytes": bytes10,
                    "listing_pages": min_requests(n10["conversations"], LISTING_PAGE["documented"])})
        res["minimum_total"] = sum(res["minimum_requests"].values())
        results["memory_10x"] = res
        if self.disk_cache and res["rsync_rc"] == 0:
            self.phase("6b. remount on the warm 10x cache: ls -lR, a second rsync -a and cat of every file")
            results["remount_10x"] = remount_read_all(emu, workdir, "mnt-10x-re", o, dest,
                                                      self.a.timeout_10x, search_in=c)
        self.phase("cleaning up the 10x run")
        rm_tree(dest)
        rm_tree(c)
        emu.stop()


def bench(a, workdir, results):
    """make bench's whole run."""
    FullRun(a, workdir, results).run()


def bench_search(a, workdir, results):
    """--only-search: row 3b at 1x and 10x (unless --skip-10x), on the same
    seeded accounts as the full run; the emulator's limits are raised, since
    only the search is timed."""
    quick = a.quick
    size = account_size(quick)
    seg = a.segments
    reps = a.reps or (3 if quick else 5)
    phase = Phases(results)
    results["config"] = {"quick": quick, "only_search": True, "latency_ms": a.latency_ms,
                         "seed": 1, "days": 365, "reps": reps, "nproc": os.cpu_count(),
                         "account_1x": {"conversations": size[0], "memories": size[1],
                                        "action_items": size[2], "segments": seg}}
    commit = omifs_commit()
    if commit is not None:
        results["config"]["omifs_commit"] = commit
    for scale, factor, reps_here in (("1x", 1, reps), ("10x", 10, 3)):
        if scale == "10x" and a.skip_10x:
            break
        n = tuple(factor * x for x in size)
        phase("%s: starting the emulator: %d conversations, %d memories, %d action items"
              % (scale, n[0], n[1], n[2]))
        emu = Emulator(workdir, account_args(n[0], n[1], n[2], seg, 365, a.latency_ms),
                       start_timeout=900).start()
        cache = os.path.join(workdir, "cache-search-" + scale)
        private_dir(cache)
        local = os.path.join(workdir, "local-search-" + scale)
        phase("%s: cold rsync -a into a local copy, filling the cache" % scale)
        cold, _ = cold_rsync(emu, workdir, "mnt-cold-" + scale, ["cache_dir=" + cache], local,
                             a.timeout_10x)
        if cold["rsync_rc"] != 0:
            raise BenchError("the %s cold rsync exited %d" % (scale, cold["rsync_rc"]))
        phase("%s: 3b. grep -r on local disk, omifs search, ls search/<query>" % scale)
        results["search_" + scale] = remount_search(emu, workdir, "mnt-search-" + scale,
                                                    ["cache_dir=" + cache], local, cache,
                                                    a.timeout)
        results["search_" + scale]["account"] = listed_counts(emu)
        emu.stop()
        rm_tree(local)
        rm_tree(cache)
    phase("done")
