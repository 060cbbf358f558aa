"""Two real `mtpd experiment` processes sharing one cache: the data and each teacher are made once, by one of them; the
other waits for it and reuses it (mtpd.io.entry_lock), and no entry is left torn."""
import json, os, subprocess, time

import pytest

from conftest import run_env

pytestmark = pytest.mark.slow  # trains two smoke teachers and two distillation stages


def test_two_experiments_share_data_and_teachers(tmp_path):
    env = dict(run_env(), MTPD_CACHE=str(tmp_path / 'cache'))  # an empty cache of its own: nothing is made yet
    cmd = lambda d: ['mtpd', 'experiment', 'retinanet_r101_x101', '--scale', 'smoke', '--mode', 'direct',
                     '--work-root', str(tmp_path / d)]
    t0 = time.time()
    procs = [subprocess.Popen(cmd(d), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for d in ('a', 'b')]
    outs = [p.communicate(timeout=1800)[0] for p in procs]
    print(f"\ntwo processes, one cache: {time.time() - t0:.0f} s wall")
    assert [p.returncode for p in procs] == [0, 0], '\n'.join(o[-3000:] for o in outs)
    both = '\n'.join(outs)
    # each teacher trained exactly once, by one process; the other waited for it
    for role in ('teacher1', 'teacher2'):
        assert sum(f'retinanet_r101_x101 {role} (smoke, 3x) trained' in line for line in both.splitlines()) == 1, both[-4000:]
    assert 'waiting for another process to finish' in both
    teachers = sorted(p for p in (tmp_path / 'cache' / 'experiments' / 'teachers').iterdir() if p.is_dir())
    assert len(teachers) == 2
    for d in teachers:  # whole entries: the checkpoint with its record beside it, nothing half-written
        assert (d / 'teacher.pth').is_file() and json.loads((d / 'teacher.json').read_text())['metrics']
    data = [p for p in (tmp_path / 'cache' / 'data').iterdir() if p.is_dir()]
    assert sorted(p.name for p in data) == ['pretrained', 'shapes-smoke-seed0'] and not [p for p in data if '.tmp-' in p.name]
    # each pretrained backbone (the student's, both teachers') made once, by one process, whole: checkpoint and record
    made = sorted((tmp_path / 'cache' / 'data' / 'pretrained' / 'smoke-seed0').iterdir())
    ckpts = [p for p in made if p.suffix == '.pth']
    assert len(ckpts) == 3 and not [p for p in made if p.name.endswith('.tmp')], [p.name for p in made]
    for p in ckpts:
        assert json.loads(p.with_suffix('.json').read_text())['key'] == p.stem
        assert sum(f'(smoke, {p.stem}): accuracy' in line for line in both.splitlines()) == 1, both[-4000:]
    # both runs distilled from the same teacher file
    ms = [json.loads((tmp_path / d / 'retinanet_r101_x101' / 'direct-mgd-seed0' / 'manifest.json').read_text()) for d in 'ab']
    assert ms[0]['stages'][0]['teacher'] == ms[1]['stages'][0]['teacher']
