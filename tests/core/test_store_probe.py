"""The writability probe of the annotation store's folder is safe with concurrent opens."""

from __future__ import annotations

import threading
from pathlib import Path

from k49desk.core import review_store


def test_concurrent_probes_of_one_folder_all_see_it_writable(tmp_path: Path) -> None:
    # The app opens the train and test stores on two threads at once; a shared probe name
    # made one of them think the folder read-only and move its database away (seen on the
    # real display: "data folder is read-only" for a writable folder).
    results: list[bool] = []
    start = threading.Barrier(8)

    def probe() -> None:
        start.wait()
        results.extend(review_store.dir_writable(tmp_path) for _ in range(200))

    threads = [threading.Thread(target=probe) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 1600 and all(results)
    assert not list(tmp_path.iterdir())  # no probe left behind
