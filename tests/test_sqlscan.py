"""The SQL scanner that finds psql meta-commands: each construct psql treats
specially, the tricky cases, every input fed in chunks of many sizes (tokens
cut at chunk boundaries), and a check against the real psql that what the
scanner refuses is what psql would have run."""

import subprocess

import pytest

from dbkeeper.engines.sqlscan import SqlScanner, UnsafeSql

from .pgserver import pg_bin

CHUNK_SIZES = [1, 2, 3, 5, 7, 11, 64, 1 << 20]


def scan(data: bytes, chunk=1 << 20):
    statements, metas, copies = [], [], []
    scanner = SqlScanner(on_statement=statements.append, on_meta=metas.append,
                         on_copy=lambda st, rows: copies.append((st.line, rows)))
    for i in range(0, len(data), chunk):
        scanner.feed(data[i:i + chunk])
    scanner.finish()
    return scanner, statements, metas, copies


def texts(data, statements):
    return [data[s.start:s.end].decode("utf-8", "replace") for s in statements]


def refused(data, chunk=1 << 20) -> UnsafeSql:
    with pytest.raises(UnsafeSql) as err:
        scan(data, chunk)
    return err.value


@pytest.fixture(params=CHUNK_SIZES, ids=lambda n: f"chunk{n}")
def chunk(request):
    return request.param


# -- statements -----------------------------------------------------------------

def test_statements_are_split_at_semicolons_with_their_lines(chunk):
    data = b"SET a = 1;\nSELECT 1;   SELECT\n  2;\n-- done\n"
    scanner, statements, _, _ = scan(data, chunk)
    assert texts(data, statements) == ["SET a = 1;", "SELECT 1;", "SELECT\n  2;"]
    assert [s.line for s in statements] == [1, 2, 2]
    assert scanner.statements == 3 and scanner.line == 5 and scanner.unterminated() is None


def test_a_last_statement_without_semicolon_is_still_a_statement(chunk):
    data = b"SELECT 1;\nSELECT 2"
    _, statements, _, _ = scan(data, chunk)
    assert texts(data, statements) == ["SELECT 1;", "SELECT 2"]
    assert statements[-1].terminated is False


def test_semicolons_inside_parentheses_do_not_end_a_statement(chunk):
    data = b"CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2));\nSELECT 3;\n"
    _, statements, _, _ = scan(data, chunk)
    assert len(statements) == 2 and texts(data, statements)[1] == "SELECT 3;"


def test_begin_atomic_function_bodies_are_one_statement(chunk):
    data = (b"CREATE OR REPLACE FUNCTION f(x int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n"
            b"  SELECT CASE WHEN x > 0 THEN 1 ELSE 2 END;\n  SELECT 3;\nEND;\nSELECT begin, end FROM t;\n")
    _, statements, _, _ = scan(data, chunk)
    assert len(statements) == 2
    assert texts(data, statements)[0].endswith("SELECT 3;\nEND;")


def test_tokens_name_words_quoted_names_and_strings(chunk):
    data = b'CREATE TABLE "My Schema"."T""1" (a text DEFAULT \'it\'\'s\');'
    _, statements, _, _ = scan(data, chunk)
    tokens = [(t.kind, t.text) for t in statements[0].tokens]
    assert tokens[:5] == [("word", "create"), ("word", "table"), ("quoted", "My Schema"), ("punct", "."), ("quoted", 'T"1')]
    assert ("string", "it's") in tokens


# -- meta-commands ----------------------------------------------------------------

def test_shell_command_is_refused_with_its_line(chunk):
    err = refused(b"-- a dump\nSELECT 1;\n\n\\! touch /tmp/x\nSELECT 2;\n", chunk)
    assert err.message == (
        "The SQL file contains the psql command \\! on line 4; dbkeeper refuses files that run shell or client commands."
    )
    assert err.line == 4 and err.command == "\\!" and err.code == "backup_rejected"


@pytest.mark.parametrize("command", [
    b"\\connect postgres", b"\\c postgres", b"\\copy t FROM '/etc/passwd'", b"\\i /tmp/x.sql", b"\\ir x.sql",
    b"\\o /tmp/out", b"\\g /tmp/out", b"\\gexec", b"\\set ON_ERROR_STOP 0", b"\\q", b"\\;", b"\\", b"\\restrict",
    b"\\restrict key extra", b"\\unrestrict `id`", b"\\setenv PAGER x",
])
def test_every_other_meta_command_is_refused(command):
    name = command.split()[0].decode() if command != b"\\;" else "\\;"
    err = refused(b"SELECT 1;\n" + command + b"\n")
    assert err.line == 2 and err.command == name


def test_a_backslash_after_a_statement_on_the_same_line_is_refused(chunk):
    assert refused(b"SELECT 1; \\! id\n", chunk).line == 1
    assert refused(b"SELECT 'a', \"b\", $$c$$; \\! id\n", chunk).command == "\\!"
    # ...and in the middle of a statement (psql runs it before the statement ends).
    assert refused(b"SELECT 1,\n 2 \\g /tmp/out\n", chunk).line == 2


