"""Student entries and archives: discovery, safe unpacking (hostile archives too), roots, hashes. No engine."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from grader.batch import archives
from grader.batch.archives import ArchiveError, Entry, Limits


def submission(path: Path) -> Path:
    (path / "starter").mkdir(parents=True)
    (path / "Dockerfile.mlapp").write_text("FROM python:3.11-slim-bookworm\n")
    (path / "starter" / "app.py").write_text("print('hi')\n")
    return path


def make_zip(path: Path, members: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def make_tar(path: Path, members: dict[str, bytes], *, symlinks: dict[str, str] | None = None,
             fifo: str | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tf.addfile(info)
        if fifo:
            info = tarfile.TarInfo(fifo)
            info.type = tarfile.FIFOTYPE
            tf.addfile(info)
    return path


def entry(path: Path) -> Entry:
    student, kind = archives._student_id(path.name)
    return Entry(student, path, kind)


GOOD = {"repo-main/Dockerfile.mlapp": b"FROM python:3.11-slim-bookworm\n", "repo-main/starter/app.py": b"x = 1\n"}


def test_discover_names_students_and_flags_what_cannot_be_graded(tmp_path: Path):
    submission(tmp_path / "alice")
    make_zip(tmp_path / "bob.zip", GOOD)
    make_tar(tmp_path / "carol.tar.gz", GOOD)
    make_tar(tmp_path / "dan.tgz", GOOD)
    make_zip(tmp_path / "alice.zip", GOOD)          # a second entry for alice
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    (tmp_path / ".DS_Store").write_bytes(b"")
    (tmp_path / "__MACOSX").mkdir()
    os.symlink(tmp_path / "alice", tmp_path / "eve")
    found = {e.student: e for e in archives.discover(tmp_path)}
    assert found["alice"].kind == "folder" and found["bob"].kind == "zip"
    assert found["carol"].kind == "tar" and found["dan"].kind == "tar"
    assert found["alice (alice.zip)"].problem[0] == "duplicate"
    assert "alice" in found["alice (alice.zip)"].problem[1]
    assert found["notes.pdf"].problem[0] == "unsupported"
    assert found["eve"].problem[0] == "unsupported"
    assert not {".DS_Store", "__MACOSX"} & set(found)


def test_discover_refuses_a_missing_folder(tmp_path: Path):
    with pytest.raises(NotADirectoryError, match="not a directory"):
        archives.discover(tmp_path / "nope")


@pytest.mark.parametrize("maker", [make_zip, make_tar], ids=["zip", "tar"])
def test_unpack_finds_the_submission_inside_a_top_folder(tmp_path: Path, maker):
    archive = maker(tmp_path / ("s.zip" if maker is make_zip else "s.tar.gz"),
                    {**GOOD, "__MACOSX/._repo-main": b"junk"})
    dest = archives.unpack(entry(archive), tmp_path / "out")
    root = archives.submission_root(dest)
    assert root == dest / "repo-main"
    assert (root / "starter" / "app.py").read_text() == "x = 1\n"


@pytest.mark.parametrize("maker", [make_zip, make_tar], ids=["zip", "tar"])
@pytest.mark.parametrize("name, needle", [("../evil.txt", "outside"), ("a/../../evil.txt", "outside"),
                                          ("/etc/evil.txt", "absolute")])
def test_unpack_refuses_members_that_escape(tmp_path: Path, maker, name, needle):
    archive = maker(tmp_path / ("s.zip" if maker is make_zip else "s.tar.gz"), {**GOOD, name: b"pwned"})
    with pytest.raises(ArchiveError, match=needle):
        archives.unpack(entry(archive), tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and not Path("/etc/evil.txt").exists()


@pytest.mark.parametrize("maker", [make_zip, make_tar], ids=["zip", "tar"])
@pytest.mark.parametrize("target", ["/etc/passwd", "../../outside", "starter/../../../x"])
def test_unpack_refuses_symlinks_pointing_out(tmp_path: Path, maker, target):
    archive = maker(tmp_path / ("s.zip" if maker is make_zip else "s.tar.gz"), GOOD,
                    symlinks={"repo-main/link": target})
    with pytest.raises(ArchiveError, match="symbolic link"):
        archives.unpack(entry(archive), tmp_path / "out")


@pytest.mark.parametrize("maker", [make_zip, make_tar], ids=["zip", "tar"])
def test_unpack_keeps_symlinks_that_stay_inside(tmp_path: Path, maker):
    archive = maker(tmp_path / ("s.zip" if maker is make_zip else "s.tar.gz"), GOOD,
                    symlinks={"repo-main/link.py": "starter/app.py"})
    dest = archives.unpack(entry(archive), tmp_path / "out")
    assert os.readlink(dest / "repo-main" / "link.py") == "starter/app.py"


def test_zip_bomb_over_the_size_limit_is_refused(tmp_path: Path):
    archive = make_zip(tmp_path / "bomb.zip", {"big.bin": b"\0" * (3 * 2**20)})
    assert archive.stat().st_size < 2**16   # compresses ~1000:1
    with pytest.raises(ArchiveError, match="MiB"):
        archives.unpack(entry(archive), tmp_path / "out", limits=Limits(max_bytes=2**20))


def test_zip_whose_headers_lie_about_sizes_is_stopped_while_writing(tmp_path: Path):
    archive = make_zip(tmp_path / "liar.zip", {"big.bin": b"\0" * (3 * 2**20)})
    raw = bytearray(archive.read_bytes())
    # Patch the uncompressed size in the central directory entry (offset 24) to 10 bytes.
    cd = raw.rfind(b"PK\x01\x02")
    raw[cd + 24:cd + 28] = (10).to_bytes(4, "little")
    archive.write_bytes(bytes(raw))
    with pytest.raises(ArchiveError):
        archives.unpack(entry(archive), tmp_path / "out", limits=Limits(max_bytes=2**20))
    written = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written <= 2**20


def test_tar_over_the_size_limit_is_refused(tmp_path: Path):
    archive = make_tar(tmp_path / "bomb.tar.gz", {"big.bin": b"\0" * (3 * 2**20)})
    with pytest.raises(ArchiveError, match="MiB"):
        archives.unpack(entry(archive), tmp_path / "out", limits=Limits(max_bytes=2**20))
    assert not (tmp_path / "out" / "big.bin").exists()


@pytest.mark.parametrize("maker", [make_zip, make_tar], ids=["zip", "tar"])
def test_too_many_files_are_refused(tmp_path: Path, maker):
    archive = maker(tmp_path / ("s.zip" if maker is make_zip else "s.tar.gz"),
                    {f"f{i}.txt": b"x" for i in range(30)})
    with pytest.raises(ArchiveError, match="limit of 20"):
        archives.unpack(entry(archive), tmp_path / "out", limits=Limits(max_files=20))


def test_tar_special_files_are_refused(tmp_path: Path):
    archive = make_tar(tmp_path / "s.tar.gz", GOOD, fifo="repo-main/pipe")
    with pytest.raises(ArchiveError, match="special file"):
        archives.unpack(entry(archive), tmp_path / "out")


@pytest.mark.parametrize("name, data", [("bad.zip", b"PK\x03\x04 not a zip"), ("bad.tar.gz", b"\x1f\x8b garbage"),
                                        ("empty.zip", b""), ("text.tgz", b"hello")])
def test_corrupt_archives_give_a_reason(tmp_path: Path, name, data):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(ArchiveError, match="not a readable"):
        archives.unpack(entry(tmp_path / name), tmp_path / "out")


def test_truncated_zip_gives_a_reason(tmp_path: Path):
    archive = make_zip(tmp_path / "t.zip", {"a.bin": os.urandom(200_000)})
    archive.write_bytes(archive.read_bytes()[:-30_000])
    with pytest.raises(ArchiveError, match="not a readable"):
        archives.unpack(entry(archive), tmp_path / "out")


def test_submission_root_says_what_it_found(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(ArchiveError, match="found in the top: a/, b/, notes.txt"):
        archives.submission_root(tmp_path)
    assert archives.submission_root(submission(tmp_path / "a" / "deeper")) == tmp_path / "a" / "deeper"


def test_content_hash_follows_what_is_graded(tmp_path: Path):
    folder = submission(tmp_path / "alice")
    first = archives.content_hash(entry(folder))
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / "starter" / "__pycache__").mkdir()
    assert archives.content_hash(entry(folder)) == first          # local state: no regrade
    (folder / "Dockerfile.mlapp").write_text("FROM python:3.12-slim-bookworm\n")
    assert archives.content_hash(entry(folder)) != first          # an edit: regrade
    archive = make_zip(tmp_path / "bob.zip", GOOD)
    assert archives.content_hash(entry(archive)) == archives.content_hash(entry(archive))
