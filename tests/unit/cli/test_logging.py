"""m4d.cli.signals: what a long-running command (hub, agent, sync) logs for an internal error."""

from __future__ import annotations

import io
import logging

import pytest

from m4d.cli.signals import LogFormatter, verbose_requested


def _logged(tracebacks: bool) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LogFormatter(tracebacks))
    log = logging.getLogger("m4d.test.formatter")
    log.addHandler(handler)
    log.propagate = False
    try:
        {}["missing"]
    except KeyError:
        log.exception("hub m4dapplication default/a: reconcile crashed (retry 1)")
    finally:
        log.removeHandler(handler)
    return stream.getvalue()


def test_a_bug_is_one_line_that_says_so_without_v() -> None:
    text = _logged(tracebacks=False)
    assert "ERROR m4d.test.formatter: hub m4dapplication default/a: reconcile crashed (retry 1)" in text
    assert "internal error (a bug): KeyError: 'missing'; run again with -v to see where" in text
    assert "Traceback" not in text
    assert len(text.strip().splitlines()) == 2


def test_with_v_the_traceback_shows_where() -> None:
    text = _logged(tracebacks=True)
    assert "Traceback (most recent call last)" in text
    assert '{}["missing"]' in text


@pytest.mark.parametrize(
    ("argv", "verbose"),
    [(["-v", "hub", "run"], True), (["hub", "run", "--verbose"], True), (["hub", "run"], False),
     (["module", "flight", "--", "-v"], False)],
)  # fmt: skip
def test_v_is_found_before_or_after_the_command(argv: list[str], verbose: bool) -> None:
    assert verbose_requested(argv) is verbose
