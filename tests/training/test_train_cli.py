import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training.checkpoint import load_checkpoint
from training.config import PRESETS
from training.train import main as train_main
from training.trainer import inference_modules_from_checkpoint

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_dry_run_every_preset(name: str, tmp_path: Path) -> None:
    train_main(["--preset", name, "--dry-run", "--out", str(tmp_path), "--quiet"])
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["step"] == 3 and ckpt["epoch"] == 0
    if name not in ("toy",):
        assert (tmp_path / "samples_001.png").is_file()
        assert (tmp_path / "reconstructions_001.png").is_file()


def test_checkpoint_roundtrip_gives_identical_outputs(tmp_path: Path) -> None:
    train_main(
        [
            "--preset",
            "mnist-cond",
            "--dry-run",
            "--out",
            str(tmp_path),
            "--quiet",
            "--ema-decay",
            "0.9",
        ]
    )
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["model_config"]["num_classes"] == 10  # self-describing
    _, a = inference_modules_from_checkpoint(ckpt)
    _, b = inference_modules_from_checkpoint(load_checkpoint(tmp_path / "checkpoint.pt"))
    z, y = torch.randn(5, 32), torch.arange(5)
    with torch.no_grad():
        assert torch.equal(a["decoder"](z, y), b["decoder"](z, y))


def test_checkpoint_refuses_pickled_objects(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pt"
    torch.save({"format": "ali-checkpoint/1", "obj": object()}, evil)
    with pytest.raises(Exception, match="(?i)weights_only|unpickl|global"):
        load_checkpoint(evil)


def test_resume_continues_where_it_stopped(
    tiny_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 2-epoch run killed after its first checkpoint, then resumed, ends where an
    uninterrupted 2-epoch run ends (same LR schedule, data order, RNG and optimiser state)."""
    import training.train as train_module

    common = [
        "--preset",
        "mnist",
        "--data",
        str(tiny_mnist),
        "--batch-size",
        "16",
        "--quiet",
        "--width",
        "0.25",
        "--epochs",
        "2",
    ]
    threads = torch.get_num_threads()
    try:
        train_main([*common, "--out", str(tmp_path / "straight")])
        real_save = train_module.save_checkpoint

        def save_then_crash(path: Path, payload: dict) -> None:
            real_save(path, payload)
            raise KeyboardInterrupt  # the process dies right after epoch 1's checkpoint

        monkeypatch.setattr(train_module, "save_checkpoint", save_then_crash)
        with pytest.raises(KeyboardInterrupt):
            train_main([*common, "--out", str(tmp_path / "split")])
        monkeypatch.undo()
        assert load_checkpoint(tmp_path / "split" / "checkpoint.pt")["epoch"] == 0
        train_main(
            [
                "--resume",
                str(tmp_path / "split" / "checkpoint.pt"),
                "--out",
                str(tmp_path / "split"),
                "--quiet",
            ]
        )
    finally:
        torch.set_num_threads(threads)
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert a["epoch"] == b["epoch"] == 1 and a["step"] == b["step"] == 8
    for net in ("encoder", "decoder", "discriminator"):
        for k, v in a["state"][net].items():
            # A wrong resume (data order, RNG, optimiser state) moves weights by ~lr = 2e-4.
            torch.testing.assert_close(
                v, b["state"][net][k], rtol=0, atol=1e-6, msg=f"{net}.{k} differs after resume"
            )


def test_torchrun_two_processes(tiny_mnist: Path, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "training.train",
        "--preset",
        "mnist",
        "--data",
        str(tiny_mnist),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--width",
        "0.25",
        "--out",
        str(tmp_path),
        "--quiet",
        "--device",
        "cpu",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["step"] == 64 // 2 // 8  # each rank saw half the data
