"""A lexer for the part of SQL that psql itself looks at, so that a plain SQL
file can be checked for psql meta-commands (``\\!``, ``\\connect``, ``\\copy``,
``\\i``, ...) before psql ever sees it.

psql reads a script line by line and only treats a backslash as the start of
a meta-command when it is outside quotes, comments, dollar quotes and COPY
data. To know which backslashes those are we must split the text exactly as
psql does: single-quoted strings (with '' doubling), E'' strings (backslash
escapes), dollar quotes ($$ and $tag$), double-quoted identifiers, -- and
nested /* */ comments, string continuation across lines, statement ends
(psql ignores ``;`` inside parentheses and inside CREATE FUNCTION ... BEGIN
ATOMIC ... END), and ``COPY ... FROM stdin`` data, which runs from the line
after the statement to a line ``\\.``.

Where psql's reading depends on things a file can change at run time (the
server's ``standard_conforming_strings``, a client encoding whose multibyte
characters may end in a backslash byte), the scanner refuses the few
constructs whose meaning would differ instead of guessing: a backslash run of
odd length before a quote in an ordinary string, and a backslash right after a
non-ASCII byte where it would escape. Those never appear in what pg_dump
writes with standard_conforming_strings on (its default since PostgreSQL 9.1)
except for a literal that ends in a backslash, which is rare outside COPY data.

The scanner works on bytes, in chunks of any size, in constant memory
(besides the statement being read when a caller keeps it). It reports each
statement (its byte range and first tokens), each allowed ``\\restrict`` /
``\\unrestrict`` line, and COPY data blocks.
"""

import re
from collections import deque
from dataclasses import dataclass, field

from ..errors import BackupRejected
from ..messages import Message, N_

# How many tokens of a statement are kept from its start (enough to name a
# table or to say what the statement does), and from its end (enough for the
# roles a GRANT or an ALTER ... OWNER TO names).
MAX_TOKENS = 64
TAIL_TOKENS = 24
# Longest string or quoted identifier value kept in a token.
MAX_TOKEN_TEXT = 512
# A backslash line longer than this cannot be an allowed \restrict line.
MAX_META_LINE = 4096

CODE, SQUOTE, ESTRING, BITS, QUOTE_END, DQUOTE, DOLLAR, LINE_COMMENT, BLOCK_COMMENT, COPY_DATA = range(10)
# Ordinary strings whose kind psql might read differently (E after a number): no backslash allowed.
STRICT = "strict"

ALLOWED_META = re.compile(rb"\\(restrict|unrestrict)[ \t]+([A-Za-z0-9]+)[ \t]*\r?$")
META_NAME = re.compile(rb"\\([A-Za-z]+|[^A-Za-z\s]?)")

# Whitespace, then one token (or nothing, at the end of the input).
_CODE_TOKEN = re.compile(
    rb"""
    [ \t\n\r\f\v]*
    (?:
      (?P<ident>[A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*)
    | (?P<num>[0-9]+)
    | (?P<special>--|/\*|['"$\\;()])
    | (?P<other>[^ \t\n\r\f\v'"$\\;()A-Za-z0-9_\x80-\xff/\-]+|[-/])
    )?
    """,
    re.X,
)
_DOLLAR_DELIM = re.compile(rb"\$(?:[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?\$")
_DOLLAR_PARTIAL = re.compile(rb"\$(?:[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?")
_STRING_BODY = re.compile(rb"[^'\\]+")
_BITS_BODY = re.compile(rb"[^']+")
_DQUOTE_BODY = re.compile(rb'[^"]+')
_BACKSLASHES = re.compile(rb"\\+")
_END_MARKER = re.compile(rb"\n\\\.")
_LINE_COMMENT_BODY = re.compile(rb"[^\n\r]*")
_BLOCK_COMMENT_MARK = re.compile(rb"/\*|\*/")
# psql's quotecontinue: a closing quote, whitespace holding a newline (and
# -- comments), and another quote continue the same literal.
_QUOTE_CONTINUE = re.compile(rb"(?:[ \t\f]|--[^\n\r]*)*[\n\r](?:[ \t\n\r\f]+|--[^\n\r]*[\n\r])*'")
# What may still become one when more input comes (a lone "-" may start "--").
_QUOTE_CONTINUE_PREFIX = re.compile(rb"(?:[ \t\f]|--[^\n\r]*)*(?:[\n\r](?:[ \t\n\r\f]+|--[^\n\r]*[\n\r]?)*)?-?")


