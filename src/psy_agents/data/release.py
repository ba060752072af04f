"""Read and validate the two CSV files of a ReDSM5 release (or the demo corpus in the same format).

Bad files stop the stage with one line naming the file and the fix (InputError). Quoted multi-line fields, a UTF-8
BOM and CRLF line ends are valid input; CRLF inside texts is normalised to LF so offsets mean the same everywhere.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from psy_agents.errors import InputError

POSTS_FILE = "redsm5_posts.csv"
ANNOTATIONS_FILE = "redsm5_annotations.csv"
POST_COLUMNS = ("post_id", "text")
# `explanation` is part of the release but nothing downstream reads it, so it is not required.
ANNOTATION_COLUMNS = ("post_id", "sentence_id", "sentence_text", "DSM5_symptom", "status")


def read_release_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """Parse one release CSV as strings (records, not lines: quoted fields may span lines)."""
    if not path.is_file():
        raise InputError(f"{path}: file not found; put the release CSVs there or set data.source: demo in params.yaml")
    raw = path.read_bytes()
    if not raw.strip():
        raise InputError(f"{path}: the file is empty; restore it from the release")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); re-save the file as UTF-8"
        ) from None
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, quoting=csv.QUOTE_MINIMAL)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        raise InputError(f"{path}: not a valid CSV ({detail}); check quoting against the release format") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; the header must contain {', '.join(columns)}"
        )
    if frame.empty:
        raise InputError(f"{path}: header only, no records; restore the file from the release")
    frame = frame[list(columns)].copy()
    for column in columns:
        frame[column] = frame[column].str.replace("\r\n", "\n", regex=False)
    return frame


def read_release(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (posts, annotations) with validated columns; status parsed to int 0/1."""
    posts = read_release_csv(directory / POSTS_FILE, POST_COLUMNS)
    annotations_path = directory / ANNOTATIONS_FILE
    annotations = read_release_csv(annotations_path, ANNOTATION_COLUMNS)
    status = annotations["status"].str.strip()
    bad = ~status.isin(["0", "1"])
    if bad.any():
        first = int(bad.to_numpy().nonzero()[0][0])
        raise InputError(
            f"{annotations_path}: status must be 0 or 1, record {first + 1} has {annotations['status'].iloc[first]!r}"
            f" ({int(bad.sum())} such records); fix those records"
        )
    annotations["status"] = status.astype(int)
    for column in ("post_id", "sentence_id", "DSM5_symptom"):
        annotations[column] = annotations[column].str.strip()
    posts["post_id"] = posts["post_id"].str.strip()
    return posts, annotations
