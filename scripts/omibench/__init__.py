"""omibench: the benchmarks' shared code, imported by scripts/bench,
scripts/bench-search and scripts/bench-heavy (Python 3 standard library).

    machinery  the emulator, omifs mounts, run(), cleanup on any exit
    workloads  what is measured: cold rsync, warm reads, search, views,
               remounts, omifs sync, the request floors, the manual export
    phases     make bench's run in order, phase by phase; --only-search's
    report     the tables and the JSON files

scripts/bench.md explains the method and each row.
"""
