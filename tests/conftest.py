"""Fixtures shared by the test modules."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Run a test on one CPU thread: tiny models run fastest so (intra-op threads only add
    synchronization, which stalls for milliseconds per operation when another process holds a
    core), and the thread count changes the rounding of results, so runs compared bit for bit
    must use the same one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
