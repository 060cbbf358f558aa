"""The stage runner end to end, through the `mtpd` command: 2 stages, resume after kill -9, bad inputs."""
import json, os, signal, subprocess, sys, time

import pytest
import torch

from conftest import RETINANET, run_env, small_training_config, tiny_model

pytestmark = pytest.mark.slow  # the module fixture trains two teachers; every test runs stages


def mtpd(*args, **kw):
    return subprocess.run(['mtpd', *map(str, args)], capture_output=True, text=True, env=run_env(), **kw)


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    "Config files of a student and two teachers (deeper, then deeper and wider), teachers trained briefly."
    from mtpd.data import CLASSES, ensure_shapes
    d = tmp_path_factory.mktemp('exp')
    data = ensure_shapes(d / 'data', 'smoke', progress=False)
    n = len(CLASSES)
    paths = {}
    for name, model, iters in (('student', tiny_model(RETINANET, num_classes=n), 6),
                               ('teacher1', tiny_model(RETINANET, depth=34, num_classes=n), 4),
                               ('teacher2', tiny_model(RETINANET, depth=50, fpn_channels=24, num_classes=n), 4)):
        cfg = small_training_config(model, data, max_iters=iters)
        cfg.dump(str(d / f'{name}.py')); paths[name] = d / f'{name}.py'
    for t in ('teacher1', 'teacher2'):
        out = mtpd('train', paths[t], '--work-dir', d / f'{t}_run')
        assert out.returncode == 0, out.stderr[-3000:]
        paths[t + '_ckpt'] = d / f'{t}_run' / 'latest.pth'
    return d, paths


def progressive(paths, work_dir, *extra, **kw):
    return mtpd('progressive', paths['student'], '--teacher', f"{paths['teacher1']}={paths['teacher1_ckpt']}",
                '--teacher', f"{paths['teacher2']}={paths['teacher2_ckpt']}", '--work-dir', work_dir, *extra, **kw)


@pytest.fixture(scope='module')
def reference(setup, tmp_path_factory):
    "One uninterrupted 2-stage run on one process: the run the resumed and the 2-process runs must reproduce."
    d, paths = setup
    work = tmp_path_factory.mktemp('reference') / 'run'
    t0 = time.time()
    out = progressive(paths, work)
    assert out.returncode == 0, out.stderr[-3000:]
    return work, out, time.time() - t0


def test_two_stages_end_to_end(setup, reference):
    d, paths = setup
    run, out, wall = reference
    print(f"\n2-stage smoke run: {wall:.1f} s wall")
    m = json.loads((run / 'manifest.json').read_text())
    assert [s['stage'] for s in m['stages']] == [1, 2]
    s1, s2 = m['stages']
    assert s1['inherit_teacher'] and not s2['inherit_teacher'] and s2['start_checkpoint'] == s1['export']
    assert [s['teacher']['name'] for s in m['stages']] == ['teacher1', 'teacher2']
    for s in m['stages']:
        assert 0 <= s['metrics']['bbox_mAP'] <= 1 and s['iterations'] == 6
        assert len(s['export_sha256']) == 64 and 'DetectionDistiller' in s['config']
    assert 'stage 2/2 (teacher teacher2) done' in out.stdout
    # exported students load strictly into the plain student config
    from mmcv import Config
    from mmcv.runner import load_checkpoint
    from mmdet.models import build_detector
    import mtpd as _  # noqa
    for s in m['stages']:
        load_checkpoint(build_detector(Config.fromfile(str(paths['student'])).model), str(run / s['export']),
                        strict=True, map_location='cpu')
    # running again: everything skipped, manifest unchanged
    again = progressive(paths, run)
    assert again.returncode == 0 and again.stdout.count('already done') == 2
    assert json.loads((run / 'manifest.json').read_text()) == m


def train_losses(run_dir) -> dict:
    """The logged total loss of every training iteration of a run (log interval 1), across resumed runs' logs; a line
    still being written by a running run is skipped."""
    out = {}
    for f in sorted(run_dir.glob('*.log.json')):
        for line in f.read_text().splitlines():
            try: r = json.loads(line)
            except json.JSONDecodeError: continue
            if r.get('mode') == 'train': out[r['iter']] = r['loss']
    return out


