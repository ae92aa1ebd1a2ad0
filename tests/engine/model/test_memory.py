"""Memory given back to the system (engine/model/memory.py): what glibc's allocator keeps after a big
job is freed, as after a model's restore, leaves the process when asked."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROGRAM = """
from parakeet_desktop.engine.model.memory import give_back, resident_bytes
blocks = [bytes(1024) + bytes([i % 256]) for i in range(300_000)]  # 300 MB of malloc'd blocks
pinned = [bytes(2048) for _ in range(10)]  # after them on the heap: free() alone cannot trim it
before = resident_bytes()
del blocks
freed = resident_bytes()
print(before, freed, give_back(), resident_bytes())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_memory_leaves_the_process_when_given_back():
    run = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120, check=True)
    before, freed, asked, after = run.stdout.split()
    assert asked == "True"
    assert int(freed) > int(before) * 0.8  # freed, but still the process's
    assert int(after) < int(freed) - 200 * 2**20  # given back
