"""User-facing errors: one clear line naming the file and the fix, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn


class InputError(Exception):
    """Bad input or configuration the user can fix; the message says what and how."""


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def run_main(main: Callable[[], None]) -> None:
    """Run an entry point, turning InputError into one line on stderr and exit code 2."""
    try:
        main()
    except InputError as exc:
        fail(str(exc))