def test_kill_and_resume(setup, reference, tmp_path):
    "kill -9 mid-stage, then the same command: the same manifest as an uninterrupted run but for times, the same losses."
    d, paths = setup
    ref = reference[0]
    work = tmp_path / 'run'
    p = subprocess.Popen(['mtpd', 'progressive', paths['student'], '--teacher', f"{paths['teacher1']}={paths['teacher1_ckpt']}",
                          '--teacher', f"{paths['teacher2']}={paths['teacher2_ckpt']}", '--work-dir', str(work)],
                         env=run_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # kill -9 once stage 2 has written its first checkpoint and logged that iteration's loss (mmcv's checkpoint hook
    # runs before its logger: a kill between the two would lose the line the loss comparison below needs)
    deadline = time.time() + 300
    while not ((work / 'stage2' / 'iter_2.pth').exists() and 2 in train_losses(work / 'stage2')):
        assert p.poll() is None and time.time() < deadline, 'run ended before stage 2 checkpointed'
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait()
    m = json.loads((work / 'manifest.json').read_text())
    assert [s['stage'] for s in m['stages']] == [1]
    out = progressive(paths, work)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'stage 1/2' in out.stdout and 'already done' in out.stdout
    final = json.loads((work / 'manifest.json').read_text())
    expect = json.loads((ref / 'manifest.json').read_text())
    # the same run: the resumed stage continued the data order and the random streams (mtpd.resume), so
    # weights, export hash, metrics and the next stage's fingerprint are equal; only the clock differs
    strip = lambda s: {k: v for k, v in s.items() if k not in ('wall_time_s', 'finished')}
    final = json.loads(json.dumps(final).replace(str(work), '<work>'))
    expect = json.loads(json.dumps(expect).replace(str(ref), '<work>'))
    assert final['experiment'] == expect['experiment']
    assert [strip(s) for s in final['stages']] == [strip(s) for s in expect['stages']]
    losses = train_losses(work / 'stage2')
    assert sorted(losses) == [1, 2, 3, 4, 5, 6] and losses == train_losses(ref / 'stage2')
    assert not list(work.rglob('.tmp-*')) and not list(work.rglob('.*.tmp*'))


@pytest.mark.parametrize('case', ['missing_ckpt', 'mismatched_ckpt', 'empty', 'duplicate', 'mechanism', 'data', 'other_exp'])
def test_bad_inputs(case, setup, tmp_path):
    d, paths = setup
    s, t1, c1, t2, c2 = paths['student'], paths['teacher1'], paths['teacher1_ckpt'], paths['teacher2'], paths['teacher2_ckpt']
    work = tmp_path / 'run'
    args = {'missing_ckpt': [s, '--teacher', f'{t1}={d}/nope.pth'],
            'mismatched_ckpt': [s, '--teacher', f'{t1}={c2}'],
            'empty': [s],
            'duplicate': [s, '--teacher', f'{t1}={c1}', '--teacher', f'{t1}={c1}'],
            'mechanism': [s, '--teacher', f'{t1}={c1}', '--mechanism', 'nope'],
            'data': None, 'other_exp': None}[case]
    expect = {'missing_ckpt': 'does not exist', 'mismatched_ckpt': 'does not fit the model config', 'empty': 'teacher list is empty',
              'duplicate': 'appears twice', 'mechanism': "unknown mechanism 'nope'", 'data': 'ann_file',
              'other_exp': 'holds a different experiment'}[case]
    if case == 'data':
        from mmcv import Config
        cfg = Config.fromfile(str(s)); cfg.data.train.ann_file = str(d / 'missing.json'); cfg.dump(str(tmp_path / 's.py'))
        args = [tmp_path / 's.py', '--teacher', f'{t1}={c1}']
    if case == 'other_exp':
        work.mkdir()
        (work / 'manifest.json').write_text(json.dumps(dict(experiment=dict(sha256='0' * 64), stages=[])))
        before = sorted(p.name for p in work.iterdir())
        args = [s, '--teacher', f'{t1}={c1}']
    out = mtpd('progressive', *args, '--work-dir', work)
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('mtpd: error:') and expect in lines[0], out.stderr[-2000:]
    if case == 'mismatched_ckpt': assert 'neck.' in lines[0] or 'bbox_head.' in lines[0] or 'backbone.' in lines[0]
    if case == 'other_exp': assert sorted(p.name for p in work.iterdir()) == before
    else: assert not work.exists()


def test_two_processes_gloo(setup, reference, tmp_path):
    "`--gpus 2` re-launches itself under torchrun (gloo on CPU): same manifest structure, one set of files."
    d, paths = setup
    single, _, wall1 = reference
    t0 = time.time(); two = progressive(paths, tmp_path / 'two', '--gpus', '2'); wall2 = time.time() - t0
    assert two.returncode == 0, two.stderr[-3000:]
    print(f"\n2-stage smoke run: 1 process {wall1:.1f} s, 2 processes {wall2:.1f} s (wall, incl. start-up)")
    m1 = json.loads((single / 'manifest.json').read_text())
    m2 = json.loads((tmp_path / 'two' / 'manifest.json').read_text())
    assert [sorted(s) for s in m1['stages']] == [sorted(s) for s in m2['stages']]
    assert [s['teacher']['name'] for s in m2['stages']] == ['teacher1', 'teacher2']
    assert all(0 <= s['metrics']['bbox_mAP'] <= 1 for s in m2['stages'])
    files = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob('*')
                                if p.is_file() and not p.name.endswith(('.log', '.log.json')) and 'tf_logs' not in str(p))
    assert files(tmp_path / 'two') == files(single)
