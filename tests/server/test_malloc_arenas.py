"""``malloc_arenas``: the server process bounds glibc's malloc arenas (docs/memory.md)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from server.dav import process


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt(M_ARENA_MAX) is glibc's")
def test_the_arena_bound_is_set_on_glibc_and_left_alone_at_zero() -> None:
    # In a child process: the bound is process-wide and this one runs the other tests.
    code = ("from server.dav import process; "
            "print(process.limit_malloc_arenas(0), process.limit_malloc_arenas(2))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]


def test_the_bound_is_a_setting_with_a_default_of_one() -> None:
    from server import config

    assert config.Settings(database="", host="127.0.0.1", port=0, max_body=1, log_level="error",
                           auth_delay=0.0).malloc_arenas == 1
    assert process.M_ARENA_MAX == -8
