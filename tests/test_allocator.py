"""keep_freed_memory: an epoch's re-allocated activations reuse freed memory instead of faulting in new pages."""
import statistics
import subprocess
import sys

import pytest

EPOCHS = """
import resource, sys, torch
from onpolicy.utils.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
faults = []
for _ in range(12):  # each 'epoch' allocates activations of several sizes (MiB) and frees them all
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    tensors = [torch.ones(mib << 18) for mib in (4, 24, 8, 16, 2, 12)]
    del tensors
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(applied, *faults)
"""


def epoch_page_faults(mode: str) -> tuple[str, list[int]]:
    """Page faults of each of 12 epochs in a fresh process, with keep_freed_memory() (mode 'keep') or not."""
    out = subprocess.run([sys.executable, "-c", EPOCHS, mode], capture_output=True, text=True, check=True).stdout
    applied, *faults = out.split()
    return applied, [int(f) for f in faults]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc settings")
def test_later_epochs_reuse_freed_memory():
    applied, faults = epoch_page_faults("keep")
    assert applied == "True"
    first_epoch = faults[0]  # 66 MiB of new pages: ~17 000 faults
    assert first_epoch > 10_000
    assert statistics.median(faults[2:]) < 0.05 * first_epoch, faults  # an odd epoch may still grow the heap

