"""A training run's output folder: one run at a time in it, and nothing already saved is ever lost.

This module owns the rules every run folder follows (the README states them for users):

- **One run per folder.** A run holds ``run.lock`` for its whole life: created atomically
  (``O_CREAT | O_EXCL``), holding the owner's pid, host and start time, removed on every exit
  path. A second run into a locked folder refuses at once and names the holder. A lock left by
  a killed process (same host, pid no longer running) is reported with its pid and taken over.
- **No new run over an old one.** A run without ``--resume`` refuses a folder that already holds
  a checkpoint or metrics, naming the folder and the two ways on: ``--resume``, or ``--overwrite``
  to delete the old run's outputs (only the files a run writes, nothing else in the folder).
- **Strict JSON lines.** Every line of ``metrics.jsonl`` and ``layer_telemetry.jsonl`` is strict
  JSON: a non-finite number is written as ``null``. Reading back on resume tolerates a torn last
  line (a kill in the middle of a write), dropping it with a warning that names the file and line;
  any other unreadable line is an error naming the file and line.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOCK = "run.lock"


class RunFolderError(RuntimeError):
    """The run folder cannot be used as asked (locked, holds another run, not writable)."""


def check_writable_folder(path: Path) -> None:
    """Create ``path`` as a folder if needed; RunFolderError, naming it, unless this process can write in it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunFolderError(f"--out {path} is a file, not a folder: give a folder for the run's outputs")
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise RunFolderError(f"--out {path}: {existing} is a file, so the folder cannot be created")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise RunFolderError(f"--out {path}: {existing} is not writable by this user")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(f"--out {path}: cannot create the folder ({exc.strerror or exc})") from None


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


@contextmanager
def run_lock(folder: Path) -> Iterator[Path]:
    """Hold ``folder/run.lock`` for the duration of the ``with`` block (see the module docstring)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(2):  # a second try only after removing a stale lock
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            holder = _read_lock(path)
            pid, host = holder.get("pid"), holder.get("host")
            stale = isinstance(pid, int) and host == me["host"] and not _pid_running(pid)
            if not stale:
                who = f"pid {pid} on {host}, started {holder.get('started', '?')}" if pid else "an unreadable lock"
                raise RunFolderError(
                    f"{folder} is in use by another run ({who}); wait for it to finish, or use another --out. "
                    f"If you are sure no run uses it, delete {path}."
                ) from None
            warnings.warn(
                f"{path} was left by pid {pid}, which is no longer running (killed?): taking it over",
                stacklevel=2,
            )
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        break
    else:  # pragma: no cover - two stale-lock races in a row
        raise RunFolderError(f"could not take {path}")
    try:
        yield path
    finally:
        if _read_lock(path).get("pid") == me["pid"]:
            path.unlink(missing_ok=True)


def _read_lock(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def refuse_to_replace(folder: Path, outputs: tuple[str, ...]) -> None:
    """Raise RunFolderError if ``folder`` holds any of a run's ``outputs`` (a new run would replace them)."""
    found = [name for name in outputs if (Path(folder) / name).exists()]
    if found:
        raise RunFolderError(
            f"{folder} already holds a run ({', '.join(found)}). Continue it with --resume, or start over "
            "with --overwrite (which deletes that run's outputs), or choose another --out."
        )


def remove_outputs(folder: Path, outputs: tuple[str, ...]) -> list[str]:
    """Delete the run outputs named in ``outputs`` from ``folder`` (``--overwrite``); returns what was deleted."""
    removed = []
    for name in outputs:
        path = Path(folder) / name
        if path.exists():
            path.unlink()
            removed.append(name)
    return removed


def strict_json(record: Mapping[str, Any]) -> str:
    """One JSON line in which every non-finite float (NaN, ±inf) is ``null``: strict readers can parse it."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, Mapping):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(record), allow_nan=False)


def append_jsonl(path: Path, record: Mapping[str, Any]) -> None:
    """Append ``record`` as one strict JSON line (one write call, so a kill tears at most this line)."""
    with open(path, "a") as f:
        f.write(strict_json(record) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file; a torn last line is dropped with a warning naming file and line.

    Any other line that is not a JSON object (bad JSON, bytes that are not UTF-8) raises a
    ValueError naming the file and the line.
    """
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    torn = not data.endswith(b"\n")  # the final line was cut off mid-write (or never finished)
    records = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            if torn and number == len(lines):
                warnings.warn(f"{path}, line {number}: dropping a torn last line (a write interrupted)", stacklevel=2)
                break
            shown = raw[:80].decode("utf-8", errors="replace")
            raise ValueError(f"{path}, line {number}: not a valid JSON record ({exc}): {shown!r}") from None
        records.append(record)
    return records


def write_jsonl(path: Path, records: list[Mapping[str, Any]]) -> None:
    """Replace ``path`` with ``records``, atomically (a temporary file renamed over it)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(strict_json(r) + "\n" for r in records))
    os.replace(tmp, path)