class UnsafeSql(BackupRejected):
    """The file holds something psql would run outside SQL, or that psql could read differently."""

    def __init__(self, message, line, command="", params=None):
        super().__init__(message, params=params)
        self.line = line
        self.command = command


@dataclass(slots=True)
class Token:
    kind: str  # "word" (lower-cased), "quoted" (identifier), "string", "punct", "other"
    text: str
    depth: int  # parenthesis depth at the token


@dataclass
class Statement:
    start: int  # byte offset of its first character
    end: int  # byte offset after its ";" (or the end of the file)
    line: int  # line it starts on (1-based)
    tokens: list = field(default_factory=list)  # the first MAX_TOKENS
    tail: deque = field(default_factory=lambda: deque(maxlen=TAIL_TOKENS))  # the last ones after those
    terminated: bool = True  # ended by ";" (False: the file ended first)
    # COPY ... FROM|TO <where>, followed token by token (the column list may be long).
    is_copy: bool = False
    copy_direction: str = ""
    copy_source: str | None = None

    def last_tokens(self):
        """The statement's final tokens (all of them when it is short)."""
        return list(self.tail) if self.tail else list(self.tokens)

    def first_word(self) -> str:
        return self.tokens[0].text if self.tokens and self.tokens[0].kind == "word" else ""

    def is_copy_from_stdin(self) -> bool:
        """``COPY table [(columns)] FROM STDIN ...``: psql then reads data lines.
        Only FROM/TO at parenthesis depth 0 count, so ``COPY (SELECT ... FROM
        stdin) TO STDOUT`` is not taken for one."""
        return self.is_copy and self.copy_direction == "from" and self.copy_source == "stdin"


@dataclass
class MetaLine:
    """An allowed psql meta-command line (``\\restrict KEY`` or ``\\unrestrict KEY``)."""

    start: int  # offset of the backslash
    end: int  # offset of the line's end (its newline is not part of it)
    line: int
    command: str
    key: str


