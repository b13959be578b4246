"""download_k49 against a real HTTP server on 127.0.0.1 serving small K49-format files."""

from __future__ import annotations

import hashlib
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from httpserver import FileServer, closed_port

from k49desk.core.dataset import OFFICIAL_FILES, open_dataset
from k49desk.core.download import (
    OFFICIAL,
    TOTAL_BYTES,
    DownloadProgress,
    download_k49,
    format_bytes,
)
from k49desk.core.errors import Cancelled, DownloadError

IMGS = "k49-train-imgs.npz"


def test_official_table_matches_facts() -> None:
    assert OFFICIAL["k49-train-imgs.npz"] == (
        "http://codh.rois.ac.jp/kmnist/dataset/k49/k49-train-imgs.npz", 66_117_696,
        "7ac088b20481cf51dcd01ceaab89d821")
    assert OFFICIAL["k49_classmap.csv"][1:] == (697, "f7d0d0391f68bdf0fe4cf160ceb85753")
    assert TOTAL_BYTES == 77_281_529  # the "about 77 MB" the start page promises
    assert format_bytes(TOTAL_BYTES) == "77.3 MB"
    # The official class map shipped in shared/k49 must have the md5 we check against.
    shared = Path(__file__).resolve().parents[3] / "shared" / "k49" / "k49_classmap.csv"
    if shared.exists():
        assert hashlib.md5(shared.read_bytes()).hexdigest() == OFFICIAL["k49_classmap.csv"][2]


def test_full_download_installs_verified_files_that_open_as_dataset(
        tmp_path: Path, server: FileServer, expected: dict, k49_files: dict) -> None:
    events: list[DownloadProgress] = []
    paths = download_k49(tmp_path / "data", base_url=server.base_url, expected=expected,
                         progress=lambda f, t, ev=None: events.append(ev), chunk_size=1024)
    assert [p.name for p in paths] == list(OFFICIAL_FILES)
    for p in paths:
        assert p.read_bytes() == k49_files[p.name]
    assert not list((tmp_path / "data").glob("*.part"))
    ds = open_dataset(tmp_path / "data")
    assert len(ds.split("train")) == 49 * 6 and len(ds.split("test")) == 49 * 2
    total = sum(len(b) for b in k49_files.values())
    assert events[-1].overall_done == total == events[-1].overall_total
    assert [e.file for e in events if e.status == "installed"] == list(OFFICIAL_FILES)
    done = [e.overall_done for e in events]
    assert done == sorted(done)  # overall progress never goes backwards
    img_events = [e for e in events if e.file == IMGS and e.status == "downloading"]
    assert img_events[-1].done_bytes == len(k49_files[IMGS]) == img_events[-1].total_bytes
    assert all(e.bytes_per_s >= 0 for e in events)


def test_files_already_present_with_right_md5_are_skipped(
        tmp_path: Path, server: FileServer, expected: dict) -> None:
    download_k49(tmp_path, base_url=server.base_url, expected=expected)
    served = sum(server.bytes_served.values())
    events: list[DownloadProgress] = []
    download_k49(tmp_path, base_url=server.base_url, expected=expected,
                 progress=lambda f, t, ev=None: events.append(ev))
    assert sum(server.bytes_served.values()) == served  # nothing fetched again
    assert [e.file for e in events if e.status == "skipped"] == list(OFFICIAL_FILES)


def test_resume_fetches_only_the_missing_bytes(
        tmp_path: Path, server: FileServer, expected: dict, k49_files: dict) -> None:
    data = k49_files[IMGS]
    have = len(data) // 3
    (tmp_path / (IMGS + ".part")).write_bytes(data[:have])
    events: list[DownloadProgress] = []
    download_k49(tmp_path, base_url=server.base_url, expected=expected, files=[IMGS],
                 progress=lambda f, t, ev=None: events.append(ev))
    assert (tmp_path / IMGS).read_bytes() == data
    assert server.bytes_served[IMGS] == len(data) - have
    assert server.requests == [(IMGS, f"bytes={have}-")]
    assert events[0].resumed_from == have
    assert not (tmp_path / (IMGS + ".part")).exists()


def test_server_ignoring_range_restarts_from_scratch(
        tmp_path: Path, server: FileServer, expected: dict, k49_files: dict) -> None:
    data = k49_files[IMGS]
    # A stale prefix with wrong bytes: appending the whole file to it would corrupt it.
    (tmp_path / (IMGS + ".part")).write_bytes(b"\0" * 100)
    server.mode[IMGS] = "norange"
    download_k49(tmp_path, base_url=server.base_url, expected=expected, files=[IMGS])
    assert (tmp_path / IMGS).read_bytes() == data
    assert server.bytes_served[IMGS] == len(data)


