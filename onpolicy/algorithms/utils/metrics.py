"""Training metrics that stay on the device until the update is over.

Reading a tensor with `.item()` waits for the device to finish everything queued before it; doing
that for every metric of every minibatch serialises a GPU with the Python loop. Trainers return
0-dim tensors, MetricMeans adds them up where they live, and `means` reads them all at once.
"""
from __future__ import annotations

import torch


class MetricMeans:
    """Per-key means of metric dicts whose values are 0-dim tensors (or plain numbers)."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor | float] = {}
        self.counts: dict[str, int] = {}

    def add(self, metrics: dict) -> None:
        for key, value in metrics.items():
            value = value.detach() if torch.is_tensor(value) else value
            self.sums[key] = self.sums[key] + value if key in self.sums else value
            self.counts[key] = self.counts.get(key, 0) + 1

    def unread(self) -> dict:
        """Every key's mean, left where it is (a 0-dim tensor for tensor-valued keys)."""
        return {k: v / self.counts[k] for k, v in self.sums.items()}

    def means(self) -> dict[str, float]:
        """Every key's mean as a float, with one device-to-host copy for all tensor-valued keys."""
        tensor_keys = [k for k, v in self.sums.items() if torch.is_tensor(v)]
        wide = lambda t: t.float() if t.device.type == "mps" else t.double()  # noqa: E731  (MPS has no float64)
        read = torch.stack([wide(self.sums[k]) for k in tensor_keys]).tolist() if tensor_keys else []
        values = {**{k: v for k, v in self.sums.items() if not torch.is_tensor(v)}, **dict(zip(tensor_keys, read))}
        return {k: values[k] / self.counts[k] for k in self.sums}


def mean_of(records: list[dict], read: bool = True) -> dict:
    """Means of a list of metric dicts: floats, or with read=False tensors left on the device."""
    means = MetricMeans()
    for record in records:
        means.add(record)
    return means.means() if read else means.unread()
