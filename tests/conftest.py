"""Suite-wide settings."""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: intra-op threads only add contention on a 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