def test_partial_content_for_other_bytes_than_asked_refetches_whole_file(
        tmp_path: Path, server: FileServer, expected: dict, k49_files: dict) -> None:
    data = k49_files[IMGS]
    (tmp_path / (IMGS + ".part")).write_bytes(data[:500])
    server.mode[IMGS] = "range0"
    download_k49(tmp_path, base_url=server.base_url, expected=expected, files=[IMGS])
    assert (tmp_path / IMGS).read_bytes() == data
    assert server.requests == [(IMGS, "bytes=500-"), (IMGS, None)]


def test_cancel_mid_file_keeps_only_the_part_and_a_rerun_resumes(
        tmp_path: Path, server: FileServer, expected: dict, k49_files: dict) -> None:
    data = k49_files[IMGS]
    calls = 0

    def stop_after_three_chunks() -> bool:
        nonlocal calls
        calls += 1
        return calls > 4  # 1 poll before the file, then one per 1 kB chunk

    with pytest.raises(Cancelled, match="partial file is kept"):
        download_k49(tmp_path, base_url=server.base_url, expected=expected, files=[IMGS],
                     should_stop=stop_after_three_chunks, chunk_size=1024)
    assert not (tmp_path / IMGS).exists()
    part = tmp_path / (IMGS + ".part")
    assert part.read_bytes() == data[:3 * 1024]
    download_k49(tmp_path, base_url=server.base_url, expected=expected, files=[IMGS])
    assert (tmp_path / IMGS).read_bytes() == data
    assert server.requests[-1] == (IMGS, "bytes=3072-")


def test_md5_mismatch_is_reported_and_never_installed(
        tmp_path: Path, server: FileServer, expected: dict) -> None:
    server.mode[IMGS] = "wrong"
    with pytest.raises(DownloadError, match=rf"{IMGS}: md5 mismatch .* not installed"):
        download_k49(tmp_path, base_url=server.base_url, expected=expected)
    assert not (tmp_path / IMGS).exists()
    assert not (tmp_path / (IMGS + ".part")).exists()
    assert (tmp_path / (IMGS + ".bad")).stat().st_size == expected[IMGS][0]


def test_truncated_transfer_is_an_error_and_keeps_the_part(
        tmp_path: Path, server: FileServer, expected: dict, k49_files: dict) -> None:
    server.mode[IMGS] = "truncated"
    with pytest.raises(DownloadError, match=r"transfer ended after [\d,]+ of [\d,]+ bytes"):
        download_k49(tmp_path, base_url=server.base_url, expected=expected, files=[IMGS])
    assert not (tmp_path / IMGS).exists()
    assert (tmp_path / (IMGS + ".part")).stat().st_size == len(k49_files[IMGS]) // 2
    server.mode[IMGS] = "ok"  # the mirror recovers: the next run finishes the file
    download_k49(tmp_path, base_url=server.base_url, expected=expected, files=[IMGS])
    assert (tmp_path / IMGS).read_bytes() == k49_files[IMGS]


def test_size_mismatch_is_refused_before_streaming(
        tmp_path: Path, server: FileServer, expected: dict) -> None:
    size, md5 = expected[IMGS]
    with pytest.raises(DownloadError, match=rf"offers {size:,} bytes but {IMGS} has"):
        download_k49(tmp_path, base_url=server.base_url, expected={IMGS: (size + 5, md5)})
    assert not (tmp_path / IMGS).exists()


@pytest.mark.parametrize(("status", "reason"), [("404", "Not Found"),
                                              ("500", "Internal Server Error")])
def test_http_error_names_the_url_and_status(
        tmp_path: Path, server: FileServer, expected: dict, status: str, reason: str) -> None:
    server.mode["k49-test-labels.npz"] = status
    with pytest.raises(DownloadError) as ei:
        download_k49(tmp_path, base_url=server.base_url, expected=expected)
    assert str(ei.value) == f"{server.base_url}k49-test-labels.npz: HTTP {status} {reason}"
    assert (tmp_path / "k49-train-imgs.npz").exists()  # files before it are installed
    assert not (tmp_path / "k49-test-labels.npz").exists()


def test_refused_connection_is_one_clear_error(tmp_path: Path, expected: dict) -> None:
    port = closed_port()
    with pytest.raises(DownloadError) as ei:
        download_k49(tmp_path, base_url=f"http://127.0.0.1:{port}/k49/", expected=expected,
                     timeout=5)
    assert str(ei.value) == f"cannot reach 127.0.0.1:{port}: connection refused"
    assert not [p for p in tmp_path.iterdir()]


def test_dns_failure_says_the_host_and_that_the_computer_may_be_offline(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*_a: object, **_k: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)  # never a real lookup in tests
    with pytest.raises(DownloadError) as ei:
        download_k49(tmp_path)
    assert str(ei.value) == ("cannot reach codh.rois.ac.jp: name lookup failed (Name or "
                             "service not known); is the computer offline?")


