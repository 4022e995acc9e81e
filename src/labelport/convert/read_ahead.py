"""Read an import's source in a forked process while the command loads the store.

`labelport import` spends its first ~0.3 s loading the store's libraries (SQLAlchemy), on one
core, and only then read its source (a COCO file of 2,000 images: ~0.2 s more, converted and
encoded), while the workers it had forked waited for their first lines. Read ahead, the source
is read on the other core during that load: the command forks before it loads the store, the
child reads the source into `Record`s (`importer.read_records`) and writes them to a spool
file, and the command takes them from there once its Service is open.

Only what costs little to pass is passed: a prepared item goes without its instance dicts
(`Prepared.stripped`), as its encoded packet, names and places. Anything that goes wrong in the
child (a reader's error, a source too large to hold, a signal) makes `result()` None, and the
command reads the source itself, as it does where it cannot fork: the answer is the same.

The spool holds a summary (`Read` without its records) and then the records in pieces, the
first one small: when the summary says there is nothing to check, the command sends its first
batch once it has taken the first piece, and takes the rest while the workers run (taking all
2,000 records of the W2 COCO file took it 40-90 ms, with the workers waiting).
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from labelport.convert.importer import (
    FIRST_BATCH,
    KEEP_INSTANCES,
    ImportOptions,
    Prepared,
    Record,
    read_records,
)
from labelport.convert.model import Conversion
from labelport.format.media_info import MEDIA_SUFFIXES
from labelport.ingest.process_runner import can_fork

_TOO_LARGE = 3  # the child's exit code for a source over KEEP_INSTANCES
# A source over this size may well hold more than KEEP_INSTANCES instances (a COCO file holds
# ~100,000 in 15 MB): the command would wait for a child that gives up, then read it all again.
# Media files in a source folder do not count; a folder of more files than this is large too.
READ_AHEAD_BYTES = 32 << 20
READ_AHEAD_FILES = 10_000
# Not text or geo: their suffixes (.txt, .geojson) are annotations' too (YOLO's labels).
_MEDIA_SUFFIXES = frozenset().union(
    *(MEDIA_SUFFIXES[kind] for kind in ("image", "video", "audio", "point_cloud"))
)


_PIECE = 256  # records a piece of the spool, after the first (FIRST_BATCH)


@dataclass
class Read:
    """A source read whole: its conversion (problems, losses, ...), what its records hold, and
    the records in order (taken from the spool as they are iterated)."""

    conv: Conversion
    count: int  # records
    label_names: frozenset[str]  # the names of every record's labels
    all_prepared: bool  # every record is `Prepared`: none left for the command to decide
    records: Iterator[Record] = field(default_factory=lambda: iter(()))


class ReadAhead:
    """A child process reading a source; `result()` waits for it."""

    def __init__(self, pid: int, spool: IO[bytes]) -> None:
        self._pid: int | None = pid
        self._spool = spool

    @classmethod
    def start(cls, path: Path, options: ImportOptions) -> ReadAhead | None:
        """Start reading `path` for an import in a child, where it helps and is safe: a
        `reject` import (the others read as they send) of a source small enough to be held
        (`_small_enough`), in a process with no thread yet."""
        if options.on_error != "reject" or options.dry_run or not can_fork():
            return None
        if not _small_enough(path):
            return None
        return cls.fork(path, options)

    @classmethod
    def fork(cls, path: Path, options: ImportOptions) -> ReadAhead:
        spool = tempfile.TemporaryFile(prefix="labelport-read-")  # noqa: SIM115 (result() closes)
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _child(path, options, spool)
        return cls(pid, spool)

    def result(self) -> Read | None:
        """The records, once the child has read them all; None if it did not."""
        if self._pid is None:
            return None
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        try:
            if os.waitstatus_to_exitcode(status) != 0:
                return None
            self._spool.seek(0)
            read: Read = pickle.load(self._spool)
        except BaseException:
            self._spool.close()
            raise
        read.records = self._pieces(read.count)
        # Folders the child's reader wrote media into (LabelMe's embedded images) outlived it
        # (it left without cleaning up): they go when this conversion does, as in one process.
        for folder in read.conv.made_media:
            weakref.finalize(read.conv, _remove, folder)
        return read

    def _pieces(self, count: int) -> Iterator[Record]:
        try:
            while count > 0:
                piece: list[Record] = pickle.load(self._spool)
                count -= len(piece)
                yield from piece
        finally:
            self._spool.close()

    def close(self) -> None:
        """Stop the child if it still runs (the command ended before it asked)."""
        if self._pid is not None:
            try:
                os.kill(self._pid, signal.SIGKILL)
                os.waitpid(self._pid, 0)
            except (ProcessLookupError, ChildProcessError):  # ended, and reaped elsewhere
                pass
            self._pid = None
        self._spool.close()


def _child(path: Path, options: ImportOptions, spool: IO[bytes]) -> None:
    """Read, write the records to the spool, and leave without running anything inherited
    (`os._exit`: no buffers flushed twice, no exit handlers of the command)."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the command's to handle
        gc.disable()  # a short life making many objects, none in cycles: nothing to collect
        got = _read(path, options)
        if got is None:
            code = _TOO_LARGE
        else:
            read, records = got
            pickle.dump(read, spool, protocol=pickle.HIGHEST_PROTOCOL)
            start, size = 0, FIRST_BATCH
            while start < len(records):
                piece = records[start : start + size]
                pickle.dump(piece, spool, protocol=pickle.HIGHEST_PROTOCOL)
                start, size = start + size, _PIECE
            spool.flush()
            code = 0
    except BaseException:  # the command reads the source itself, and meets the error there
        code = 1
    finally:
        os._exit(code)


def _read(path: Path, options: ImportOptions) -> tuple[Read, list[Record]] | None:
    """The source read whole, and its records; None when it is too large to hold. Media its
    reader wrote goes unless the records that name it are handed over."""
    conv = Conversion(media_dir=options.media_dir)
    read = None
    try:
        read = _read_into(conv, path, options)
    finally:
        if read is None:
            for folder in conv.made_media:
                _remove(folder)
    return read


def _read_into(
    conv: Conversion, path: Path, options: ImportOptions
) -> tuple[Read, list[Record]] | None:
    records: list[Record] = []
    names: set[str] = set()
    instances = 0
    all_prepared = True
    for items, record in enumerate(read_records(path, options, conv, options.format), start=1):
        if isinstance(record, Prepared):
            instances += record.count
            names.update(name for name in record.labels if name is not None)
            record = record.stripped()
        else:
            instances += record.item.instance_count()
            all_prepared = False
        if instances > KEEP_INSTANCES or items > KEEP_INSTANCES:
            return None
        records.append(record)
    return Read(conv, len(records), frozenset(names), all_prepared), records


def _small_enough(path: Path) -> bool:
    """Whether the annotations at `path` (a file, or a folder's files but its media) are at
    most READ_AHEAD_BYTES, in at most READ_AHEAD_FILES files (the walk stops as soon as not)."""
    try:
        if path.is_file():
            return path.stat().st_size <= READ_AHEAD_BYTES
        if not path.is_dir():
            return False  # a pipe, say: what the child read could not be read again here
        size = files = 0
        for folder, _dirs, names in os.walk(path):
            for name in names:
                if os.path.splitext(name)[1].lower() in _MEDIA_SUFFIXES:
                    continue
                files += 1
                size += os.lstat(os.path.join(folder, name)).st_size
                if size > READ_AHEAD_BYTES or files > READ_AHEAD_FILES:
                    return False
    except OSError:
        return False  # read here, where the reader says what is wrong with it
    return True


def _remove(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
