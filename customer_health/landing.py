"""Finding and reading landing files (the landing contract's layout and formats).

Pure functions over a DuckDB connection: no Dagster here, so the loaders and the
command line share them and tests call them directly.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from customer_health import duckdb_connection
from customer_health.contract import ENTITIES, FILE_SUFFIXES, Entity

_NAME_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")

NUL_SHOWN = "\u2400"
"""How a NUL character is shown where the text it arrived in is kept (quarantine):
no output can hold a NUL (Postgres refuses it in text), so it is shown as the symbol ␀."""


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


def sql_ident(name: str) -> str:
    """A quoted SQL identifier naming `name` (any column name a file brings)."""
    return '"' + name.replace('"', '""') + '"'


def column_keys(names: list[str], rel_path: str) -> dict[str, str]:
    """The loader's name for each column of a file (trimmed, lower-case) -> its own name.

    Refuses a file with a column the loader cannot name: a blank name (columns are
    matched by name), a name holding a NUL character (no table can be given it), or two
    names that are one column to the loader (`account_id` and `Account_ID `; SQL names
    ignore case too, so one would silently hide the other).
    """
    keys: dict[str, str] = {}
    for name in names:
        if not name.strip():
            raise LandingFileError(
                rel_path,
                f"a column has a blank name ({name!r}), and columns are matched by name.",
                "Name every column (a trailing comma in a header makes a nameless one) and "
                "drop the file again.",
            )
        if "\x00" in name:
            shown = name.replace("\x00", NUL_SHOWN)
            raise LandingFileError(
                rel_path,
                f"a column name holds a NUL character (\\x00, shown as {NUL_SHOWN}): {shown!r}.",
                "Remove it from the column name and drop the file again.",
            )
        key = name.strip().lower()
        if key in keys:
            raise LandingFileError(
                rel_path,
                f"the columns {keys[key]!r} and {name!r} are one column to the loader "
                "(names are matched ignoring case and surrounding spaces).",
                "Keep one of them and drop the file again; nothing of this file was loaded.",
                column=key,
            )
        keys[key] = name
    return keys


def csv_header(path: Path, rel_path: str) -> list[str]:
    """The header row of a CSV landing file, checked for the problems a reader would hide."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        # utf-8-sig: a byte-order mark (Excel writes one) is not part of the first name.
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
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
    column_keys(header, rel_path)
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
def literal_path(path: Path, *, skip_bom: bool = False) -> Iterator[str]:
    """A path that DuckDB reads as exactly `path`, whatever characters its name holds.

    DuckDB's readers expand `*`, `?`, `[...]` and `**` in every path they are given (in a
    list of one path too) and have no switch to turn that off: a landing file named
    `*.csv` was read as its whole folder. So they never see a landing path: they get a
    link with a plain name in a fresh temporary folder, which the operating system, not
    DuckDB, follows to the file. The link keeps the file's suffix, from which DuckDB
    tells a gzip-compressed CSV.

    `skip_bom`: a file that starts with a UTF-8 byte-order mark is given as a copy
    without it. DuckDB's JSON reader accepts the mark on one thread and refuses it on
    several, so a file's fate would depend on the machine.
    """
    with tempfile.TemporaryDirectory(prefix="landing-") as folder:
        link = Path(folder) / f"file{landing_suffix(path)}"
        if _GLOB_CHARACTERS.search(str(link)):
            raise RuntimeError(
                f"The temporary folder {folder} has a glob character in its path, so DuckDB "
                "would not read landing files literally. Set TMPDIR to a plain folder."
            )
        if skip_bom and _starts_with_bom(path):
            with path.open("rb") as source, link.open("wb") as copy:
                source.seek(len(codecs.BOM_UTF8))
                shutil.copyfileobj(source, copy)
        else:
            link.symlink_to(path.absolute())
        yield str(link)


