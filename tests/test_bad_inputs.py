"""The bad-input battery (tests/bad_inputs.py) in real `mtpd` processes: every case exits 2 with one line
`mtpd: error: ...` naming the problem, nothing on stdout, no traceback, and no file written or touched.

The cases are data, shared with `python tests/bad_inputs.py`, which counts how they end against any checkout."""
import pytest

from bad_inputs import CASES, COMMANDS, command_of, make_inputs, run_case
from conftest import run_env


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    return make_inputs(tmp_path_factory.mktemp('battery') / 'inputs')


def test_battery_covers_every_command():
    "At least 30 cases, and every command (and the top level) has some."
    assert len(CASES) >= 30
    assert {command_of(c) for c in CASES} == {'-', *COMMANDS}


@pytest.mark.slow
@pytest.mark.parametrize('case', list(CASES))
def test_bad_input(case, inputs, tmp_path):
    r = run_case(case, inputs, tmp_path, run_env())
    assert r['status'] == 2, (r['status'], r['stderr'][-2000:])
    assert r['one_line'] and not r['traceback'], r['stderr'][-2000:]
    assert r['matched'], (CASES[case][1], r['stderr'])
    assert r['stdout'] == '' and r['unchanged']
