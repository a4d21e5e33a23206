"""Student entries of a class folder: what each entry is, safe unpacking, the submission root, hashes.

A class folder holds one entry per student: a folder (a clone of the student's repository) or a
`.zip` / `.tar.gz` / `.tgz` archive (an LMS download). The student id is the entry's name without
the archive suffix. Archives are untrusted: unpacking refuses (with a reason for the gradebook)
members that would land outside the destination (`../`, absolute paths, links pointing out),
device files, more than `Limits.max_files` members or more than `Limits.max_bytes` unpacked bytes
(counted while writing, so a zip whose headers lie is stopped too), and corrupt data.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from grader.workspace import SKIPPED, looks_like_submission

log = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = {".zip": "zip", ".tar.gz": "tar", ".tgz": "tar"}
# Entries that are never a student: OS and LMS clutter.
IGNORED_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}
CHUNK = 1 << 20

# Gradebook statuses of entries that never reach the grader.
UNSUPPORTED, DUPLICATE, BROKEN_ARCHIVE, NOT_A_SUBMISSION = "unsupported", "duplicate", "broken-archive", "not-a-submission"


@dataclass(frozen=True)
class Limits:
    """Unpacking limits for one archive."""

    max_bytes: int = 512 * 2**20   # total unpacked bytes (the reference repository is a few MB)
    max_files: int = 20_000        # members, directories included


@dataclass(frozen=True)
class Entry:
    """One student's entry in the class folder.

    `kind` is "folder", "zip" or "tar" for something to grade; for anything else `problem` holds
    the gradebook (status, reason), e.g. ("unsupported", "a file that is not ...").
    """

    student: str
    path: Path
    kind: str | None
    problem: tuple[str, str] | None = None


class ArchiveError(Exception):
    """An archive cannot be unpacked safely; `str(exc)` is the reason shown in the gradebook."""


def _student_id(name: str) -> tuple[str, str | None]:
    lower = name.lower()
    for suffix, kind in ARCHIVE_SUFFIXES.items():
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], kind
    return name, None


def discover(submissions: Path) -> list[Entry]:
    """Every entry of `submissions` (a directory), sorted by student id.

    Hidden names and OS clutter (`__MACOSX`, `.DS_Store`) are ignored. Symbolic links, other files
    and a second entry with the same student id (`alice/` and `alice.zip`) come back with a problem.
    Raises NotADirectoryError when `submissions` is not a directory.
    """
    if not submissions.is_dir():
        raise NotADirectoryError(f"{submissions} is not a directory of student submissions")
    entries: dict[str, Entry] = {}
    problems: list[Entry] = []
    for path in sorted(submissions.iterdir(), key=lambda p: p.name):
        name = path.name
        if name.startswith(".") or name in IGNORED_NAMES:
            continue
        student, kind = _student_id(name)
        if path.is_symlink():
            entry = Entry(student, path, None, (UNSUPPORTED, "a symbolic link: give the folder or archive itself"))
        elif path.is_dir():
            entry = Entry(student, path, "folder")
        elif kind and path.is_file():
            entry = Entry(student, path, kind)
        else:
            entry = Entry(student, path, None,
                          (UNSUPPORTED, f"{name} is not a folder or a .zip/.tar.gz/.tgz archive"))
        if student in entries:
            first = entries[student].path.name
            problems.append(Entry(f"{student} ({name})", path, None,
                                  (DUPLICATE, f"{name} and {first} are both student {student!r}; {first} was graded")))
            continue
        entries[student] = entry
    return sorted([*entries.values(), *problems], key=lambda e: e.student)


# -- unpacking ------------------------------------------------------------------------------------
def _check_name(name: str) -> str:
    """The member's path relative to the destination; ArchiveError when it would escape it."""
    clean = name.replace("\\", "/")
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":"):
        raise ArchiveError(f"member {name!r} has an absolute path")
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"member {name!r} points outside the archive (..)")
    if not parts:
        raise ArchiveError(f"member {name!r} has an empty name")
    return "/".join(parts)


def _check_link(rel: str, target: str) -> None:
    if target.startswith("/") or posixpath.normpath(posixpath.join(posixpath.dirname(rel), target)).startswith(".."):
        raise ArchiveError(f"symbolic link {rel!r} points outside the archive ({target!r})")


def _inside(dest: Path, path: Path) -> None:
    real = os.path.realpath(path)
    if os.path.commonpath([real, os.path.realpath(dest)]) != os.path.realpath(dest):
        raise ArchiveError(f"{path.relative_to(dest)} would be written outside the archive through a link")


