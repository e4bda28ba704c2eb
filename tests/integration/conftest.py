"""Fixtures for the mounted tests: shared read-only mounts in each profile."""

import pytest

from emulator import Emulator, UNLIMITED
from mount import Mount


@pytest.fixture
def mount_factory():
    """mount_factory(url, *options, ...) -> a started Mount, unmounted at teardown."""
    mounts = []

    def factory(*args, **kwargs):
        m = Mount(*args, **kwargs)
        mounts.append(m)
        try:
            return m.start()
        except Exception:
            m.cleanup()
            raise

    yield factory
    for m in reversed(mounts):
        m.cleanup()


@pytest.fixture(scope="module", params=["documented", "backend"])
def shared(request):
    """One emulator and one mount per profile, for tests that only read.
    Small pages so that every collection spans more than two of them."""
    emu = Emulator(*UNLIMITED, profile=request.param).start()
    m = Mount(emu.url, "page_size=20", "transcript_batch=10", "transcript_page=20")
    try:
        m.start()
        yield emu, m
    finally:
        m.cleanup()
        emu.stop()
