"""Every test module starts without a Ray of this process left running by the one before: such a Ray
holds ports (the dashboard agent's) that the test clusters of later modules need."""
import pytest


@pytest.fixture(autouse=True, scope="module")
def _no_ray_left_running():
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()
