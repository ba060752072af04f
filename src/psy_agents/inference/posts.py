"""Read the posts `psy-agents predict` answers: a posts CSV in the release format, a JSONL of {"id", "text"} lines,
or plain text on stdin (one post).

Everything is validated before anything is predicted or written; bad input is one line naming the file and the fix
(InputError). Line ends are read as the pipeline reads the release: CRLF becomes LF, so predicted character offsets
index the text with LF line ends.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from psy_agents.errors import InputError

POST_COLUMNS = ("post_id", "text")
FORMATS = ("a .csv with columns post_id,text (the release's posts file), a .jsonl of {\"id\", \"text\"} lines, "
           "or - for plain text on stdin")


@dataclass(frozen=True)
class Post:
    id: str | int
    text: str


def read_posts(source: str) -> list[Post]:
    """The posts of `source`: a path ending in .csv or .jsonl, or "-" for one plain-text post on stdin."""
    if source == "-":
        name, kind, raw = "stdin", "text", sys.stdin.buffer.read()
    else:
        path = Path(source)
        kind = {".csv": "csv", ".jsonl": "jsonl"}.get(path.suffix.lower())
        if kind is None:
            raise InputError(f"{path}: unknown input type {path.suffix or '(no extension)'!r}; give {FORMATS}")
        if not path.is_file():
            raise InputError(f"{path}: file not found; give {FORMATS}")
        name, raw = str(path), path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                         "re-save it as UTF-8") from None
    if not text.strip():
        raise InputError(f"{name}: empty; give at least one post")
    posts = [Post("stdin", text)] if kind == "text" else {"csv": _csv_posts, "jsonl": _jsonl_posts}[kind](text, name)
    if not posts:
        raise InputError(f"{name}: header only, no posts; add at least one record")
    for number, post in enumerate(posts, 1):
        if not post.text.strip():
            raise InputError(f"{name}: post {post.id!r} (record {number}) has an empty text; fill it in or remove it")
    return [Post(post.id, post.text.replace("\r\n", "\n")) for post in posts]


def _csv_posts(text: str, name: str) -> list[Post]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise InputError(f"{name}: not a valid CSV (line {reader.line_num}: {exc}); check its quoting") from None
    columns = {str(c).strip(): c for c in reader.fieldnames or ()}  # header names as the release reader reads them
    missing = [c for c in POST_COLUMNS if c not in columns]
    if missing:
        raise InputError(f"{name}: missing column(s) {', '.join(missing)}; the header must contain "
                         f"{','.join(POST_COLUMNS)} (the release's posts file format)")
    # a short record leaves its last fields None
    return [Post((row[columns["post_id"]] or "").strip(), row[columns["text"]] or "") for row in rows]


def _jsonl_posts(text: str, name: str) -> list[Post]:
    posts = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{name}: line {number} is not JSON ({exc.msg}); write one {{\"id\", \"text\"}} object "
                             "per line") from None
        if not isinstance(row, dict) or not {"id", "text"} <= row.keys():
            missing = ", ".join(k for k in ("id", "text") if not isinstance(row, dict) or k not in row)
            raise InputError(f"{name}: line {number} lacks {missing}; write one {{\"id\", \"text\"}} object per line")
        if not isinstance(row["text"], str) or isinstance(row["id"], bool) or not isinstance(row["id"], (str, int)):
            raise InputError(f"{name}: line {number}: id must be a string or an integer and text a string")
        posts.append(Post(row["id"], row["text"]))
    return posts
