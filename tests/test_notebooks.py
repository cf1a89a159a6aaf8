"""Every notebook runs top to bottom in smoke mode on CPU with 8 fake devices
(its last cell asserts that the smoke results are sane)."""
import os
import pathlib

import nbclient
import nbformat
import pytest

NOTEBOOKS = sorted((pathlib.Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def _kernel_env():
  env = dict(os.environ)
  env.update(SMOKE="1", MPLBACKEND="Agg", JAX_PLATFORMS="cpu", TQDM_DISABLE="1",
             XLA_FLAGS="--xla_force_host_platform_device_count=8 "
                       "--xla_cpu_multi_thread_eigen=false")
  env.pop("JAX_NUM_CPU_DEVICES", None)
  return env


def run_notebook(path: pathlib.Path, timeout: int = 300):
  """Executes ``path`` in a fresh kernel; returns the executed notebook."""
  nb = nbformat.read(path, as_version=4)
  client = nbclient.NotebookClient(
      nb, timeout=timeout, kernel_name="python3",
      resources={"metadata": {"path": str(path.parent.parent)}})
  client.execute(env=_kernel_env())
  return nb


def _outputs(nb):
  return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                 for o in c.get("outputs", []))


def test_there_are_five_notebooks_with_badge_install_and_mesh_cells():
  assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_", "04_", "05_"]
  for path in NOTEBOOKS:
    nb = nbformat.read(path, as_version=4)
    text = [c.source for c in nb.cells]
    assert "colab-badge.svg" in text[0] and path.name in text[0]
    assert '"google.colab" in sys.modules' in text[1] and "pip" in text[1]
    assert "jax.devices()" in text[2] and "train.data_mesh()" in text[2]
    assert 'os.environ.get("SMOKE")' in text[1]
    # Stored without outputs, and the last cell holds the checks.
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert text[-1].count("assert ") >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_smoke_mode(path):
  nb = run_notebook(path)
  out = _outputs(nb)
  assert "smoke mode: True" in out
  assert "TFRT_CPU_7" in out or "CpuDevice(id=7)" in out  # 8 fake devices
  assert "all checks passed" in out
