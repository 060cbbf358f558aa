"`mtpd order-teachers`: cost table, order, JSON, hand-over to the stage runner, and its errors (subprocesses)."
import json
import subprocess

import pytest
import torch

from conftest import run_env


def mtpd(*args):
    return subprocess.run(['mtpd', *map(str, args)], capture_output=True, text=True, env=run_env())


@pytest.fixture(scope='module')
def pool(tmp_path_factory):
    "A smoke-scale RetinaNet student config file, and teacher config files + checkpoints: identical, perturbed, shifted FPN."
    import copy
    from mmdet.models import build_detector
    from mtpd import recipes
    from mtpd.data import CLASSES, ensure_shapes
    from mtpd.configs import quiet_init
    from mtpd.weights import atomic_save
    d = tmp_path_factory.mktemp('order')
    ensure_shapes(d / 'data', 'smoke', progress=False)
    student = recipes.baseline_config('retinanet_r101_x101', 'smoke', d / 'data')
    student.runner.max_iters = 2  # a stage of two iterations: the hand-over is what is tested
    student.lr_config.step = [1]; student.lr_config.warmup_iters = 1
    student.checkpoint_config.interval = 2
    student.dump(str(d / 'student.py'))
    from mtpd.pretrain import ensure_pretrained_backbones
    ensure_pretrained_backbones(student)  # the student's backbone starts from its pretrained checkpoint
    torch.manual_seed(0)
    base = build_detector(student.model)
    with quiet_init(): base.init_weights()
    files = {}
    for name, sigma in (('identical', 0.0), ('noisy', 1.0)):
        m = copy.deepcopy(base)
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for p in m.parameters():
                if p.dim() > 1: p.add_(sigma * p.std() * torch.randn(p.shape, generator=g))
        ckpt = atomic_save(dict(state_dict=m.state_dict(), meta=dict(CLASSES=CLASSES)), d / f'{name}.pth')
        cfg = d / f'{name}.py'
        cfg.write_text(f"model = {student.model.to_dict()!r}\n")
        files[name] = (cfg, ckpt)
    shifted = copy.deepcopy(student.model.to_dict()); shifted['neck']['start_level'] = 0
    (d / 'shifted.py').write_text(f"model = {shifted!r}\n")
    files['shifted'] = (d / 'shifted.py', files['identical'][1])
    return d, files


def teacher(files, name): return f"{files[name][0]}={files[name][1]}"


@pytest.mark.slow
def test_order_teachers_ranks_writes_json_and_runs_the_sequence(pool):
    d, files = pool
    out = mtpd('order-teachers', d / 'student.py', '--teacher', teacher(files, 'noisy'), '--teacher', teacher(files, 'identical'),
               '--student-ckpt', files['identical'][1], '--steps', 3, '--json', d / 'order.json', '--progressive', d / 'run')
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'order: identical -> noisy' in out.stdout
    assert f"mtpd progressive {d / 'student.py'} --teacher {teacher(files, 'identical')} --teacher {teacher(files, 'noisy')}" in out.stdout
    result = json.loads((d / 'order.json').read_text())
    costs = {c['name']: c['cost'] for c in result['costs']}
    assert costs['identical'] < 0.05 < costs['noisy'], costs
    assert result['order'] == ['identical', 'noisy'] and result['steps'] == 3
    assert [t['name'] for t in result['sequence']] == ['identical', 'noisy']
    manifest = json.loads((d / 'run' / 'manifest.json').read_text())  # the stage runner ran that sequence
    assert [s['teacher']['name'] for s in manifest['stages']] == ['identical', 'noisy']
    # the same probe again: the same costs, bit for bit
    again = mtpd('order-teachers', d / 'student.py', '--teacher', teacher(files, 'noisy'), '--teacher', teacher(files, 'identical'),
                 '--student-ckpt', files['identical'][1], '--steps', 3, '--json', d / 'again.json')
    assert again.returncode == 0, again.stderr[-2000:]
    same = json.loads((d / 'again.json').read_text())['costs']
    assert [(c['cost'], c['probe_curve']) for c in same] == [(c['cost'], c['probe_curve']) for c in result['costs']]


def test_order_teachers_computes_whatever_the_callers_threads(pool):
    """The probe, and the student's pretrained backbone it makes when missing, compute with the student's thread count
    (the smoke scale's one), not the caller's: one and two caller threads give the same checkpoint and costs, bit for bit
    (before, the probe ran at the caller's count and cached a backbone that depended on it)."""
    from mmcv import Config
    from mtpd.pretrain import ensure_pretrained_backbones
    d, files = pool
    [backbone] = ensure_pretrained_backbones(Config.fromfile(str(d / 'student.py')))
    made = []
    for threads in (2, 1):
        backbone.unlink()  # made again by the probe, as when the order study is the first to need it
        out = subprocess.run(['mtpd', 'order-teachers', str(d / 'student.py'), '--teacher', teacher(files, 'noisy'),
                              '--steps', '2', '--json', str(d / f'threads{threads}.json')], capture_output=True,
                             text=True, env=dict(run_env(), OMP_NUM_THREADS=str(threads)))
        assert out.returncode == 0, out.stderr[-2000:]
        costs = json.loads((d / f'threads{threads}.json').read_text())['costs']
        made.append(([(c['cost'], c['probe_curve']) for c in costs], torch.load(backbone, map_location='cpu')['state_dict']))
    (costs2, a), (costs1, b) = made
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert costs2 == costs1


@pytest.mark.slow
def test_order_teachers_last_and_cap(pool):
    d, files = pool
    out = mtpd('order-teachers', d / 'student.py', '--teacher', teacher(files, 'noisy'), '--teacher', teacher(files, 'identical'),
               '--student-ckpt', files['identical'][1], '--steps', 2, '--cap', 1, '--last', files['noisy'][0])
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'order: noisy\n' in out.stdout


@pytest.mark.parametrize('case', ['empty', 'shifted', 'missing-ckpt', 'both-budgets'])
def test_order_teachers_bad_pools(pool, case):
    d, files = pool
    args = {'empty': [],
            'shifted': ['--teacher', teacher(files, 'identical'), '--teacher', teacher(files, 'shifted')],
            'missing-ckpt': ['--teacher', f"{files['noisy'][0]}={d / 'nope.pth'}"],
            'both-budgets': ['--teacher', teacher(files, 'identical'), '--steps', 2, '--time-budget', 10]}[case]
    out = mtpd('order-teachers', d / 'student.py', *args, '--json', d / f'{case}.json')
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    err = out.stderr.strip().splitlines()
    expected = {'empty': 'teacher pool is empty', 'shifted': "teacher 'shifted': distilled level",
                'missing-ckpt': 'nope.pth', 'both-budgets': 'not allowed with argument'}[case]
    assert expected in err[-1], err
    assert not (d / f'{case}.json').exists()
