"""schemathesis, with every one of its checks, against `/v1/openapi.json` of a live
`python -m livepatch_app serve` on a seeded database (tests/apifuzz.py): once sending no
credentials, once with a working credential for every security scheme. Any server error,
any status the document does not list, any body that does not match its schema, any
schema-valid request refused or schema-violating one accepted fails the test.

Bounded: a fixed seed (a CI failure replays on a laptop with `tests/apifuzz.py`), a few
examples per operation and a time budget per run (fuzzing repeats until it is spent)."""

import re

import pytest

import apifuzz

EXAMPLES = "15"
BUDGET_SECONDS = "60"


@pytest.mark.parametrize("anonymous", [True, False], ids=["anonymous", "authenticated"])
def test_schemathesis_finds_no_failure(make_database, tmp_path, anonymous):
    result = apifuzz.fuzz(make_database(), tmp_path, anonymous,
                          ["-n", EXAMPLES, "--max-time", BUDGET_SECONDS])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-25000:]
    tested = re.search(r"Tested: (\d+)", output)
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    # Every operation of the document was exercised, none skipped for a schema error.
    assert tested and selected and tested[1] == selected[1] == selected[2], output[-5000:]