def _starts_with_bom(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8


JSON_TYPE_COLUMN = "__landing_json_type"
"""Column of a JSONL relation: the JSON type of the line (`OBJECT` for a row)."""
JSON_LINE_COLUMN = "__landing_json_line"
"""Column of a JSONL relation: the line as read (kept for lines that are not objects)."""


@contextmanager
def open_landing_file(con: duckdb.DuckDBPyConnection, landing_file: LandingFile) -> Iterator[str]:
    """A DuckDB table expression reading one landing file as it is, valid inside the block.

    Every reader of landing files goes through here (the loader, the window scan, the
    landing sensor), so a file name is taken literally everywhere. A DuckDB error inside
    the block is the file's: it becomes a LandingFileError naming the landing file.
    """
    jsonl = landing_suffix(landing_file.path) == ".jsonl"
    with literal_path(landing_file.path, skip_bom=jsonl) as path:
        try:
            yield _reader_sql(con, landing_file, path)
        except duckdb.Error as exc:
            problem = read_error_message(exc).replace(path, landing_file.rel_path)
            raise LandingFileError(
                landing_file.rel_path,
                f"the file cannot be read: {problem}",
                "Check that it is a complete, UTF-8 file of its type and drop it again.",
            ) from exc


def _reader_sql(con: duckdb.DuckDBPyConnection, landing_file: LandingFile, path: str) -> str:
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
    return _jsonl_sql(con, landing_file, quoted)


def _jsonl_sql(con: duckdb.DuckDBPyConnection, landing_file: LandingFile, quoted: str) -> str:
    """A JSONL file as one text column per key, and each line's JSON type and text.

    Each line is read as the JSON value it is, not typed by a sample of the file: a line
    that is an array, a string or `null` is then a row that says so (instead of turning
    the whole file into one column named `json`), a value nested deeper than a typed
    reader recurses stays its JSON text, and every value reaches the loader as text.
    """
    lines = f"read_json_objects({quoted}, format = 'newline_delimited')"
    keys = [
        str(key)
        for (key,) in con.execute(
            f"select distinct unnest(json_keys(json)) from {lines}"
            " where json_type(json) = 'OBJECT' order by 1"
        ).fetchall()
    ]
    column_keys(keys, landing_file.rel_path)
    values = "".join(
        f", case when json_type(json) = 'OBJECT'"
        f" then json_extract_string(json, {sql_string(_json_pointer(key))}) end as {sql_ident(key)}"
        for key in keys
    )
    return (
        f"(select json_type(json) as {JSON_TYPE_COLUMN}, json as {JSON_LINE_COLUMN}{values}"
        f" from {lines})"
    )


def _json_pointer(key: str) -> str:
    """The RFC 6901 pointer to a top-level key: any key, with `/` or `~` in it too."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


def read_error_message(exc: duckdb.Error) -> str:
    """The first line of a DuckDB reader error, which names the problem. A CSV error's
    first line names only the line (`CSV Error on Line: 3`); what is wrong with it follows
    the echo of that line, and is added (the echo, the file's own data, is not)."""
    lines = [line.strip() for line in str(exc).strip().splitlines()]
    if len(lines) > 2 and lines[1].startswith("Original Line:") and lines[2]:
        return f"{lines[0]}: {lines[2]}"
    return lines[0]


def file_event_dates(
    con: duckdb.DuckDBPyConnection, landing_file: LandingFile, not_after: datetime | None = None
) -> tuple[date, date] | None:
    """First and last event date (UTC) of one landing file, rows after `not_after` left
    out; None when it has no readable dated row or cannot be read (the loader reports it)."""
    entity = ENTITIES[landing_file.entity]
    try:
        with open_landing_file(con, landing_file) as relation:
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
    except LandingFileError:
        return None
    if row is None or row[0] is None:
        return None
    return row[0], row[1]


def file_days(landing_file: LandingFile) -> tuple[date, date] | None:
    """The days a file holds: the date in its name, else its event times' range, read
    in a connection of its own (None when it cannot be read: the loader reports it)."""
    if landing_file.name_date is not None:
        return landing_file.name_date, landing_file.name_date
    con = duckdb_connection.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        return file_event_dates(con, landing_file)
    finally:
        con.close()


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