def test_restrict_pair_written_by_pg_dump_is_allowed(chunk):
    data = b"--\n\\restrict Ab12\n\nSELECT 1;\n\n\\unrestrict Ab12\n"
    scanner, statements, metas, _ = scan(data, chunk)
    assert [(m.line, m.command, m.key) for m in metas] == [(2, "restrict", "Ab12"), (6, "unrestrict", "Ab12")]
    assert [data[m.start:m.end] for m in metas] == [b"\\restrict Ab12", b"\\unrestrict Ab12"]
    assert len(statements) == 1


def test_nul_bytes_are_refused(chunk):
    err = refused(b"SELECT 1;\nSELECT '\x00';\n", chunk)
    assert "NUL byte on line 2" in err.message


# -- quotes, comments, dollar quotes ------------------------------------------------

def test_backslashes_inside_quotes_and_comments_are_text(chunk):
    data = (
        b"SELECT 'C:\\temp\\x', 'two \\\\ ok\\\\';\n"  # ordinary strings: backslashes are plain characters
        b"SELECT E'it\\'s \\\\ and \\! in an E string', e'\\'';\n"
        b'SELECT 1 AS "back\\slash ""\\!""";\n'
        b"-- \\! in a line comment\n"
        b"/* outer /* nested \\! */ still \\connect comment */ SELECT 2;\n"
        b"SELECT 3; -- \\! trailing comment\n"
    )
    scanner, statements, _, _ = scan(data, chunk)
    assert scanner.statements == 5


def test_dollar_quotes_hide_backslashes_and_other_delimiters(chunk):
    data = (
        b"CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN E'\\\\!'; END $$;\n"
        b"CREATE FUNCTION g() RETURNS text LANGUAGE plpgsql AS $body$\n"
        b"BEGIN\n  -- $$ is not the end here\n  RETURN $$\\! a $x$ b$$;\nEND\n$body$;\n"
        b"SELECT $a$x$a$, $1, foo$$bar, $_$\\$_$;\n"
    )
    _, statements, _, _ = scan(data, chunk)
    assert len(statements) == 3


def test_a_dollar_after_an_identifier_does_not_open_a_quote(chunk):
    # "foo$$" is one identifier; the backslash after it is a meta-command.
    assert refused(b"SELECT foo$$ \\! id $$;\n", chunk).command == "\\!"


def test_a_line_comment_ends_at_a_carriage_return(chunk):
    # psql ends a -- comment at \r as well as \n: this \! would run.
    assert refused(b"SELECT 1; -- note\r\\! id\n", chunk).line == 1


def test_a_comment_opened_after_a_block_comment_closes(chunk):
    assert refused(b"/* a /* b */ c */ \\! id\n", chunk).command == "\\!"
    assert refused(b"/* a */ */ \\! id\n", chunk).command == "\\!"


def test_strings_continue_across_lines_in_their_own_kind(chunk):
    # An E string continued on the next line is still an E string (psql reads it so).
    data = b"SELECT E'a'\n  -- comment between\n 'b\\'c \\! d';\n"
    _, statements, _, _ = scan(data, chunk)
    assert len(statements) == 1


def test_a_backslash_before_a_quote_in_an_ordinary_string_is_refused(chunk):
    # 'a\' ends here with standard_conforming_strings on, but not with it off: refuse.
    err = refused(b"SELECT 'a\\';\nSELECT ' \\! id ';\n", chunk)
    assert err.line == 1 and "backslash before a quote" in err.message
    assert refused(b"SELECT 'x\\\\\\''';\n", chunk).line == 1  # three backslashes, then a doubled quote
    # An even run ends the string the same way in both readings.
    assert scan(b"SELECT 'a\\\\';\n", chunk)[0].statements == 1


def test_an_e_after_a_number_is_ambiguous_with_a_backslash(chunk):
    refused(b"SELECT 1e'\\' ;\n", chunk)
    assert scan(b"SELECT 1e'x';\n", chunk)[0].statements == 1


def test_a_backslash_after_a_non_ascii_byte_in_an_e_string_is_refused(chunk):
    # In SJIS or BIG5 that backslash is the second byte of a character.
    refused("SELECT E'\u00e9\\'';\n".encode("utf-8"), chunk)
    refused(b"SELECT '\x95\\\\';\n", chunk)


def test_non_utf8_bytes_do_not_stop_the_scanner(chunk):
    data = b"SELECT 'caf\xe9', \"na\xefve\", na\xefve_ident FROM t;\nSELECT $\xe9$x$\xe9$;\n"
    scanner, statements, _, _ = scan(data, chunk)
    assert scanner.statements == 2
    assert statements[0].tokens[3].text == "na\ufffdve"


def test_bit_and_unicode_strings(chunk):
    data = b"SELECT B'0101', X'FF', U&'d\\0061t\\+000061', U&\"d\\0061t\";\n"
    assert scan(data, chunk)[0].statements == 1


