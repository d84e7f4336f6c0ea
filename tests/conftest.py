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


@pytest.fixture
def run_killed_at_update(monkeypatch):
    """run(argv, update, trainer_cls=PPOTrainer): train with `argv` and kill the run (a
    KeyboardInterrupt, as a signal would) when its update number `update` starts; the
    trainer is restored afterwards, so the test can resume the run."""
    from onpolicy.algorithms.mappo.trainer import PPOTrainer
    from onpolicy.train import main

    def run(argv, update, trainer_cls=PPOTrainer):
        original, calls = trainer_cls.train, {"n": 0}

        def train(self, buffer):
            calls["n"] += 1
            if calls["n"] == update:
                raise KeyboardInterrupt("simulated kill")
            return original(self, buffer)

        monkeypatch.setattr(trainer_cls, "train", train)
        with pytest.raises(KeyboardInterrupt):
            main(argv)
        monkeypatch.setattr(trainer_cls, "train", original)

    return run
