"""Assertions the bad-input tests share."""


def one_error(err: str, *fragments) -> str:
    """The one line of ``err`` (stderr): it must be a ``facesr: error:`` line holding every fragment."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("facesr: error: "), err
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]