def test_unterminated_constructs_are_reported(chunk):
    for data, phrase in [
        (b"SELECT 'abc", "a quoted string that starts on line 1"),
        (b"SELECT 1;\nSELECT $$abc", "a dollar-quoted text that starts on line 2"),
        (b'SELECT "abc', "a quoted name that starts on line 1"),
        (b"SELECT 1; /* abc", "a /* comment */ that starts on line 1"),
        (b"COPY t FROM stdin;\n1\n2\n", "the data of the COPY statement on line 1"),
    ]:
        scanner, _, _, _ = scan(data, chunk)
        assert str(scanner.unterminated()) == phrase


# -- COPY data ----------------------------------------------------------------------------

def test_copy_data_may_hold_backslashes_until_its_end_marker(chunk):
    data = (
        b"COPY public.t (a, b) FROM stdin;\n"
        b"\\N\t\\\\x00ff\n"
        b"\\!x\tC:\\\\temp\n"
        b"\\.x\tnot the end\n"
        b"\\.\n"
        b"SELECT 1;\n"
        b"copy t from STDIN;\r\n"
        b"1\r\n"
        b"\\.\r\n"
    )
    scanner, statements, _, copies = scan(data, chunk)
    assert copies == [(1, 3), (7, 1)]
    assert scanner.copy_blocks == 2 and scanner.copy_rows == 4
    assert len(statements) == 3
    assert statements[0].is_copy_from_stdin() and not statements[1].is_copy_from_stdin()


def test_after_copy_data_backslashes_are_commands_again(chunk):
    err = refused(b"COPY t FROM stdin;\n1\n\\.\n\\! id\n", chunk)
    assert err.line == 4


def test_copy_data_starts_on_the_line_after_the_statement(chunk):
    # The rest of the COPY line is SQL, run after the data; two COPYs on one line read two blocks.
    data = b"COPY a FROM stdin; COPY b FROM stdin; SELECT 1;\n1\n\\.\n2\n3\n\\.\nSELECT 2;\n"
    scanner, statements, _, copies = scan(data, chunk)
    assert copies == [(1, 1), (1, 2)] and len(statements) == 4
    assert refused(b"COPY a FROM stdin; \\! id\n1\n\\.\n", chunk).line == 1


def test_copy_to_stdout_or_from_a_file_has_no_data(chunk):
    assert refused(b"COPY (SELECT * FROM stdin) TO STDOUT;\n\\! id\n\\.\n", chunk).line == 2
    assert refused(b"COPY t (stdin) FROM '/tmp/f';\n\\! id\n\\.\n", chunk).line == 2
    assert refused(b"SELECT (1;\nCOPY t FROM stdin;\n\\! id\n\\.\n", chunk).line == 3


def test_copy_with_many_columns_is_still_recognised(chunk):
    columns = ", ".join(f"c{i}" for i in range(200)).encode()
    data = b"COPY public.wide (" + columns + b") FROM stdin;\n\\N\\!\n\\.\n"
    scanner, _, _, copies = scan(data, chunk)
    assert copies == [(1, 1)]


# -- against the real psql ------------------------------------------------------------------

HOSTILE = [
    b"SELECT 1;\n\\! touch MARKER\n",
    b"SELECT 1; \\! touch MARKER\n",
    b"SELECT 1; -- x\r\\! touch MARKER\n",
    b"/* a /* b */ c */ \\! touch MARKER\n",
    b"COPY (SELECT 1) TO STDOUT;\n\\! touch MARKER\n",
    b"SELECT foo$$ \\! touch MARKER\n",
    b"SELECT 'a' \\! touch MARKER\n",
]
HARMLESS = [
    b"SELECT '\\! touch MARKER';\n",
    b"SELECT E'\\' \\! touch MARKER';\n",
    b"SELECT $$\n\\! touch MARKER\n$$;\n",
    b"SELECT $t$ $$ \\! touch MARKER $t$;\n",
    b'SELECT 1 AS "\\! touch MARKER";\n',
    b"-- \\! touch MARKER\nSELECT 1;\n",
    b"/* /* */ \\! touch MARKER */ SELECT 1;\n",
    b"CREATE TEMP TABLE t (a text);\nCOPY t FROM stdin;\n\\! touch MARKER\n\\.\nSELECT 1;\n",
    b"SELECT E'a'\n 'b\\' \\! touch MARKER';\n",
]


def run_psql(pg, script, folder):
    subprocess.run([pg_bin("psql"), "-X", "-q", "-w", "-f", "-"], input=script, env=pg.env(), cwd=folder,
                   capture_output=True, timeout=30)
    return (folder / "MARKER").exists()


@pytest.mark.parametrize("script", HOSTILE)
def test_what_psql_would_run_is_refused(pg, tmp_path, script):
    refused(script)
    assert run_psql(pg, script, tmp_path), "psql ran this meta-command (the reason to refuse it)"


@pytest.mark.parametrize("script", HARMLESS)
def test_what_the_scanner_accepts_psql_does_not_run(pg, tmp_path, script):
    scan(script)
    assert not run_psql(pg, script, tmp_path)
