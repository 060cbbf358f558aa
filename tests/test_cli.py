"The `mtpd` console script: help, export-student, exit codes, nothing half-written."
import subprocess

import pytest
import torch

from conftest import RETINANET, run_env, tiny_model


def mtpd(*args, **kw):
    return subprocess.run(['mtpd', *map(str, args)], capture_output=True, text=True, env=run_env(), **kw)


def test_help_lists_commands():
    out = mtpd('--help')
    assert out.returncode == 0
    assert 'export-student' in out.stdout and 'data' in out.stdout
    sub = mtpd('export-student', '--help')
    assert sub.returncode == 0 and 'plain student config' in sub.stdout.replace('\n', ' ').replace('  ', ' ')


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
    ck = torch.load(dst, map_location='cpu', weights_only=False)
    assert set(ck) == {'state_dict', 'meta'} and ck['meta']['CLASSES'] == ('a', 'b', 'c')
    ref = model.student.state_dict()
    assert list(ck['state_dict']) == list(ref)
    assert all(torch.equal(ck['state_dict'][k], ref[k]) for k in ref)


@pytest.mark.parametrize('case', ['missing', 'garbage', 'plain'])
def test_export_student_bad_input(case, distiller_ckpt, tmp_path):
    src = {'missing': tmp_path / 'nope.pth', 'garbage': tmp_path / 'garbage.pth', 'plain': tmp_path / 'plain.pth'}[case]
    if case == 'garbage': src.write_bytes(b'\x00not a checkpoint')
    if case == 'plain': torch.save({'state_dict': {'neck.w': torch.ones(1)}}, src)
    dst = tmp_path / 'student.pth'
    out = mtpd('export-student', src, dst)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('mtpd: error: ') and str(src) in lines[0], out.stderr
    assert not dst.exists() and not list(tmp_path.glob('.student.pth*'))