class SqlScanner:
    """Feed bytes with ``feed``; call ``finish`` at the end. Raises UnsafeSql
    at the first meta-command or ambiguous construct.

    ``on_statement(Statement)`` and ``on_meta(MetaLine)`` are called as they
    are found; ``on_copy(statement, rows)`` when a COPY data block ends."""

    def __init__(self, on_statement=None, on_meta=None, on_copy=None):
        self.on_statement = on_statement
        self.on_meta = on_meta
        self.on_copy = on_copy
        self._buf = b""
        self._base = 0  # absolute offset of self._buf[0]
        self._line = 1  # line of self._buf[self._line_pos]
        self._line_pos = 0
        self._prev = 0  # the byte before self._buf[0] (for what precedes a token)
        self._mode = CODE
        self._string_kind = SQUOTE
        self._string_line = 1
        self._bs_run = 0  # backslashes just read inside an ordinary string
        self._bs_after_high = False  # ...and whether a non-ASCII byte came before them
        self._string_has_backslash = False
        self._dollar_delim = b""
        self._comment_depth = 0
        self._quoted = bytearray()
        # The statement being read (psql's query buffer).
        self._stmt = None
        self._paren_depth = 0
        self._begin_depth = 0
        self._identifier_count = 0
        self._identifiers = [""] * 4
        self._capture = None  # bytearray collecting a string/identifier value for a token
        # COPY FROM STDIN statements ended on the current line, and their data.
        self._copies_pending = []
        self._copy_statement = None
        self._copy_rows = 0
        self._copy_at_line_start = True
        self._copy_resume_mode = CODE
        self._finished = False
        # Counters for inspect.
        self.statements = 0
        self.copy_blocks = 0
        self.copy_rows = 0
        self.bytes = 0

    # -- public --------------------------------------------------------------
    @property
    def line(self) -> int:
        """Line of the next unread byte (1-based)."""
        return self._line

    @property
    def offset(self) -> int:
        """Absolute offset up to which the input has been read and judged."""
        return self._base

    def statement_start(self):
        """Offset where the statement being read began, or None between statements."""
        return self._stmt.start if self._stmt is not None else None

    def feed(self, data: bytes) -> None:
        if not data:
            return
        nul = data.find(b"\x00")
        if nul != -1:
            line = self.line + self._buf.count(b"\n") + data.count(b"\n", 0, nul)
            raise UnsafeSql(N_("The SQL file contains a NUL byte on line %(line)s; it is not a text SQL dump."), line,
                            params={"line": line})
        self.bytes += len(data)
        self._buf = self._buf + data if self._buf else data
        self._scan(final=False)

    def finish(self) -> None:
        if self._finished:
            return
        self._scan(final=True)
        self._finished = True
        if self._stmt is not None and self._mode in (CODE, LINE_COMMENT):
            self._end_statement(self._base, terminated=False)

    def unterminated(self) -> Message | None:
        """After finish(): what the file ended inside of, as a phrase (a
        Message that goes into another sentence), or None."""
        mode = self._mode
        if mode == COPY_DATA:
            return Message(N_("the data of the COPY statement on line %(line)s"), {"line": self._copy_statement.line})
        if mode in (SQUOTE, ESTRING, BITS):
            return Message(N_("a quoted string that starts on line %(line)s"), {"line": self._string_line})
        if mode == DQUOTE:
            return Message(N_("a quoted name that starts on line %(line)s"), {"line": self._string_line})
        if mode == DOLLAR:
            return Message(N_("a dollar-quoted text that starts on line %(line)s"), {"line": self._string_line})
        if mode == BLOCK_COMMENT:
            return Message(N_("a /* comment */ that starts on line %(line)s"), {"line": self._string_line})
        if self._copies_pending:
            return Message(N_("the COPY statement on line %(line)s, before its data"), {"line": self._copies_pending[0].line})
        return None

    # -- the loop --------------------------------------------------------------
    def _scan(self, final):
        buf = self._buf
        pos = 0
        end = len(buf)
        handlers = self._handlers()
        while pos < end:
            limit = end
            line_end = False
            if self._copies_pending and self._mode != COPY_DATA:
                # psql reads COPY data from the line after the one that ended the statement.
                nl = buf.find(b"\n", pos)
                if nl != -1:
                    limit, line_end = nl + 1, True
            new = handlers[self._mode](buf, pos, limit, final)
            if new is None:  # needs more input to decide
                break
            pos = max(pos, new)
            if line_end and pos == limit and self._mode != COPY_DATA:
                self._start_copy_data()
        self._line_at(buf, pos)
        if pos:
            self._prev = buf[pos - 1]
        self._base += pos
        self._buf = buf[pos:]
        self._line_pos = 0

    def _line_at(self, buf, at):
        """Line number of buf[at]; counted lazily, only when someone needs it."""
        if at >= self._line_pos:
            self._line += buf.count(b"\n", self._line_pos, at)
            self._line_pos = at
            return self._line
        return self._line - buf.count(b"\n", at, self._line_pos)

    def _handlers(self):
        return {
            CODE: self._code,
            SQUOTE: self._ordinary_string,
            ESTRING: self._escape_string,
            BITS: self._bits_string,
            QUOTE_END: self._quote_end,
            DQUOTE: self._quoted_identifier,
            DOLLAR: self._dollar_quoted,
            LINE_COMMENT: self._line_comment,
            BLOCK_COMMENT: self._block_comment,
            COPY_DATA: self._copy_data,
        }

    # -- statements --------------------------------------------------------------
    def _begin_statement(self, buf, at):
        if self._stmt is None:
            self._stmt = Statement(start=self._base + at, end=0, line=self._line_at(buf, at))

    def _token(self, kind, text):
        stmt = self._stmt
        token = Token(kind, text, self._paren_depth)
        if len(stmt.tokens) < MAX_TOKENS:
            stmt.tokens.append(token)
            if len(stmt.tokens) == 1:
                stmt.is_copy = kind == "word" and text == "copy"
        else:
            stmt.tail.append(token)
        if stmt.is_copy and stmt.copy_source is None:
            if not stmt.copy_direction:
                if token.depth == 0 and kind == "word" and text in ("from", "to"):
                    stmt.copy_direction = text
            elif stmt.copy_direction == "from":
                stmt.copy_source = text if kind == "word" else "?"

    def _end_statement(self, end_abs, terminated=True):
        stmt = self._stmt
        stmt.end = end_abs
        stmt.terminated = terminated
        self._stmt = None
        self._paren_depth = 0
        self._begin_depth = 0
        self._identifier_count = 0
        self.statements += 1
        if terminated and stmt.is_copy_from_stdin():
            self._copies_pending.append(stmt)
        if self.on_statement:
            self.on_statement(stmt)

    def _identifier(self, lower):
        """psql's heuristic for CREATE [OR REPLACE] FUNCTION|PROCEDURE ... BEGIN ATOMIC ... END,
        whose inner semicolons do not end the statement (``lower``: the word, ASCII lower-cased)."""
        count = self._identifier_count
        self._identifier_count = count + 1
        if count >= 4 and self._identifiers[0] != "c":
            return  # not a CREATE statement: nothing to follow
        if count == 0:
            self._identifiers = [""] * 4
        ids = self._identifiers
        if count < 4 and lower in ("create", "function", "procedure", "or", "replace"):
            ids[count] = lower[0]
        if ids[0] == "c" and (ids[1] in ("f", "p") or (ids[1] == "o" and ids[2] == "r" and ids[3] in ("f", "p"))) \
                and self._paren_depth == 0:
            if lower == "begin":
                self._begin_depth += 1
            elif lower == "case":
                if self._begin_depth >= 1:
                    self._begin_depth += 1
            elif lower == "end" and self._begin_depth > 0:
                self._begin_depth -= 1

    # -- modes -------------------------------------------------------------------
    def _code(self, buf, pos, limit, final):
        """Tokens outside quotes and comments, in a loop until the mode changes
        or a statement ends (which may change the limit)."""
        start = pos
        match = _CODE_TOKEN.match
        while pos < limit:
            m = match(buf, pos, limit)
            kind = m.lastgroup
            if kind is None:  # whitespace up to the limit
                return m.end()
            at, end = m.start(kind), m.end()
            if kind == "ident":
                if end == limit and not final:
                    break  # the word may go on in the next chunk
                if end - at == 1 and buf[end:end + 1] in (b"'", b"&"):
                    new = self._prefixed_literal(buf, at, end, final)
                    if new is None:
                        break
                    if new:
                        return new
                if self._stmt is None:
                    self._begin_statement(buf, at)
                lower = buf[at:end].lower().decode("utf-8", "replace")
                self._identifier(lower)
                self._token("word", lower)
                pos = end
                continue
            if kind == "num":
                if end == limit and not final:
                    break
                if self._stmt is None:
                    self._begin_statement(buf, at)
                self._token("other", m.group(kind).decode("ascii"))
                pos = end
                continue
            if kind == "other":
                text = m.group(kind)
                if text in (b"-", b"/") and end == limit and not final:
                    break  # may be the start of -- or /*
                if self._stmt is None:
                    self._begin_statement(buf, at)
                for ch in text.decode("latin-1"):
                    self._token("punct" if ch in ",.=" else "other", ch)
                pos = end
                continue
            text = m.group(kind)
            if text == b"(":
                if self._stmt is None:
                    self._begin_statement(buf, at)
                self._paren_depth += 1
                self._token("punct", "(")
                pos = end
                continue
            if text == b")":
                if self._stmt is None:
                    self._begin_statement(buf, at)
                if self._paren_depth > 0:
                    self._paren_depth -= 1
                self._token("punct", ")")
                pos = end
                continue
            new = self._code_special(buf, text, at, limit, final)
            if new is None:
                break
            return new
        return pos if pos > start else None

    def _code_special(self, buf, text, at, limit, final):
        if text == b"--":
            self._mode = LINE_COMMENT
            return at + 2
        if text == b"/*":
            self._mode = BLOCK_COMMENT
            self._comment_depth = 1
            self._string_line = self._line_at(buf, at)
            return at + 2
        if text == b"'":
            self._begin_statement(buf, at)
            return self._open_string(buf, at, at + 1, SQUOTE)
        if text == b'"':
            self._begin_statement(buf, at)
            return self._open_quoted_identifier(buf, at, at + 1)
        if text == b"$":
            return self._code_dollar(buf, at, limit, final)
        if text == b"\\":
            return self._meta_command(buf, at, limit, final)
        # ";"
        self._begin_statement(buf, at)
        self._token("punct", ";")
        if self._paren_depth == 0 and self._begin_depth == 0:
            self._end_statement(self._base + at + 1)
        return at + 1

    def _prefixed_literal(self, buf, at, end, final):
        """E'...', B'...', X'...', N'...', U&'...' and U&"...": the new position,
        0 if the letter is just a word, None if more input is needed to tell."""
        c = buf[at:end].lower()
        if buf[end:end + 1] == b"'" and c in (b"e", b"b", b"x", b"n"):
            self._begin_statement(buf, at)
            if c == b"e":
                # After a number (1e'...') psql versions disagree on whether this is an E string.
                kind = STRICT if self._prev_byte(buf, at) in b"0123456789." else ESTRING
                return self._open_string(buf, at, end + 1, kind)
            return self._open_string(buf, at, end + 1, SQUOTE if c == b"n" else BITS)
        if c == b"u":
            if len(buf) - end < 2 and not final:
                return None
            two = buf[end:end + 2]
            if two == b"&'":
                self._begin_statement(buf, at)
                return self._open_string(buf, at, end + 2, SQUOTE)
            if two == b'&"':
                self._begin_statement(buf, at)
                return self._open_quoted_identifier(buf, at, end + 2)
        return 0

    def _prev_byte(self, buf, at):
        return bytes([buf[at - 1]]) if at > 0 else bytes([self._prev])

    def _code_dollar(self, buf, at, limit, final):
        m = _DOLLAR_DELIM.match(buf, at, limit)
        if m:
            self._begin_statement(buf, at)
            self._dollar_delim = m.group()
            self._mode = DOLLAR
            self._string_line = self._line_at(buf, at)
            self._token("string", "")
            return m.end()
        partial = _DOLLAR_PARTIAL.match(buf, at, limit)
        if partial.end() == limit and not final:
            return None
        self._begin_statement(buf, at)
        self._token("other", "$")
        return at + 1

    def _meta_command(self, buf, at, limit, final):
        nl = buf.find(b"\n", at)
        line_end = nl if nl != -1 else len(buf)
        if nl == -1 and not final and len(buf) - at < MAX_META_LINE:
            return None
        text = buf[at:line_end]
        allowed = ALLOWED_META.match(text) if len(text) < MAX_META_LINE else None
        if allowed:
            meta = MetaLine(self._base + at, self._base + line_end, self._line_at(buf, at),
                            allowed.group(1).decode(), allowed.group(2).decode())
            if self.on_meta:
                self.on_meta(meta)
            return line_end
        name = META_NAME.match(text).group().decode("utf-8", "replace")
        line = self._line_at(buf, at)
        if name in ("\\connect", "\\c"):
            template = N_(
                "The SQL file contains the psql command %(name)s on line %(line)s; dbkeeper refuses files that run "
                "shell or client commands (pg_dump writes one when run with --create or by pg_dumpall: dump the one "
                "database without --create)."
            )
        else:
            template = N_(
                "The SQL file contains the psql command %(name)s on line %(line)s; "
                "dbkeeper refuses files that run shell or client commands."
            )
        raise UnsafeSql(template, line, name, params={"name": name, "line": line})

    # Strings ---------------------------------------------------------------------
    def _open_string(self, buf, at, body, kind):
        self._mode = SQUOTE if kind == STRICT else kind
        self._string_kind = kind
        self._string_line = self._line_at(buf, at)
        self._bs_run = 0
        self._bs_after_high = False
        self._string_has_backslash = False
        self._token("string", "")
        self._capture = bytearray()
        return body

    def _keep(self, buf, start, end):
        """Keep the start of a string's value for its token (names and roles are short)."""
        capture = self._capture
        if capture is not None and len(capture) < MAX_TOKEN_TEXT:
            capture += buf[start:min(end, start + MAX_TOKEN_TEXT - len(capture))]

    def _close_capture(self):
        stmt = self._stmt
        if self._capture is not None and stmt is not None:
            last = stmt.tail[-1] if stmt.tail else stmt.tokens[-1]
            last.text = bytes(self._capture).decode("utf-8", "replace")
        self._capture = None

    def _ordinary_string(self, buf, pos, limit, final):
        m = _STRING_BODY.match(buf, pos, limit)
        if m:
            self._keep(buf, pos, m.end())
            self._bs_run = 0
            return m.end()
        if buf[pos] == 0x5C:  # a run of backslashes
            run = _BACKSLASHES.match(buf, pos, limit)
            if run.end() == limit and not final:
                return None
            self._bs_after_high = self._prev_byte(buf, pos)[0] >= 0x80
            self._bs_run = run.end() - pos
            self._string_has_backslash = True
            self._keep(buf, pos, run.end())
            return run.end()
        # a quote
        if pos + 1 >= limit and not final and limit == len(buf):
            return None
        self._check_quote_after_backslashes()
        if buf[pos + 1:pos + 2] == b"'":
            self._keep(buf, pos, pos + 1)
            self._bs_run = 0
            return pos + 2
        return self._close_string(pos + 1)

    def _check_quote_after_backslashes(self):
        if self._string_kind == STRICT and self._string_has_backslash:
            raise self._ambiguous()
        if self._bs_run and (self._bs_run % 2 == 1 or self._bs_after_high):
            raise self._ambiguous()

    def _ambiguous(self):
        line = self._string_line
        return UnsafeSql(
            N_("The SQL file has a string on line %(line)s with a backslash before a quote, which psql reads "
               "differently depending on the server's settings (standard_conforming_strings, client encoding); "
               "dbkeeper refuses it because the rest of the file could then run as psql commands. "
               "Dump the database in custom format (pg_dump -Fc) instead."),
            line, params={"line": line},
        )

    def _escape_string(self, buf, pos, limit, final):
        m = _STRING_BODY.match(buf, pos, limit)
        if m:
            self._keep(buf, pos, m.end())
            return m.end()
        if buf[pos] == 0x5C:
            if pos + 1 >= limit:
                if not final:
                    return None
                return pos + 1
            if self._prev_byte(buf, pos)[0] >= 0x80:
                # In some client encodings this backslash is the second byte of a character.
                raise self._ambiguous()
            self._keep(buf, pos, pos + 2)
            return pos + 2
        if pos + 1 >= limit and not final and limit == len(buf):
            return None
        if buf[pos + 1:pos + 2] == b"'":
            self._keep(buf, pos, pos + 1)
            return pos + 2
        return self._close_string(pos + 1)

    def _bits_string(self, buf, pos, limit, final):
        m = _BITS_BODY.match(buf, pos, limit)
        if m:
            self._keep(buf, pos, m.end())
            return m.end()
        return self._close_string(pos + 1)

    def _close_string(self, after):
        self._mode = QUOTE_END
        return after

    def _quote_end(self, buf, pos, limit, final):
        """Just after a closing quote: a newline and another quote continue the literal."""
        m = _QUOTE_CONTINUE.match(buf, pos)
        if m:
            if self._copies_pending and m.end() > limit:
                # The continuation would cross into COPY data, which psql reads first.
                self._close_capture()
                self._mode = CODE
                return pos
            self._mode = SQUOTE if self._string_kind == STRICT else self._string_kind
            self._string_line = self._line_at(buf, m.end() - 1)
            self._bs_run = 0
            self._bs_after_high = False
            return m.end()
        if not final:
            prefix = _QUOTE_CONTINUE_PREFIX.match(buf, pos)
            if prefix.end() == len(buf):
                return None
        self._close_capture()
        self._mode = CODE
        return pos

    def _open_quoted_identifier(self, buf, at, body):
        self._mode = DQUOTE
        self._string_line = self._line_at(buf, at)
        self._quoted = bytearray()
        return body

    def _quoted_identifier(self, buf, pos, limit, final):
        m = _DQUOTE_BODY.match(buf, pos, limit)
        if m:
            if len(self._quoted) < MAX_TOKEN_TEXT:
                self._quoted += buf[pos:min(m.end(), pos + MAX_TOKEN_TEXT)]
            return m.end()
        if pos + 1 >= limit and not final and limit == len(buf):
            return None
        if buf[pos + 1:pos + 2] == b'"':
            self._quoted += b'"'
            return pos + 2
        self._mode = CODE
        self._token("quoted", bytes(self._quoted).decode("utf-8", "replace"))
        return pos + 1

    def _dollar_quoted(self, buf, pos, limit, final):
        delim = self._dollar_delim
        found = buf.find(delim, pos, limit)
        if found != -1:
            self._mode = CODE
            return found + len(delim)
        if final or limit < len(buf):
            return limit
        # Keep what could be the start of the closing delimiter.
        keep_from = max(pos, limit - len(delim) + 1)
        return keep_from if keep_from > pos else None

    # Comments ----------------------------------------------------------------------
    def _line_comment(self, buf, pos, limit, final):
        m = _LINE_COMMENT_BODY.match(buf, pos, limit)
        if m.end() < limit:  # stopped at \n or \r: psql ends a -- comment at either
            self._mode = CODE
        return m.end()

    def _block_comment(self, buf, pos, limit, final):
        m = _BLOCK_COMMENT_MARK.search(buf, pos, limit)
        if m is None:
            if final or limit < len(buf):
                return limit
            keep_from = limit - 1  # a "/" or "*" may start a mark
            return keep_from if keep_from > pos else None
        if m.group() == b"/*":
            self._comment_depth += 1
        else:
            self._comment_depth -= 1
            if self._comment_depth == 0:
                self._mode = CODE
        return m.end()

    # COPY data -----------------------------------------------------------------------
    def _start_copy_data(self):
        self._copy_statement = self._copies_pending.pop(0)
        if self._mode != COPY_DATA:
            self._copy_resume_mode = self._mode
        self._mode = COPY_DATA
        self._copy_rows = 0
        self._copy_at_line_start = True

    def _copy_data(self, buf, pos, limit, final):
        """Data lines up to a line that is exactly \\. (psql's end-of-data marker)."""
        if self._copy_at_line_start:
            head = buf[pos:pos + 4]
            if head[:2] == b"\\." or (len(head) < 2 and head == b"\\"[: len(head)]):
                if head[:3] == b"\\.\n":
                    return self._end_copy(pos + 3)
                if head == b"\\.\r\n":
                    return self._end_copy(pos + 4)
                if len(head) < 4 and not final and head in (b"\\", b"\\.", b"\\.\r"):
                    return None
                if final and head in (b"\\.", b"\\.\r"):
                    return self._end_copy(pos + len(head))
            self._copy_at_line_start = False
        found = _find_end_marker(buf, pos, limit)
        stop = found + 1 if found != -1 else buf.rfind(b"\n", pos, limit) + 1
        if stop == 0:  # no newline in sight: all of it is one line's data
            return limit
        self._copy_rows += self._count_newlines(buf, pos, stop)
        self._copy_at_line_start = True
        return stop

    def _count_newlines(self, buf, start, stop):
        """Newlines in buf[start:stop], counted once for both COPY rows and line numbers."""
        n = buf.count(b"\n", start, stop)
        if self._line_pos <= start:
            self._line_at(buf, start)
            self._line += n
            self._line_pos = stop
        return n

    def _end_copy(self, after):
        statement = self._copy_statement
        self.copy_blocks += 1
        self.copy_rows += self._copy_rows
        if self.on_copy:
            self.on_copy(statement, self._copy_rows)
        if self._copies_pending:
            self._start_copy_data()
        else:
            self._mode = self._copy_resume_mode
            self._copy_statement = None
        return after


def _find_end_marker(buf, pos, limit):
    """Offset of the newline before the next line that starts with "\\." in
    buf[pos:limit], or -1. Looks for backslashes first (fast where there are
    few), then lets a regular expression search where there are many."""
    misses = 0
    while misses < 8:
        i = buf.find(b"\\", pos, limit)
        if i == -1:
            return -1
        if i > pos and buf[i - 1] == 0x0A and buf[i + 1:i + 2] == b".":
            return i - 1
        misses += 1
        pos = i + 1
    m = _END_MARKER.search(buf, pos, limit)
    return m.start() if m else -1


