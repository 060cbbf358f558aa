"""Every mechanism (MGD, CWD, FGD) distils every detector family through `mtpd progressive`, and a stage killed with
kill -9 after its first checkpoint resumes from it, distillation modules included."""
import json, signal, subprocess, time

import pytest
import torch

from conftest import run_env, small_training_config, tiny_model

pytestmark = pytest.mark.slow  # the fixture trains three teachers; every case trains and resumes a stage

FAMILIES = {  # family -> (student config, teacher config, levels distilled, masks)
    'retinanet': ('retinanet/retinanet_r50_fpn_1x_coco.py', 'retinanet/retinanet_r50_fpn_1x_coco.py', 5, False),
    'reppoints': ('reppoints/reppoints_moment_r50_fpn_gn-neck+head_1x_coco.py',
                  'reppoints/reppoints_moment_r50_fpn_gn-neck+head_1x_coco.py', 5, False),
    'mask_rcnn': ('mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py', 'mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py', 4, True),
}
MECHANISMS = ('mgd', 'cwd', 'fgd')


def mtpd(*args, **kw):
    return subprocess.run(['mtpd', *map(str, args)], capture_output=True, text=True, env=run_env(), **kw)


@pytest.fixture(scope='module')
def families(tmp_path_factory):
    "Per family: a tiny student config and a deeper, wider teacher trained for 4 iterations with `mtpd train`."
    from mtpd.data import CLASSES, ensure_shapes
    d = tmp_path_factory.mktemp('mech')
    data = ensure_shapes(d / 'data', 'smoke', progress=False)
    out = {}
    for fam, (s, t, _, masks) in FAMILIES.items():
        kw = dict(num_classes=len(CLASSES))
        student = small_training_config(tiny_model(s, **kw), data, max_iters=6, with_mask=masks)
        teacher = small_training_config(tiny_model(t, depth=34, fpn_channels=24, **kw), data, max_iters=4, with_mask=masks)
        student.dump(str(d / f'{fam}_student.py')); teacher.dump(str(d / f'{fam}_teacher.py'))
        run = mtpd('train', d / f'{fam}_teacher.py', '--work-dir', d / f'{fam}_teacher')
        assert run.returncode == 0, run.stderr[-3000:]
        out[fam] = (d / f'{fam}_student.py', f"{d / f'{fam}_teacher.py'}={d / f'{fam}_teacher' / 'latest.pth'}")
    return out


def _iterations_logged(stage_dir) -> list[list[int]]:
    "The iterations each training run of a stage logged, one list per run (mmcv writes one .log.json per run)."
    runs = []
    for p in sorted(stage_dir.glob('*.log.json')):
        recs = [json.loads(l) for l in p.read_text().splitlines() if l.strip()]
        runs.append([r['iter'] for r in recs if r.get('mode') == 'train'])
    return runs


@pytest.mark.parametrize('mechanism', MECHANISMS)
@pytest.mark.parametrize('family', list(FAMILIES))
def test_stage_trains_and_resumes(family, mechanism, families, tmp_path):
    from mtpd.mechanisms import distill_loss, family_of
    student, teacher = families[family]
    work = tmp_path / 'run'
    cmd = ['mtpd', 'progressive', str(student), '--teacher', teacher, '--mechanism', mechanism, '--work-dir', str(work)]
    p = subprocess.Popen(cmd, env=run_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 600
    while not (work / 'stage1' / 'iter_2.pth').exists():
        assert p.poll() is None and time.time() < deadline, f'run ended before its first checkpoint: {p.stdout.read()[-3000:]}'
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait()
    assert not (work / 'stage1' / 'student.pth').exists()
    # the checkpoint holds the mechanism's own modules (FGD's context blocks, the align convs, MGD's generators)
    ckpt = torch.load(work / 'stage1' / 'iter_2.pth', map_location='cpu', weights_only=False)
    loss_keys = [k for k in ckpt['state_dict'] if k.startswith('distill_losses.')]
    assert loss_keys and all(k.split('.')[1].startswith(f'{mechanism}_fpn') for k in loss_keys)

    out = mtpd(*cmd[1:])
    assert out.returncode == 0, out.stderr[-3000:]
    m = json.loads((work / 'manifest.json').read_text())
    assert m['experiment']['mechanism'] == mechanism
    (stage,) = m['stages']
    assert stage['iterations'] == 6 and 0 <= stage['metrics']['bbox_mAP'] <= 1
    # resumed, not restarted: the second run logged iterations 3..6 only
    first, second = _iterations_logged(work / 'stage1')
    assert first and max(first) <= 2 + 1 and min(second) > 2 and max(second) == 6, (first, second)
    # every level's term of this mechanism, with the settings the registry gives this student
    recs = [json.loads(l) for l in sorted((work / 'stage1').glob('*.log.json'))[-1].read_text().splitlines() if l.strip()]
    logged = [r for r in recs if r.get('mode') == 'train'][-1]
    levels = FAMILIES[family][2]
    assert sorted(k for k in logged if k.startswith(f'loss_{mechanism}_fpn')) == [f'loss_{mechanism}_fpn{k}' for k in range(levels)]
    from mmcv import Config
    cfg = Config.fromstring(stage['config'], '.py')  # the manifest keeps the stage's full config text
    expect = distill_loss(mechanism, family_of(cfg.model), detector=cfg.model.student.type)
    assert cfg.model.distill_loss == expect
