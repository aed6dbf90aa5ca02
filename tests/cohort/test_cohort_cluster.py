"""The local cluster a cohort starts: what its worker processes run with."""

import os

from calcdx.cohort.run import _client


def test_local_workers_run_one_thread_each_without_the_profiler_and_exit_promptly():
    # defined here so that it is sent to the workers by value
    def _worker_settings() -> dict:
        import dask

        return {
            "profile": dask.config.get("distributed.worker.profile.enabled"),
            "threads": {name: os.environ.get(name) for name in
                        ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
            "pid": os.getpid(),
        }

    client = _client(None, 1)
    try:
        (settings,) = client.run(_worker_settings).values()
        (info,) = client.scheduler_info()["workers"].values()
        plugins = client.run(lambda dask_worker: sorted(dask_worker.plugins)).values()
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    assert settings["pid"] != os.getpid()  # a separate process
    assert info["nthreads"] == 1
    # one BLAS/OpenMP thread per worker: two workers never oversubscribe two cores
    assert settings["threads"] == {name: "1" for name in settings["threads"]}
    assert settings["profile"] is False
    assert all("calcdx-quick-exit" in names for names in plugins)
