"""The committed gRPC code is what `make proto` makes from service/grpc_api/inference.proto."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ("inference_pb2.py", "inference_pb2.pyi", "inference_pb2_grpc.py")


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    folder = tmp_path / "service" / "grpc_api"
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "service" / "grpc_api" / "inference.proto", folder)
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I.", "--python_out=.", "--pyi_out=.",
         "--grpc_python_out=.", "service/grpc_api/inference.proto"],
        cwd=tmp_path,
        check=True,
    )  # fmt: skip
    for name in GENERATED:
        fresh = (folder / name).read_text()
        assert fresh == (ROOT / "service" / "grpc_api" / name).read_text(), f"{name}: make proto"
