"""Hostile data folders and .npz files: each gets a one-line message naming the file, and
nothing is allocated or written beyond the limits (docs/LIMITS.md)."""

from __future__ import annotations

import io
import os
import pickle
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hostile_helpers import GIB, bomb_npz, npy_header, raw_npz, run_cli
from k49helpers import make_k49_folder

from k49desk.core.dataset import (
    CACHE_DIR_NAME,
    images_file,
    labels_file,
    open_dataset,
    write_split,
)
from k49desk.core.errors import DataError
from k49desk.core.limits import MAX_IMAGES

IMGS = "k49-train-imgs.npz"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A tiny valid folder with a train split only (the file under test replaces one)."""
    return make_k49_folder(tmp_path / "d", n_train=2, n_test=0, splits=("train",))


def _refused(root: Path, match: str) -> str:
    with pytest.raises(DataError, match=match) as ei:
        open_dataset(root)
    msg = str(ei.value)
    assert "\n" not in msg
    return msg


def _no_cached_npy(root: Path) -> None:
    cache = root / CACHE_DIR_NAME
    assert not cache.exists() or not list(cache.glob("*imgs.npy"))


# ---- memory: sizes in a file are claims, checked before anything is allocated ----------
def test_npz_claiming_4_million_blank_images_is_refused_before_inflating(folder: Path) -> None:
    bomb_npz(folder / IMGS, 4_000_000)  # 3.1 MB on disk, 3.1 GB inflated
    assert (folder / IMGS).stat().st_size < 4_000_000
    r = run_cli(["info", "--data-dir", str(folder)], data_limit=GIB)
    assert r.rc == 2
    assert f"{IMGS}: claims 4,000,000 entries, over the limit of {MAX_IMAGES:,d}" in r.error_line
    assert r.maxrss_mb < 400  # refused from the header: nothing of the 3.1 GB was allocated
    _no_cached_npy(folder)


def test_small_npz_inflating_far_beyond_real_data_is_a_decompression_bomb(folder: Path) -> None:
    bomb_npz(folder / IMGS, 300_000)  # within the count limit, 235 MB from 240 kB
    tracemalloc.start()
    try:
        msg = _refused(folder, "decompression bomb")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert IMGS in msg and "real K49 inflates 2.8x" in msg
    assert peak < 20 << 20
    _no_cached_npy(folder)


def test_first_open_streams_into_the_cache_without_a_second_copy(tmp_path: Path) -> None:
    n = 20_000  # 15.7 MB of images
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 49, n).astype(np.uint8)
    write_split(tmp_path, "train", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), labels)
    tracemalloc.start()
    try:
        ds = open_dataset(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < n * 784 + (8 << 20)  # one copy of the images (plus 1 MB chunks), never two
    assert (tmp_path / CACHE_DIR_NAME / "k49-train-imgs.npy").exists()
    assert len(ds.split("train")) == n


def test_npy_header_claiming_more_than_10_kb_is_refused(folder: Path) -> None:
    head = b"\x93NUMPY\x02\x00" + (200_000).to_bytes(4, "little")
    raw_npz(folder / IMGS, head + b"{" * 200_000)
    msg = _refused(folder, "header claims 200,000 bytes, over the 10,000 allowed")
    assert "pickled" not in msg


def test_zip_directory_size_disagreeing_with_the_header_is_damage(folder: Path) -> None:
    raw_npz(folder / IMGS, npy_header((5, 28, 28)) + bytes(2 * 784))
    _refused(folder, "header implies .* the file is damaged")


# ---- what a file is: each kind named correctly (not "holds pickled Python objects") ------
@pytest.mark.parametrize(("content", "match"), [
    (b"\x00" + os.urandom(4096), "not a .npz archive"),
    (b"", "the file is empty"),
    (pickle.dumps([1, 2, 3]), "holds pickled Python objects"),
    (b"PK\x03\x04" + os.urandom(500), "truncated or corrupt .npz"),
])
def test_non_npz_content_is_named_for_what_it_is(folder: Path, content: bytes,
                                                 match: str) -> None:
    (folder / IMGS).write_bytes(content)
    assert IMGS in _refused(folder, match)


def test_bare_npy_under_an_npz_name(folder: Path) -> None:
    buf = io.BytesIO()
    np.save(buf, np.zeros((2, 28, 28), np.uint8))
    (folder / IMGS).write_bytes(buf.getvalue())
    _refused(folder, "is a bare .npy array, not a .npz archive")


def test_dev_zero_named_like_a_data_file_is_not_read(folder: Path) -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    (folder / IMGS).unlink()
    (folder / IMGS).symlink_to("/dev/zero")
    _refused(folder, "is a character device, not a regular .npz file")


def test_fifo_named_like_a_data_file_does_not_hang_info(folder: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    (folder / IMGS).unlink()
    os.mkfifo(folder / IMGS)
    r = run_cli(["info", "--data-dir", str(folder)], timeout=60)
    assert r.rc == 2 and "is a named pipe (FIFO), not a regular .npz file" in r.error_line


def test_fifo_as_class_map_does_not_hang(folder: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    (folder / "k49_classmap.csv").unlink()
    os.mkfifo(folder / "k49_classmap.csv")
    r = run_cli(["info", "--data-dir", str(folder)], timeout=60)
    assert r.rc == 2 and "k49_classmap.csv: is a named pipe (FIFO)" in r.error_line


def test_folder_named_like_a_data_file(folder: Path) -> None:
    (folder / IMGS).unlink()
    (folder / IMGS).mkdir()
    _refused(folder, "is a folder, not a regular .npz file; refused")


def test_dangling_symlink_named_like_a_data_file(folder: Path) -> None:
    (folder / IMGS).unlink()
    (folder / IMGS).symlink_to(folder / "gone.npz")
    _refused(folder, "symbolic link to a file that does not exist")


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    _refused(tmp_path / "f", "not a folder")


def test_fortran_order_arrays_are_read_right(folder: Path) -> None:
    imgs = np.asfortranarray(np.arange(2 * 784, dtype=np.uint8).reshape(2, 28, 28))
    write_split(folder, "train", imgs, np.zeros(2, np.uint8))
    with open(folder / IMGS, "wb") as f:
        np.savez(f, imgs)
    for _ in range(2):  # from the source, then from the cache
        np.testing.assert_array_equal(open_dataset(folder).split("train").images, imgs)


# ---- class map: bounded, every field checked ---------------------------------------------
def test_huge_class_map_is_refused_without_reading_it(folder: Path) -> None:
    cm = folder / "k49_classmap.csv"
    with open(cm, "r+b") as f:
        f.truncate(300 << 20)  # sparse: 300 MB claimed, nothing on disk
    tracemalloc.start()
    try:
        msg = _refused(folder, r"314,572,800 bytes, over the 64.0 KiB limit for a class map")
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()
    assert "k49_classmap.csv" in msg


@pytest.mark.parametrize(("row", "match"), [
    ("0,U+3042," + "あ" * 20_000, "is not one character"),
    ("0,U+3044,あ", r"codepoint 'U\+3044' does not match char 'あ' \(U\+3042\)"),
    ("0,U+0007,\x07", "not a printable character"),
    ('0,U+3042,"あ', "not valid CSV"),
])
def test_bad_class_map_fields(folder: Path, row: str, match: str) -> None:
    (folder / "k49_classmap.csv").write_text("index,codepoint,char\n" + row + "\n",
                                             encoding="utf-8")
    assert "k49_classmap.csv: line 2" in _refused(folder, match)


# ---- the cache validates itself ----------------------------------------------------------
@pytest.mark.parametrize("manifest", ["[1]", '{"version": 1}', '{"version": 2, "files": [3]}',
                                      '{"version": 2, "files": {"k49-train-imgs.npz": 5}}',
                                      "{not json", "\x00\xff"])
def test_garbage_manifest_is_rebuilt_not_a_traceback(folder: Path, manifest: str) -> None:
    want = open_dataset(folder).split("train").labels.copy()
    (folder / CACHE_DIR_NAME / "manifest.json").write_text(manifest, encoding="latin1")
    ds = open_dataset(folder)
    np.testing.assert_array_equal(ds.split("train").labels, want)
    assert open_dataset(folder).split("train").labels.tolist() == want.tolist()


@pytest.mark.parametrize("damage", ["labels_out_of_range", "truncated", "garbage_header",
                                    "flipped_pixel", "symlink"])
def test_damaged_cached_array_is_rebuilt_from_the_intact_source(folder: Path,
                                                                damage: str) -> None:
    ds = open_dataset(folder)
    imgs, labels = ds.split("train").images.copy(), ds.split("train").labels.copy()
    cache = folder / CACHE_DIR_NAME
    lab, img = cache / "k49-train-labels.npy", cache / "k49-train-imgs.npy"
    if damage == "labels_out_of_range":
        np.save(lab, np.full(labels.shape, 200, np.uint8))
    elif damage == "truncated":
        img.write_bytes(img.read_bytes()[:300])
    elif damage == "garbage_header":
        img.write_bytes(os.urandom(img.stat().st_size))
    elif damage == "flipped_pixel":
        data = bytearray(img.read_bytes())
        data[-1] ^= 0xFF
        img.write_bytes(bytes(data))
    else:
        other = folder.parent / "elsewhere.npy"
        np.save(other, np.zeros_like(imgs))
        img.unlink()
        img.symlink_to(other)
    ds2 = open_dataset(folder)  # no error: the source is fine
    np.testing.assert_array_equal(ds2.split("train").images, imgs)
    np.testing.assert_array_equal(ds2.split("train").labels, labels)


def test_same_size_rewrite_with_restored_mtime_is_not_served_stale(folder: Path) -> None:
    p = folder / labels_file("train")
    images = open_dataset(folder).split("train").images.copy()
    first = open_dataset(folder).split("train").labels.copy()
    write_split(folder, "train", images, first, compressed=False)  # stored: size = content
    assert open_dataset(folder).split("train").labels.tolist() == first.tolist()  # cached
    st = p.stat()
    changed = (first + 1) % 49
    write_split(folder, "train", images, changed, compressed=False)
    assert p.stat().st_size == st.st_size
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime put back
    np.testing.assert_array_equal(open_dataset(folder).split("train").labels, changed)


def test_symlinked_cache_folder_is_not_followed(folder: Path, tmp_path: Path) -> None:
    target = tmp_path / "somewhere-else"
    target.mkdir()
    (folder / CACHE_DIR_NAME).symlink_to(target)
    assert len(open_dataset(folder).split("train")) == 98
    assert list(target.iterdir()) == []  # nothing written through the link
    assert len(open_dataset(folder).split("train")) == 98


def test_truncating_the_cache_while_open_does_not_kill_the_process(folder: Path) -> None:
    code = f"""
