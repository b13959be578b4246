"""Opening and validating K49 folders; every bad input gets a message naming the file."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_K49

from k49desk.core.classes import OFFICIAL_CLASSES, official_classmap_csv
from k49desk.core.dataset import CACHE_DIR_NAME, open_dataset, write_split
from k49desk.core.errors import DataError


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_opens_valid_folder_and_counts(tiny_dir: Path) -> None:
    ds = open_dataset(tiny_dir)
    assert ds.split_names == ["train", "test"]
    assert len(ds.split("train")) == 49 * 12
    assert ds.split("train").images.shape == (49 * 12, 28, 28)
    assert (ds.split("test").counts() == 4).all()
    assert ds.classes == OFFICIAL_CLASSES
    assert not ds.is_demo


def test_classmap_is_the_official_file_byte_for_byte() -> None:
    if not (SHARED_K49 / "k49_classmap.csv").exists():
        pytest.skip("../shared/k49 is not available")
    assert official_classmap_csv().encode() == (
        SHARED_K49 / "k49_classmap.csv"
    ).read_bytes().replace(b"\r\n", b"\n")


def test_official_label_files_open_with_their_counts(tmp_path: Path) -> None:
    if not (SHARED_K49 / "k49-train-labels.npz").exists():
        pytest.skip("../shared/k49 is not available")
    from k49desk.core.classes import OFFICIAL_TEST_COUNTS, OFFICIAL_TRAIN_COUNTS
    from k49desk.core.dataset import read_npz_array

    assert (
        tuple(np.bincount(read_npz_array(SHARED_K49 / "k49-train-labels.npz")))
        == OFFICIAL_TRAIN_COUNTS
    )
    assert (
        tuple(np.bincount(read_npz_array(SHARED_K49 / "k49-test-labels.npz")))
        == OFFICIAL_TEST_COUNTS
    )


def test_test_split_only_is_valid(tmp_path: Path) -> None:
    from k49helpers import make_k49_folder

    ds = open_dataset(make_k49_folder(tmp_path / "t", splits=("test",)))
    assert ds.split_names == ["test"]
    with pytest.raises(DataError, match="no train split"):
        ds.split("train")


def test_zero_sample_classes_count_zero(tmp_path: Path) -> None:
    from k49helpers import make_k49_folder

    ds = open_dataset(make_k49_folder(tmp_path / "t", classes=[4, 6, 12]))
    c = ds.split("train").counts()
    assert c.shape == (49,) and c[4] == 12 and c.sum() == 36 and (c == 0).sum() == 46


def _no_decompression(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*a: object, **k: object) -> None:
        raise AssertionError("decompressed the source although the cache is valid")

    monkeypatch.setattr("k49desk.core.datacache.NpzArrayReader", fail)


def test_reopen_uses_the_cache_and_invalidates_on_change(
        tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds1 = open_dataset(tiny_dir)
    assert (tiny_dir / CACHE_DIR_NAME / "k49-train-imgs.npy").exists()
    with monkeypatch.context() as m:
        _no_decompression(m)
        ds2 = open_dataset(tiny_dir)
        assert isinstance(open_dataset(tiny_dir, mmap=True).split("train").images, np.memmap)
    assert not ds2.split("train").images.flags.writeable  # shared by the app: read-only
    np.testing.assert_array_equal(ds1.split("train").images, ds2.split("train").images)
    # Rewrite the labels with other content: the cache must not serve the old ones.
    new = np.zeros(49 * 12, np.uint8)
    write_split(tiny_dir, "train", np.asarray(ds2.split("train").images), new)
    st = (tiny_dir / "k49-train-labels.npz").stat()
    os.utime(tiny_dir / "k49-train-labels.npz", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    ds3 = open_dataset(tiny_dir)
    assert ds3.split("train").counts()[0] == 49 * 12


def test_readonly_folder_falls_back_to_user_cache(tiny_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    ro = tiny_dir.parent / "ro"
    shutil.copytree(tiny_dir, ro, ignore=shutil.ignore_patterns(CACHE_DIR_NAME))
    os.chmod(ro, 0o555)
    try:
        ds = open_dataset(ro)
        assert len(ds.split("test")) == 49 * 4
        assert not (ro / CACHE_DIR_NAME).exists()  # left alone even when running as root
        _no_decompression(monkeypatch)
        assert len(open_dataset(ro).split("test")) == 49 * 4  # served by the user cache
    finally:
        os.chmod(ro, 0o755)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        (
            "k49-train-imgs.npz",
            _npz_bytes(images=np.zeros((3, 28, 28), np.uint8)),
            "no array named 'arr_0'",
        ),
        (
            "k49-train-imgs.npz",
            _npz_bytes(arr_0=np.zeros((3, 28, 28), np.float32)),
            "must be uint8",
        ),
        (
            "k49-train-imgs.npz",
            _npz_bytes(arr_0=np.zeros((3, 32, 32), np.uint8)),
            r"shape \(N, 28, 28\)",
        ),
        ("k49-train-labels.npz", _npz_bytes(arr_0=np.zeros((3, 1), np.uint8)), r"shape \(N,\)"),
        ("k49-train-labels.npz", _npz_bytes(arr_0=np.zeros(3, np.int64)), "labels must be uint8"),
        ("k49-train-labels.npz", _npz_bytes(arr_0=np.zeros(2, np.uint8)), "2 labels for 3 images"),
        (
            "k49-train-labels.npz",
            _npz_bytes(arr_0=np.array([0, 49, 1], np.uint8)),
            "outside the class map",
        ),
        ("k49-train-labels.npz", _npz_bytes(arr_0=np.array([0, None, 1], object)), "pickled"),
        ("k49-train-imgs.npz", b"this is not a zip file at all", "k49-train-imgs.npz"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(
    tmp_path: Path, name: str, content: bytes, match: str
) -> None:
    write_split(tmp_path, "train", np.zeros((3, 28, 28), np.uint8), np.zeros(3, np.uint8))
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=match) as ei:
        open_dataset(tmp_path)
    assert name in str(ei.value)


def test_truncated_npz_is_reported(tiny_dir: Path) -> None:
    p = tiny_dir / "k49-test-imgs.npz"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(DataError, match="k49-test-imgs.npz: truncated or corrupt"):
        open_dataset(tiny_dir)


def test_corrupt_member_inside_zip_is_reported(tiny_dir: Path) -> None:
    p = tiny_dir / "k49-test-imgs.npz"
    data = bytearray(p.read_bytes())
    with zipfile.ZipFile(p) as z:
        off = z.getinfo("arr_0.npy").header_offset + 30 + len("arr_0.npy") + 200
    data[off : off + 50] = b"\x00" * 50
    p.write_bytes(bytes(data))
    with pytest.raises(DataError, match="k49-test-imgs.npz"):
        open_dataset(tiny_dir)


def test_missing_partner_file(tiny_dir: Path) -> None:
    (tiny_dir / "k49-test-labels.npz").unlink()
    with pytest.raises(DataError, match="k49-test-labels.npz: missing"):
        open_dataset(tiny_dir)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("idx,cp,ch\n", "header"),
        ("index,codepoint,char\n0,U+3042,あ\n", "1 classes, expected 49"),
        ("index,codepoint,char\n1,U+3042,あ\n", "expected index 0"),
        ("index,codepoint,char\n0,U+3042\n", "2 fields"),
    ],
)
def test_bad_classmap(tiny_dir: Path, text: str, match: str) -> None:
    (tiny_dir / "k49_classmap.csv").write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=match) as ei:
        open_dataset(tiny_dir)
    assert "k49_classmap.csv" in str(ei.value)


def test_empty_or_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no K49 files"):
        open_dataset(tmp_path)
    with pytest.raises(DataError, match="folder not found"):
        open_dataset(tmp_path / "nope")


def test_real_folder_with_empty_classes_opens(real10: Path) -> None:
    ds = open_dataset(real10, use_cache=False)
    c = ds.split("train").counts()
    assert c.sum() == 4000 and (c > 0).sum() == 10


def test_atomic_writes_are_readable_by_others_and_keep_existing_mode(tmp_path: Path) -> None:
    from k49desk.core.atomic import atomic_write_text

    p = tmp_path / "a.txt"
    atomic_write_text(p, "x")
    assert p.stat().st_mode & 0o777 == 0o644
    os.chmod(p, 0o640)
    atomic_write_text(p, "y")
    assert p.stat().st_mode & 0o777 == 0o640 and p.read_text() == "y"


def test_atomic_write_to_missing_folder_names_the_file(tmp_path: Path) -> None:
    from k49desk.core.atomic import atomic_write_text
    from k49desk.core.errors import K49Error

    with pytest.raises(K49Error, match="nope"):
        atomic_write_text(tmp_path / "nope" / "a.txt", "x")
    assert list(tmp_path.iterdir()) == []
