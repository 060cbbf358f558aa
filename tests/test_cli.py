"""The `mtpd` command in real processes: the console entry, export-student, failures (one line, status 1) and
bugs (a traceback, status 1). Bad input (one line, status 2, nothing written) is tests/test_bad_inputs.py's battery.

nbs/23_cli.ipynb tests every command in-process; these check what only a real process shows: the exit
status the shell sees, that nothing else reaches stderr, and that a bug's traceback is printed."""
import subprocess, sys

import pytest
import torch

from conftest import RETINANET, run_env, tiny_model


def mtpd(*args, cwd=None):
    "`python -m mtpd.cli ARGS` with the project's environment."
    return subprocess.run([sys.executable, '-m', 'mtpd.cli', *map(str, args)], capture_output=True, text=True,
                          env=run_env(), cwd=cwd)


def test_console_script_help():
    "The installed `mtpd` entry point lists every command and the exit statuses; a command's help is its own."
    out = subprocess.run(['mtpd', '--help'], capture_output=True, text=True, env=run_env())
    assert out.returncode == 0 and out.stderr == '', out.stderr
    for name in ('data', 'train', 'eval', 'export-student', 'progressive', 'order-teachers', 'experiment', 'reproduce', 'sweep'):
        assert name in out.stdout
    assert 'exit status' in out.stdout
    sub = mtpd('export-student', '--help')
    assert sub.returncode == 0 and 'plain student config' in ' '.join(sub.stdout.split())


@pytest.fixture(scope='module')
def distiller_ckpt(tmp_path_factory):
    from mmcv.runner import save_checkpoint
    from mmdet.models import build_detector
    import mtpd  # noqa: F401
    d = tmp_path_factory.mktemp('ckpt')
    model = build_detector(dict(type='DetectionDistiller', student=tiny_model(RETINANET),
                                teacher=tiny_model(RETINANET, depth=34)))
    model.init_weights()
    save_checkpoint(model, str(d / 'distiller.pth'), meta=dict(CLASSES=('a', 'b', 'c')))
    return d / 'distiller.pth', model


def test_export_student(distiller_ckpt, tmp_path):
    src, model = distiller_ckpt
    dst = tmp_path / 'out' / 'student.pth'
    out = mtpd('export-student', src, dst)
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"wrote student-only checkpoint {dst}\n"
    ck = torch.load(dst, map_location='cpu', weights_only=False)
    assert set(ck) == {'state_dict', 'meta'} and ck['meta']['CLASSES'] == ('a', 'b', 'c')
    ref = model.student.state_dict()
    assert list(ck['state_dict']) == list(ref)
    assert all(torch.equal(ck['state_dict'][k], ref[k]) for k in ref)


# The work replaced after validation (a monkeypatch does not cross processes): export-student's checks pass on a
# real distiller checkpoint, then `mtpd.weights.export_student` raises.
REPLACED = """
import sys
import mtpd.cli, mtpd.weights
def export_student(src, dst): raise {exc}
mtpd.weights.export_student = export_student
sys.exit(mtpd.cli.main(sys.argv[1:]))
"""


def replaced(exc, *args, cwd):
    return subprocess.run([sys.executable, '-c', REPLACED.format(exc=exc), *map(str, args)], capture_output=True,
                          text=True, env=run_env(), cwd=cwd)


def test_bug_keeps_its_traceback(distiller_ckpt, tmp_path):
    "A ValueError raised by the work is a bug, not bad input: Python's traceback and status 1."
    out = replaced("ValueError('simulated bug after validation')", 'export-student', distiller_ckpt[0], 'student.pth',
                   cwd=tmp_path)
    assert out.returncode == 1, (out.returncode, out.stderr[-2000:])
    assert 'Traceback (most recent call last)' in out.stderr and 'in _export_student' in out.stderr
    assert out.stderr.splitlines()[-1] == 'ValueError: simulated bug after validation'
    assert 'mtpd: error' not in out.stderr and not (tmp_path / 'student.pth').exists()


def test_failure_is_one_line(distiller_ckpt, tmp_path):
    "A diverged training (FloatingPointError from the NaN hook) is a failure: one line, status 1."
    out = replaced("FloatingPointError('stage 1: non-finite loss at iteration 3')", 'export-student', distiller_ckpt[0],
                   'student.pth', cwd=tmp_path)
    assert (out.returncode, out.stderr) == (1, "mtpd: failed: stage 1: non-finite loss at iteration 3\n")
