"""Finding and reading landing files (the landing contract's layout and formats).

Pure functions over a DuckDB connection: no Dagster here, so the loaders and the
command line share them and tests call them directly.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from orchestration.contract import ENTITIES, FILE_SUFFIXES, Entity

_NAME_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")


class LandingFileError(Exception):
    """A landing file that cannot be loaded at all (the whole file is refused)."""

    def __init__(self, source_file: str, problem: str, fix: str, column: str | None = None):
        self.source_file = source_file
        self.column = column
        self.problem = problem
        self.fix = fix
        where = f"{source_file}, column '{column}'" if column else source_file
        super().__init__(f"{where}: {problem} {fix}")


@dataclass(frozen=True)
class LandingFile:
    entity: str
    path: Path
    rel_path: str
    """Path relative to the landing folder, with forward slashes: the file's identity."""
    size: int
    mtime: float

    @property
    def name_date(self) -> date | None:
        """The date a file name carries, if any (used to defer future files only)."""
        match = _NAME_DATE.search(self.path.name)
        if not match:
            return None
        try:
            return date.fromisoformat(match.group(1))
        except ValueError:
            return None

    def sha256(self) -> str:
        digest = hashlib.sha256()
        with self.path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()


def has_supported_suffix(path: Path) -> bool:
    return path.name.lower().endswith(FILE_SUFFIXES)


@dataclass(frozen=True)
class LandingScan:
    """What an entity's folder holds: the files to read, and the entries refused."""

    files: list[LandingFile]
    refused: list[LandingFileError]
    """Entries that are never read, each with its message: every symbolic link (to a file
    or a folder, wherever it points), a landing-suffixed entry that is not a regular file,
    and a folder that cannot be listed."""


def scan_entity_folder(landing_dir: Path, entity: Entity) -> LandingScan:
    """The landing files of an entity in a stable order (by path), and what is refused.

    Symbolic links are not followed, and say so rather than vanish: a link out of the
    landing folder would load a file nobody dropped there (and rewrite its lineage as if
    they had), and a link inside it loads the same rows twice or under another entity's
    name. The landing folder itself may be a link: it is configuration, not a drop.
    """
    folder = landing_dir / entity.name
    root = landing_dir.resolve()
    if folder.is_symlink():
        return LandingScan([], [_refused_link(landing_dir, root, folder)])
    if not folder.is_dir():
        return LandingScan([], [])
    files: list[LandingFile] = []
    refused: list[LandingFileError] = []

    def unlisted(exc: OSError) -> None:
        rel = Path(exc.filename).relative_to(landing_dir).as_posix()
        refused.append(
            LandingFileError(
                rel,
                f"the folder cannot be listed ({exc.strerror}), so nothing in it was read.",
                "Make it readable to the loader.",
            )
        )

    # os.walk does not walk into linked folders (followlinks=False); they are refused here.
    for dirpath, dirnames, filenames in os.walk(folder, onerror=unlisted):
        here = Path(dirpath)
        for name in sorted(dirnames):
            if (here / name).is_symlink():
                dirnames.remove(name)
                refused.append(_refused_link(landing_dir, root, here / name))
        for name in filenames:
            path = here / name
            if not has_supported_suffix(path):
                continue
            rel_path = path.relative_to(landing_dir).as_posix()
            if path.is_symlink():
                refused.append(_refused_link(landing_dir, root, path))
            elif not path.is_file():
                refused.append(
                    LandingFileError(
                        rel_path,
                        "is not a regular file (a pipe, socket or device), so it was not read.",
                        "Drop a regular file instead.",
                    )
                )
            else:
                stat = path.stat()
                files.append(LandingFile(entity.name, path, rel_path, stat.st_size, stat.st_mtime))
    files.sort(key=lambda f: f.path)
    refused.sort(key=lambda e: e.source_file)
    return LandingScan(files, refused)


def _refused_link(landing_dir: Path, root: Path, link: Path) -> LandingFileError:
    """The message for a symbolic link in the landing folder: where it points, and why
    that is not followed."""
    rel_path = link.relative_to(landing_dir).as_posix()
    target = Path(os.path.realpath(link))
    if not target.exists():
        return LandingFileError(
            rel_path,
            f"is a symbolic link to {os.readlink(link)}, which does not exist; symbolic "
            "links are not followed.",
            "Remove the link, or put the file itself in its place.",
        )
    what = "folder" if target.is_dir() else "file"
    if target.is_relative_to(root):
        return LandingFileError(
            rel_path,
            f"is a symbolic link to the {what} {target.relative_to(root).as_posix()} inside "
            "the landing folder; symbolic links are not followed (a linked file would load "
            "twice, or as another entity's), so nothing was read through it.",
            "Remove the link; to load the file here, move or copy it here instead.",
        )
    return LandingFileError(
        rel_path,
        f"is a symbolic link to the {what} {target}, outside the landing folder; symbolic "
        "links are not followed, so nothing was read through it.",
        f"Copy the {what} itself into the landing folder, or remove the link.",
    )


def discover_files(landing_dir: Path, entity: Entity) -> list[LandingFile]:
    """Every landing file of an entity that may be read, in a stable order (by path).
    Refused entries (symbolic links, ...) are left out; `scan_entity_folder` lists them."""
    return scan_entity_folder(landing_dir, entity).files


def sql_string(value: str) -> str:
    """A SQL string literal holding `value`."""
    return "'" + value.replace("'", "''") + "'"