import numpy as np, pathlib
from k49desk.core.dataset import open_dataset
root = pathlib.Path({str(folder)!r})
open_dataset(root)
ds = open_dataset(root)
for p in (root / '.k49desk-cache').glob('*.npy'):
    open(p, 'r+b').truncate(10)
print(int(ds.split('train').images.astype(np.int64).sum()) >= 0, len(ds.split('train')))
"""
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr  # SIGBUS would be -7
    assert p.stdout.split() == ["True", "98"]


# ---- folders: permissions, names that are not UTF-8, the demo folder ---------------------
def test_folder_without_read_permission(folder: Path) -> None:
    if os.geteuid() != 0:
        os.chmod(folder, 0)
        try:
            _refused(folder, "no permission to read this folder")
        finally:
            os.chmod(folder, 0o755)
        return
    # As root permissions do not apply: check it as 'nobody' in a child process, on a
    # folder it may reach but not read (and on one behind a folder it may not enter).
    import shutil
    import subprocess
    import sys
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="k49desk-perm-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        locked = base / "locked"
        shutil.copytree(folder, locked)
        os.chmod(locked, 0o700)
        for target, want in ((locked, "no permission to read this folder"),
                             (folder, "cannot be reached (permission denied on a parent")):
            # Everything is imported first: the interpreter's own files may be root's only.
            code = ("import os, k49desk.commands.info, k49desk.core.dataset, k49desk.core.stats\n"
                    "from k49desk.cli import build_parser, main\nbuild_parser()\n"
                    "os.setgid(65534); os.setuid(65534)\n"
                    f"raise SystemExit(main(['info', '--data-dir', {str(target)!r}]))")
            p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               timeout=60, env=dict(os.environ, HOME="/tmp"))
            assert p.returncode == 2, p.stderr
            assert want in p.stderr and p.stderr.count("\n") == 1
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_folder_name_that_is_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from k49desk.cli import main

    bad = Path(os.fsdecode(bytes(tmp_path) + b"/data-\xff\xfe"))
    make_k49_folder(bad, n_train=1, n_test=1)
    assert main(["info", "--data-dir", str(bad)]) == 0
    assert "data-\\udcff\\udcfe" in capsys.readouterr().out
    assert main(["info", "--data-dir", str(bad), "--json"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["data_dir"] == str(bad)
    assert main(["info", "--data-dir", str(bad / "missing")]) == 2
    assert "missing: folder not found" in capsys.readouterr().err


def test_default_folder_names_the_demo_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from k49desk.cli import main

    monkeypatch.chdir(tmp_path)
    make_k49_folder(tmp_path / "data" / "demo", n_train=1, n_test=1)
    assert main(["info"]) == 2
    err = capsys.readouterr().err
    assert "data: no K49 files here" in err
    assert f"--data-dir {Path('data') / 'demo'}" in err
    assert main(["info", "--data-dir", "data/demo"]) == 0


def test_split_files_are_named_in_the_count_mismatch(folder: Path) -> None:
    write_split(folder, "train", np.zeros((3, 28, 28), np.uint8), np.zeros(3, np.uint8))
    with open(folder / labels_file("train"), "wb") as f:
        np.savez(f, np.zeros(2, np.uint8))
    _refused(folder, f"2 labels for 3 images in {images_file('train')}")


def test_a_split_is_written_as_a_pair_or_not_at_all(folder: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    before = {f: (folder / f).read_bytes() for f in (IMGS, labels_file("train"))}
    real_fsync = os.fsync
    calls = []

    def fail_second(fd: int) -> None:  # the labels (staged second) hit a full disk
        calls.append(fd)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fail_second)
    with pytest.raises(DataError, match="k49-train-labels.npz: the disk is full"):
        write_split(folder, "train", np.zeros((5, 28, 28), np.uint8), np.zeros(5, np.uint8))
    assert {f: (folder / f).read_bytes() for f in before} == before  # the old pair, whole
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
