"""Test configuration: CPU only, 8 fake devices, no network.

Modules whose code should be dtype-clean mark themselves with
``pytestmark = pytest.mark.strict_dtypes`` to run under JAX's strict dtype
promotion (optax and Flax internals are not strict-clean, so it is not global).
"""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TQDM_DISABLE", "1")
# pytest -n 2 on 2 cores: one compute thread per worker avoids oversubscription
# (measured 3-5x faster for attack loops on a loaded 2-core machine).
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_cpu_multi_thread_eigen=false").strip()

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_num_cpu_devices", 8)


def pytest_configure(config):
  config.addinivalue_line(
      "markers", "strict_dtypes: run under jax_numpy_dtype_promotion=strict")


@pytest.fixture(autouse=True)
def _dtype_promotion(request):
  mode = "strict" if request.node.get_closest_marker("strict_dtypes") else "standard"
  with jax.numpy_dtype_promotion(mode):
    yield


@pytest.fixture(autouse=True, scope="session")
def _temporary_files_under_pytest(tmp_path_factory):
  """Libraries' own ``tempfile`` directories go under pytest's base temp
  (kept for the last 3 runs only): TFDS's ``DatasetInfo.initialize_from_bucket``
  makes an empty ``tmp…tfds`` directory for every builder of an unprepared
  dataset and never removes it, hundreds per run of the suite."""
  import tempfile  # pylint: disable=import-outside-toplevel
  previous = tempfile.tempdir
  tempfile.tempdir = str(tmp_path_factory.mktemp("tempfile"))
  yield
  tempfile.tempdir = previous