def csv_header(path: Path, rel_path: str) -> list[str]:
    """The header row of a CSV landing file, checked for the problems a reader would hide."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh), None)
    except UnicodeDecodeError as exc:
        raise LandingFileError(
            rel_path,
            f"the file is not UTF-8 text ({exc.reason} near its start).",
            "Export the file as UTF-8 and drop it again.",
        ) from exc
    except (OSError, EOFError, csv.Error) as exc:
        raise LandingFileError(
            rel_path, f"the file cannot be read ({exc}).", "Check that it is a complete CSV file."
        ) from exc
    if not header or all(not name.strip() for name in header):
        raise LandingFileError(
            rel_path, "the file is empty (no header row).", "Drop a file with a header row."
        )
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise LandingFileError(
                rel_path, "the header names this column twice.", "Rename one of them.", column=name
            )
        seen.add(name)
    return header


_GLOB_CHARACTERS = re.compile(r"[*?\[\]{}]")


def landing_suffix(path: Path) -> str:
    """The contract suffix a landing file's name ends with, lower-cased (`.csv.gz`, ...)."""
    name = path.name.lower()
    for suffix in sorted(FILE_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise ValueError(f"unsupported landing file type: {path}")


@contextmanager
def literal_path(path: Path) -> Iterator[str]:
    """A path that DuckDB reads as exactly `path`, whatever characters its name holds.

    DuckDB's readers expand `*`, `?`, `[...]` and `**` in every path they are given (in a
    list of one path too) and have no switch to turn that off: a landing file named
    `*.csv` was read as its whole folder. So they never see a landing path: they get a
    link with a plain name in a fresh temporary folder, which the operating system, not
    DuckDB, follows to the file. The link keeps the file's suffix, from which DuckDB
    tells a gzip-compressed CSV.
    """
    with tempfile.TemporaryDirectory(prefix="landing-") as folder:
        link = Path(folder) / f"file{landing_suffix(path)}"
        if _GLOB_CHARACTERS.search(str(link)):
            raise RuntimeError(
                f"The temporary folder {folder} has a glob character in its path, so DuckDB "
                "would not read landing files literally. Set TMPDIR to a plain folder."
            )
        link.symlink_to(path.absolute())
        yield str(link)


@contextmanager
def open_landing_file(landing_file: LandingFile) -> Iterator[str]:
    """A DuckDB table expression reading one landing file as it is, valid inside the block.

    Every reader of landing files goes through here (the loader, the window scan, the
    landing sensor), so a file name is taken literally everywhere.
    """
    with literal_path(landing_file.path) as path:
        yield _reader_sql(landing_file, path)


def _reader_sql(landing_file: LandingFile, path: str) -> str:
    suffix = landing_suffix(landing_file.path)
    quoted = sql_string(path)
    if suffix in (".csv", ".csv.gz"):
        # The header is read here, not sniffed: a sniffer can take a ragged row for the
        # header. Every column is text: types are checked per row by the loader.
        header = csv_header(landing_file.path, landing_file.rel_path)
        columns = ", ".join(f"{sql_string(c)}: 'VARCHAR'" for c in header)
        return (
            f"read_csv({quoted}, header = true, auto_detect = false, columns = {{{columns}}},"
            " delim = ',', quote = '\"', escape = '\"', strict_mode = true, encoding = 'utf-8')"
        )
    if suffix == ".parquet":
        return f"read_parquet({quoted})"
    return f"read_json({quoted}, format = 'newline_delimited', sample_size = -1)"


def read_error_message(exc: duckdb.Error) -> str:
    """The first line of a DuckDB reader error, which names the problem."""
    return str(exc).strip().splitlines()[0]


def file_event_dates(
    con: duckdb.DuckDBPyConnection, landing_file: LandingFile, not_after: datetime | None = None
) -> tuple[date, date] | None:
    """First and last event date (UTC) of one landing file, rows after `not_after` left
    out; None when it has no readable dated row or cannot be read (the loader reports it)."""
    entity = ENTITIES[landing_file.entity]
    try:
        with open_landing_file(landing_file) as relation:
            row = con.execute(
                f"""
                with parsed as (
                    select timezone('UTC', try_cast(cast("{entity.event_time}" as varchar)
                                                    as timestamptz)) as ts
                    from {relation}
                )
                select min(ts)::date, max(ts)::date from parsed
                where ? is null or ts <= ?
                """,
                [not_after, not_after],
            ).fetchone()
    except (duckdb.Error, LandingFileError):
        return None
    if row is None or row[0] is None:
        return None
    return row[0], row[1]


def event_date_range(
    con: duckdb.DuckDBPyConnection, landing_dir: Path, not_after: datetime
) -> tuple[date | None, date | None]:
    """Earliest and latest event date in the landing folder.

    The latest date is the default as-of date; the earliest date of activity
    (usage, billing, surveys, support) is where scoring history starts, or the
    earliest account creation when there is no activity data at all. Rows dated
    after `not_after` are future-dated (they will be quarantined) and ignored
    here; files that cannot be read are skipped (the loader reports them).
    """
    earliest: dict[str, date] = {}
    latest: date | None = None
    for entity in ENTITIES.values():
        for landing_file in discover_files(landing_dir, entity):
            dates = file_event_dates(con, landing_file, not_after)
            if dates is None:
                continue
            lo, hi = dates
            earliest[entity.name] = min(earliest.get(entity.name, lo), lo)
            latest = hi if latest is None else max(latest, hi)
    activity = [d for name, d in earliest.items() if name not in ("accounts", "subscriptions")]
    fallback = earliest.get("accounts") or earliest.get("subscriptions")
    start = min(activity) if activity else fallback
    return start, latest


def utc_now() -> datetime:
    """Now as a naive UTC timestamp, to the second (how the raw layer stores times)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)