def _unzip(path: Path, dest: Path, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > limits.max_files:
                raise ArchiveError(f"{len(members)} members, more than the limit of {limits.max_files}")
            declared = sum(m.file_size for m in members)
            if declared > limits.max_bytes:
                raise ArchiveError(f"unpacks to {declared / 2**20:.0f} MiB, more than the limit of "
                                   f"{limits.max_bytes / 2**20:.0f} MiB")
            written = 0
            for member in members:
                rel = _check_name(member.filename)
                target = dest / rel
                mode = member.external_attr >> 16
                if stat.S_ISLNK(mode):
                    link = archive.read(member).decode("utf-8", "replace")
                    _check_link(rel, link)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _inside(dest, target.parent)
                    target.symlink_to(link)
                    continue
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    _inside(dest, target)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                _inside(dest, target.parent)
                with archive.open(member) as source, open(target, "xb") as sink:
                    while chunk := source.read(CHUNK):
                        written += len(chunk)
                        if written > limits.max_bytes:  # headers can lie: count what really comes out
                            raise ArchiveError(f"unpacks to more than {limits.max_bytes / 2**20:.0f} MiB "
                                               "(the sizes in its headers are wrong)")
                        sink.write(chunk)
                if mode & 0o111:
                    target.chmod(0o755)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise ArchiveError(f"not a readable zip archive: {exc}") from None
    except FileExistsError as exc:
        raise ArchiveError(f"member {Path(exc.filename).relative_to(dest)} appears twice") from None


def _untar(path: Path, dest: Path, limits: Limits) -> None:
    try:
        with tarfile.open(path, "r:*") as archive:
            members, total = [], 0
            for member in archive:  # streaming: a bomb of tiny members stops at the count limit
                members.append(member)
                if len(members) > limits.max_files:
                    raise ArchiveError(f"more than the limit of {limits.max_files} members")
                rel = _check_name(member.name)
                if member.issym():
                    _check_link(rel, member.linkname)
                elif member.islnk():
                    _check_name(member.linkname)
                elif not (member.isfile() or member.isdir()):
                    raise ArchiveError(f"member {member.name!r} is a device, FIFO or other special file")
                total += member.size if member.isfile() else 0
                if total > limits.max_bytes:
                    raise ArchiveError(f"unpacks to more than {limits.max_bytes / 2**20:.0f} MiB")
            # The standard library's "data" filter (PEP 706) is the second line of defence.
            archive.extractall(dest, members=members, filter="data")
    except tarfile.FilterError as exc:
        raise ArchiveError(f"unsafe member: {exc}") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ArchiveError(f"not a readable .tar.gz archive: {exc}") from None


def unpack(entry: Entry, dest: Path, *, limits: Limits = Limits()) -> Path:
    """Unpack the archive `entry` into `dest` (created; must not exist) and return `dest`.

    Raises ArchiveError (with the reason for the gradebook) for a corrupt or unsafe archive; what
    was written so far stays in `dest` for the caller to remove.
    """
    dest.mkdir(parents=True)
    if entry.kind == "zip":
        _unzip(entry.path, dest, limits)
    elif entry.kind == "tar":
        _untar(entry.path, dest, limits)
    else:
        raise ValueError(f"{entry.path} is not an archive (kind {entry.kind!r})")
    return dest


def submission_root(path: Path, *, depth: int = 3) -> Path:
    """The submission inside `path`: `path` itself, or the one folder it wraps (up to `depth` deep).

    An archive often wraps the repository in a top folder (`alice-docker-for-mlops-main/`); OS
    clutter beside it (`__MACOSX`, hidden files) is ignored. Raises ArchiveError saying what was
    found when no submission is there (the caller reports it as not-a-submission).
    """
    current = path
    for _ in range(depth + 1):
        if looks_like_submission(current):
            return current
        children = sorted(c for c in current.iterdir() if not c.name.startswith(".") and c.name not in IGNORED_NAMES)
        folders = [c for c in children if c.is_dir() and not c.is_symlink()]
        if len(folders) != 1:
            break
        current = folders[0]
    listing = ", ".join(c.name + ("/" if c.is_dir() else "") for c in children[:8]) or "nothing"
    more = f" and {len(children) - 8} more" if len(children) > 8 else ""
    where = current.relative_to(path).as_posix()
    raise ArchiveError(
        "no lab submission found: expected starter/ or Dockerfile.mlapp, Dockerfile.mlflow, docker-compose.yml "
        f"or .dockerignore at the top or inside one top folder; found in {where if where != '.' else 'the top'}: "
        f"{listing}{more}")


# -- content hashes -------------------------------------------------------------------------------
def _hash_file(digest, path: Path) -> None:
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)


def content_hash(entry: Entry) -> str:
    """sha256 (hex) of what would be graded: the archive's bytes, or a folder's files.

    A folder hashes relative paths, file contents, the executable bit and symbolic-link targets,
    skipping what the grader never copies (grader.workspace.SKIPPED: .git, venvs, caches, logs), so
    a `git fetch` or a local venv does not cause a regrade. OSError when the entry cannot be read.
    """
    digest = hashlib.sha256()
    if entry.kind in ("zip", "tar"):
        _hash_file(digest, entry.path)
        return digest.hexdigest()
    root = entry.path
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED)
        base = Path(directory)
        for name in sorted(files):
            if name in SKIPPED or name.endswith(".pyc"):
                continue
            path = base / name
            rel = path.relative_to(root).as_posix().encode()
            if path.is_symlink():
                digest.update(b"L\0" + rel + b"\0" + os.readlink(path).encode() + b"\0")
                continue
            executable = b"x" if os.access(path, os.X_OK) else b"-"
            digest.update(b"F\0" + rel + b"\0" + executable + b"\0")
            _hash_file(digest, path)
        for name in dirs:
            if (base / name).is_symlink():
                rel = (base / name).relative_to(root).as_posix().encode()
                digest.update(b"L\0" + rel + b"\0" + os.readlink(base / name).encode() + b"\0")
    return digest.hexdigest()