def test_server_that_never_answers_times_out_with_one_error(
        tmp_path: Path, server: FileServer, expected: dict) -> None:
    server.mode["k49-train-imgs.npz"] = "mute"
    with pytest.raises(DownloadError) as ei:
        download_k49(tmp_path, base_url=server.base_url, expected=expected, timeout=0.3)
    assert str(ei.value) == f"cannot reach 127.0.0.1:{server.port}: timed out"
    assert not (tmp_path / "k49-train-imgs.npz").exists()


def test_stalled_transfer_times_out_and_keeps_what_arrived(
        tmp_path: Path, server: FileServer, expected: dict, k49_files: dict) -> None:
    server.mode[IMGS] = "stall"
    server.stall_after = 4096
    with pytest.raises(DownloadError, match=r"connection lost after 4,096 of [\d,]+ bytes \(timed "
                                            r"out\); the partial file is kept"):
        download_k49(tmp_path, base_url=server.base_url, expected=expected, timeout=0.3)
    assert (tmp_path / (IMGS + ".part")).read_bytes() == k49_files[IMGS][:4096]
    assert not (tmp_path / IMGS).exists()


def test_unknown_file_name_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="unknown file"):
        download_k49(tmp_path, files=["k49-valid-imgs.npz"])


def test_cli_offline_prints_one_line_and_exits_2(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from k49desk.cli import main

    port = closed_port()
    rc = main(["download", "--data-dir", str(tmp_path), "--base-url",
               f"http://127.0.0.1:{port}/"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [f"k49desk: error: cannot reach 127.0.0.1:{port}: "
                                "connection refused"]


def test_cli_md5_mismatch_exits_2_naming_the_file(
        tmp_path: Path, server: FileServer, expected: dict, capsys,  # noqa: ANN001
        monkeypatch: pytest.MonkeyPatch) -> None:
    from k49desk.cli import main

    # The CLI checks against the official table; point that table at the small test files.
    monkeypatch.setattr("k49desk.core.download.EXPECTED", expected)
    server.mode["k49_classmap.csv"] = "wrong"
    rc = main(["download", "--data-dir", str(tmp_path), "--base-url", server.base_url])
    assert rc == 2
    err = capsys.readouterr().err
    assert "k49desk: error: k49_classmap.csv: md5 mismatch (got " in err
    assert "Traceback" not in err
    assert not (tmp_path / "k49_classmap.csv").exists()


def test_cli_downloads_everything_and_says_where(
        tmp_path: Path, server: FileServer, expected: dict, capsys,  # noqa: ANN001
        monkeypatch: pytest.MonkeyPatch) -> None:
    from k49desk.cli import main

    monkeypatch.setattr("k49desk.core.download.EXPECTED", expected)
    assert main(["download", "--data-dir", str(tmp_path), "--base-url", server.base_url]) == 0
    assert (f"5 files ready in {tmp_path} (md5 verified; train 294, test 98 images)"
            in capsys.readouterr().out)
    assert main(["download", "--data-dir", str(tmp_path), "--base-url", server.base_url]) == 0
    assert capsys.readouterr().err.count("already present, md5 ok (skipped)") == 5


# Runs the real CLI in a child process whose official table is the test files' table.
_CHILD = """
import sys
import k49desk.core.download as d
d.EXPECTED = {n: (int(s), m) for n, s, m in (x.split(":") for x in sys.argv[1].split(";"))}
from k49desk.cli import main
sys.exit(main(["download", "--data-dir", sys.argv[2], "--base-url", sys.argv[3]]))
"""


def test_cli_ctrl_c_keeps_part_prints_one_line_exits_130(
        tmp_path: Path, server: FileServer, expected: dict, k49_files: dict) -> None:
    server.mode[IMGS] = "stall"
    server.stall_after = 4096
    table = ";".join(f"{n}:{s}:{m}" for n, (s, m) in expected.items())
    # Ctrl-C as at a terminal: a suite started in the background inherits SIGINT ignored
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, table, str(tmp_path), server.base_url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    part = tmp_path / (IMGS + ".part")
    try:
        assert server.stalled.wait(60), "the CLI never reached the stalled file"
        for _ in range(2400):  # let the client store what it received before it blocks again
            if part.exists() and part.stat().st_size == 4096:
                break
            time.sleep(0.025)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        server.release.set()
    assert proc.returncode == 130, err
    last = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip()][-1]
    assert last == "k49desk: interrupted; partial download kept for resume"
    assert "Traceback" not in err
    assert part.read_bytes() == k49_files[IMGS][:4096]
    assert not (tmp_path / IMGS).exists()


def test_downloaded_arrays_are_plain_uint8(tmp_path: Path, server: FileServer,
                                           expected: dict) -> None:
    download_k49(tmp_path, base_url=server.base_url, expected=expected,
                 files=["k49-test-labels.npz"])
    with np.load(tmp_path / "k49-test-labels.npz", allow_pickle=False) as z:
        assert z["arr_0"].dtype == np.uint8 and z["arr_0"].shape == (98,)
