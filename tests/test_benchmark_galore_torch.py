"""galore-torch's optimizer for the benchmarks, on machines where bitsandbytes is absent or fails to load
(the H200 run of `optimizer_gpu.py` lost its galore-torch row to that import)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("galore_torch")

ROOT = Path(__file__).parents[1]

# Runs in a fresh interpreter: galore-torch and bitsandbytes must not be imported yet, and the stand-in
# package that `galore_adamw_class` may register must not leak into other tests.
SCRIPT = """
import sys

class Refuse:
    def __init__(self, top):
        self.top = top

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == self.top:
            raise ModuleNotFoundError(f"No module named {name!r}", name=self.top)
        return None

mode, fake = sys.argv[1], sys.argv[2]
if mode == "missing":
    sys.meta_path.insert(0, Refuse("bitsandbytes"))
elif mode == "broken":
    sys.path.insert(0, fake)
elif mode == "no_galore":
    sys.meta_path.insert(0, Refuse("galore_torch"))
sys.path.insert(0, "benchmarks")
import torch
import optimizer_speed

try:
    cls = optimizer_speed.galore_adamw_class()
except ModuleNotFoundError as error:
    print("raised", error.name)
    raise SystemExit(0)
p = torch.nn.Parameter(torch.randn(8, 6))
opt = cls([{"params": [p], "rank": 2, "update_proj_gap": 5, "scale": 0.25, "proj_type": "std"}], lr=1e-2,
          no_deprecation_warning=True)
before = p.detach().clone()
p.grad = torch.randn(8, 6)
opt.step()
print("stepped", not torch.equal(before, p.detach()))
"""


def _run(mode: str, tmp_path: Path) -> str:
    fake = tmp_path / "site"
    (fake / "bitsandbytes").mkdir(parents=True, exist_ok=True)
    (fake / "bitsandbytes" / "__init__.py").write_text('raise RuntimeError("CUDA Setup failed")\n')
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode, str(fake)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("mode", ["missing", "broken"])
def test_galore_torch_optimizer_loads_without_a_working_bitsandbytes(mode, tmp_path):
    assert _run(mode, tmp_path) == "stepped True"


def test_other_import_errors_are_not_hidden(tmp_path):
    assert _run("no_galore", tmp_path) == "raised galore_torch"
