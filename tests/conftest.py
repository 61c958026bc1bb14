"""Every test module starts without a Ray of this process left running by the one before: such a Ray holds ports
(the dashboard agent's) that the test clusters of later modules need. The exception: consecutive modules that use
the ``local_ray`` fixture share one embedded local Ray, so that its start and its workers' start (Python, torch
imported) are paid once for all of them.

The suite runs on two pytest-xdist workers, one test file at a time each (``-n 2 --dist loadfile`` in
pyproject.toml): much of it waits on Ray (process and job starts, polling), which the other worker fills. The
longest files go first, so that neither worker is left with a long file at the end while the other idles."""
import os
import platform
import sys

import pytest

# The clusters that tests start with `ray start` or ray's Cluster skip Ray's idle workers too, as connect() does
# for its own Rays: nothing runs on them, and each costs about 0.5 CPU-s when the cores are busiest.
os.environ.setdefault("RAY_prestart_worker_first_driver", "0")

# The claims' float results depend on the CPU kernels torch picks: ATen's vector ISA, MKL's code path and oneDNN's JIT
# ISA each change the bits of a conv + linear on the same machine. The same code and seeds moved three claims between
# the earlier sessions' machines and an AVX2-only AMD EPYC (REPRODUCTION.md). The suite pins all three to AVX2, set
# before torch loads and inherited by every Ray process the tests start; on an AVX2-only machine the pinned kernels
# give the unpinned bits (checked on a conv + linear + softmax), elsewhere they should give the same ones.
if platform.machine().lower() in ("x86_64", "amd64"):
    for name, value in (("ATEN_CPU_CAPABILITY", "avx2"), ("MKL_CBWR", "AVX2"), ("ONEDNN_MAX_CPU_ISA", "AVX2")):
        os.environ.setdefault(name, value)

_shared: dict[str, str] = {}  # the GCS address of the Ray that local_ray started or joined


@pytest.fixture(scope="module")
def local_ray():
    """An embedded local Ray with 2 CPUs and no dashboard: the one the module before left running for this one,
    else a new one."""
    from cluster import connect

    conn = connect(num_cpus=2, dashboard=False)
    _shared["address"] = conn.address
    return conn


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield  # the module's own fixtures are finalised first
    if nextitem is not None and getattr(nextitem, "module", None) is getattr(item, "module", None):
        return
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return
    shared = _shared.get("address") == ray.get_runtime_context().gcs_address
    if shared and nextitem is not None and _uses_local_ray(nextitem):
        return  # the next module goes on with this Ray
    ray.shutdown()
    _shared.clear()


def _uses_local_ray(item) -> bool:
    """Whether any test of ``item``'s module asks for ``local_ray``."""
    module = getattr(item, "module", None)
    return any("local_ray" in other.fixturenames for other in item.session.items
               if getattr(other, "module", None) is module)


# The longest files (summed test times of a full run on 2 cores, 2026-12-03, the family test's estimated), longest
# first; the rest follow in their order. pyproject.toml's --no-loadscope-reorder keeps this order (xdist would
# otherwise hand out files by their number of tests, which once left a 15-minute one-test file for last).
LONGEST_FIRST = (
    "test_reproduction.py", "test_study_integration.py", "test_reproduction_ssl.py", "test_g1.py",
    "test_reproduction_disentangled.py", "test_sfa.py", "test_study_recovery.py", "test_faults.py",
    "test_reproduction_graph.py", "test_sweep_integration.py", "test_distributed.py", "test_multinode.py",
    "test_security.py", "test_reproduction_seqtopk.py", "test_tmd.py", "test_reproduction_theory.py", "test_optgnn.py",
    "test_reproduction_reed.py", "test_icrm.py", "test_position_bias.py", "test_reproduction_longppl.py",
    "test_reproduction_nlb.py", "test_job_submit.py", "test_reproduction_ram.py", "test_cluster_stop.py",
    "test_damaged_files.py", "test_study.py", "test_report.py", "test_reproduction_ssr.py", "test_cot_length_train.py",
    "test_fixed_costs.py",
)


def pytest_collection_modifyitems(session, config, items):
    """LONGEST_FIRST's files first; of the rest, the modules that use ``local_ray`` come together, so that each
    worker goes from one to the next on the same Ray instead of starting a new one after every file that has none
    (a full run started 27 Rays and clusters instead of 41, counted by their GCS processes, 2026-12-04)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    on_local_ray = {item.path for item in items if "local_ray" in item.fixturenames}
    # stable: a file's tests keep their order
    items.sort(key=lambda item: (rank.get(item.path.name, len(rank)), item.path not in on_local_ray))
