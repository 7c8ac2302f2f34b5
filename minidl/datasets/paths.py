"""Where the data lives: an explicit root, $MINIDL_DATA, the cache, or the shared folder."""
from __future__ import annotations

import os
from pathlib import Path

# a checkout keeps its real data in shared/data beside the project folder
_SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def shared_data_dir() -> Path | None:
    """`shared/data` beside the project checkout when it exists, else None."""
    return _SHARED if _SHARED.is_dir() else None


def default_data_root() -> Path | None:
    """`$MINIDL_DATA` when set, else `shared/data` beside the project checkout, else None."""
    env = os.environ.get("MINIDL_DATA")
    if env:
        return Path(env).expanduser()
    return shared_data_dir()


def find_data_root(given: str | os.PathLike | None = None) -> Path | None:
    """The data folder a script should use: `given` (e.g. its --data-root) when not None,
    else `$MINIDL_DATA`, else `shared/data` beside the project checkout, else None.
    """
    if given is not None:
        return Path(given)
    return default_data_root()


def cache_root() -> Path:
    """`~/.cache/minidl` (or `$XDG_CACHE_HOME/minidl`): where downloads go by default."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "minidl"
