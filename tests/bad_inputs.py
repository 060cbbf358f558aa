"""The bad-input battery: what a new user gets wrong, by command, and the one line mtpd must answer with.

Each case runs `python -m mtpd.cli ARGS` in a fresh directory holding the files of `make_inputs` (a complete tiny
RetinaNet training config with its data, a fitting checkpoint, and broken variants of each) and expects exit status
2, exactly one stderr line `mtpd: error: ...` containing the expected text, nothing on stdout, no traceback, and the
directory unchanged. tests/test_bad_inputs.py asserts all of that; run this file as a script to count, by command,
how the cases end against any source tree (the "before" count of issue 17 ran it against an older commit):

    python tests/bad_inputs.py [--source CHECKOUT]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent

UNREACHABLE = 'http://127.0.0.1:9/retinanet_r50.pth'  # the discard port: connection refused at once, no network needed

# name -> (argv, expected text in the one stderr line). Command = argv[0] ('-' for the top level).
CASES = {
    # the top level
    'unknown command': (['distill', 'cfg.py'], "argument COMMAND: invalid choice: 'distill'"),
    # data
    'data shapes out under a file': (['data', 'shapes', '--out', 'file/data'], "'file' is a file, not a directory"),
    'data shapes unknown scale': (['data', 'shapes', '--out', 'd', '--scale', 'huge'], "argument --scale: invalid choice: 'huge'"),
    'data shapes foreign directory': (['data', 'shapes', '--out', 'data'], "data"),
    'data rehearsal no images': (['data', 'coco-rehearsal', '--out', 'r', '--train', '0'], "argument --train: must be >= 1, got 0"),
    # train
    'train config syntax error': (['train', 'syntax.py', '--work-dir', 'run'], "config file 'syntax.py' is not valid Python"),
    'train config without data': (['train', 'model_only.py', '--work-dir', 'run'], "config file 'model_only.py' has no data, optimizer, runner"),
    'train negative seed': (['train', 'cfg.py', '--work-dir', 'run', '--seed', '-1'], "argument --seed: must be >= 0, got -1"),
    'train zero processes': (['train', 'cfg.py', '--work-dir', 'run', '--gpus', '0'], "argument --gpus: must be >= 1, got 0"),
    'train processes not a number': (['train', 'cfg.py', '--work-dir', 'run', '--gpus', 'two'], "argument --gpus: 'two' is not an integer"),
    'train work dir is a file': (['train', 'cfg.py', '--work-dir', 'file'], "'file' is a file, not a directory"),
    'train corrupt annotations': (['train', 'bad_ann.py', '--work-dir', 'run'], "data/bad_ann.json' is not a COCO annotation file"),
    'train config not a file': (['train', 'data', '--work-dir', 'run'], "config file 'data' does not exist"),
    'train slurm outside srun': (['train', 'cfg.py', '--work-dir', 'run', '--launcher', 'slurm'], "SLURM_PROCID"),
    # eval
    'eval corrupt checkpoint': (['eval', 'garbage.pth', 'cfg.py'], "checkpoint 'garbage.pth' is not a readable PyTorch checkpoint"),
    'eval truncated checkpoint': (['eval', 'truncated.pth', 'cfg.py'], "checkpoint 'truncated.pth' is not a readable PyTorch checkpoint"),
    'eval checkpoint of another model': (['eval', 'plain.pth', 'cfg.py'], "checkpoint 'plain.pth'"),
    'eval config and row': (['eval', 'student.pth', 'cfg.py', '--row', 'retinanet_r101_x101'], "give a CONFIG file or --row ROW"),
    'eval unknown row': (['eval', 'student.pth', '--row', 'retinanet', '--scale', 'smoke'], "unknown row 'retinanet'"),
    'eval unreachable checkpoint url': (['eval', UNREACHABLE, 'cfg.py'], "cannot be reached"),
    # export-student
    'export missing checkpoint': (['export-student', 'nope.pth', 'out/student.pth'], "distiller checkpoint 'nope.pth' does not exist"),
    'export plain checkpoint': (['export-student', 'plain.pth', 'student.pth'], "'plain.pth' holds no student weights"),
    'export corrupt checkpoint': (['export-student', 'garbage.pth', 'student.pth'], "distiller checkpoint 'garbage.pth' is not a readable PyTorch checkpoint"),
    'export into a directory': (['export-student', 'distiller.pth', 'data'], "destination 'data' is a directory"),
    'export over its source': (['export-student', 'distiller.pth', 'distiller.pth'], "is the distiller checkpoint itself"),
    # progressive
    'progressive missing student': (['progressive', 'nope.py', '--teacher', 'cfg.py=student.pth', '--work-dir', 'run'],
                                    "student config file 'nope.py' does not exist"),
    'progressive teacher without checkpoint': (['progressive', 'cfg.py', '--teacher', 'cfg.py', '--work-dir', 'run'],
                                               "--teacher 'cfg.py' must be CFG=CKPT"),
    'progressive no teacher': (['progressive', 'cfg.py', '--work-dir', 'run'], "the teacher list is empty"),
    'progressive unknown mechanism': (['progressive', 'cfg.py', '--teacher', 'cfg.py=student.pth', '--work-dir', 'run',
                                       '--mechanism', 'kd'], "unknown mechanism 'kd'"),
    'progressive corrupt teacher checkpoint': (['progressive', 'cfg.py', '--teacher', 'cfg.py=garbage.pth', '--work-dir', 'run'],
                                               "teacher checkpoint 'garbage.pth' is not a readable PyTorch checkpoint"),
    'progressive teacher checkpoint misfits': (['progressive', 'cfg.py', '--teacher', 'cfg.py=plain.pth', '--work-dir', 'run'],
                                               "teacher checkpoint 'plain.pth'"),
    'progressive unreachable teacher url': (['progressive', 'cfg.py', '--teacher', f'cfg.py={UNREACHABLE}', '--work-dir', 'run'],
                                            "cannot be reached"),
    'progressive resume nothing': (['progressive', 'cfg.py', '--teacher', 'cfg.py=student.pth', '--work-dir', 'run', '--resume'],
                                   "--resume: work dir 'run' does not exist"),
    'progressive corrupt manifest': (['progressive', 'cfg.py', '--teacher', 'cfg.py=student.pth', '--work-dir', 'broken_run'],
                                     "broken_run/manifest.json"),
    # order-teachers
    'order zero time budget': (['order-teachers', 'cfg.py', '--teacher', 'cfg.py=student.pth', '--time-budget', '0'],
                               "argument --time-budget: must be > 0, got 0"),
    'order last not in pool': (['order-teachers', 'cfg.py', '--teacher', 'cfg.py=student.pth', '--last', 'swin'],
                               "--last 'swin' is not in the pool"),
    'order corrupt student checkpoint': (['order-teachers', 'cfg.py', '--teacher', 'cfg.py=student.pth', '--student-ckpt',
                                          'truncated.pth'], "student checkpoint 'truncated.pth' is not a readable"),
    # experiment
    'experiment unknown row': (['experiment', 'retinanet', '--work-root', 'runs'], "unknown row 'retinanet'; valid rows: "),
    'experiment rehearsal at smoke': (['experiment', 'retinanet_r101_x101', '--rehearsal'], "--rehearsal rehearses the full scale"),
    'experiment full on 3 processes': (['experiment', 'retinanet_r101_x101', '--scale', 'full', '--gpus', '3', '--dry-run'],
                                       "3 processes x 2 images cannot make the full-scale batch of 16"),
    'experiment full without coco': (['experiment', 'retinanet_r101_x101', '--scale', 'full', '--data-root', 'coco'],
                                     "data_root 'coco' is not a directory"),
    'experiment missing teacher checkpoint': (['experiment', 'retinanet_r101_x101', '--scale', 'full', '--data-root', 'data',
                                               '--teacher-ckpt', 'nope.pth'], "--teacher-ckpt 'nope.pth' does not exist"),
    'experiment work root is a file': (['experiment', 'retinanet_r101_x101', '--work-root', 'file'], "'file' is a file, not a directory"),
    # config
    'config out not python': (['config', 'retinanet_r101_x101', '--out', 'stage.yaml'], "--out 'stage.yaml' must end in .py"),
    'config stage out of range': (['config', 'retinanet_r101_x101', '--mode', 'direct', '--stage', '2', '--out', 'c.py'],
                                  "--stage 2: direct mode has 1 stage"),
    'config unknown mode': (['config', 'retinanet_r101_x101', '--mode', 'fast', '--out', 'c.py'], "argument --mode: invalid choice: 'fast'"),
    # reproduce
    'reproduce unknown row': (['reproduce', '--rows', 'retinanet'], "unknown row 'retinanet'"),
    'reproduce unknown table': (['reproduce', '--table', 'table3'], "unknown table 'table3'"),
    'reproduce negative seed': (['reproduce', '--seeds', '0', '-1'], "argument --seeds: must be >= 0, got -1"),
    'reproduce full without coco': (['reproduce', '--scale', 'full'], "no data_root given; at full scale point it (--data-root) at COCO"),
    'reproduce malformed teacher checkpoints': (['reproduce', '--scale', 'full', '--data-root', 'data', '--teacher-ckpts',
                                                 'retinanet_swin=t1.pth'], "--teacher-ckpts 'retinanet_swin=t1.pth' must be ROW=CKPT1,CKPT2"),
    'reproduce unknown mechanism': (['reproduce', '--mechanisms', 'kd'], "unknown mechanism 'kd'"),
    'reproduce teacher order at full': (['reproduce', '--scale', 'full', '--data-root', 'data', '--table', 'teacher_order'],
                                        "the teacher_order table trains its candidate teachers"),
    # sweep
    'sweep malformed variant': (['sweep', 'fast'], "fast"),
    'sweep duplicate names': (['sweep', 'a=retinanet_r101_x101:student:1x', 'a=retinanet_r101_x101:student:2x'],
                              "two variants are named 'a'"),
    'sweep zero jobs': (['sweep', 'a=retinanet_r101_x101:student:1x', '--jobs', '0'], "argument --jobs: must be >= 1, got 0"),
}


def command_of(case:str) -> str:
    a = CASES[case][0][0]
    return a if a in COMMANDS else '-'

COMMANDS = ('data', 'train', 'eval', 'export-student', 'progressive', 'order-teachers', 'experiment', 'config',
            'reproduce', 'sweep')


def make_inputs(d:Path):
    "The files every case sees: a tiny complete config with data, a fitting checkpoint, and broken variants."
    import torch
    from mmcv import Config
    from mmcv.runner import save_checkpoint
    from mmdet.models import build_detector
    sys.path.insert(0, str(HERE))
    from conftest import RETINANET, tiny_model
    import mtpd  # noqa: F401
    d.mkdir(parents=True, exist_ok=True)
    (d / 'file').write_text('x')
    (d / 'data' / 'img').mkdir(parents=True)
    coco = dict(images=[dict(id=1, file_name='a.png', width=64, height=64)],
                annotations=[dict(id=1, image_id=1, category_id=1, bbox=[4, 4, 20, 20], area=400, iscrowd=0)],
                categories=[dict(id=i, name=n) for i, n in enumerate('abc', 1)])
    (d / 'data' / 'ann.json').write_text(json.dumps(coco))
    (d / 'data' / 'bad_ann.json').write_text(json.dumps(coco)[:40])  # an interrupted download
    model = tiny_model(RETINANET)
    data = dict(type='CocoDataset', ann_file='data/ann.json', img_prefix='data/img/', classes=('a', 'b', 'c'),
                pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                          dict(type='Resize', img_scale=(64, 64), keep_ratio=True),
                          dict(type='Normalize', mean=[0.0] * 3, std=[1.0] * 3, to_rgb=True),
                          dict(type='Pad', size_divisor=32), dict(type='DefaultFormatBundle'),
                          dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels'])])
    cfg = dict(model=model, data=dict(samples_per_gpu=1, workers_per_gpu=0, train=data, val=data, test=data),
               optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4), optimizer_config=dict(grad_clip=None),
               lr_config=dict(policy='fixed'), runner=dict(type='IterBasedRunner', max_iters=2),
               checkpoint_config=dict(interval=2, by_epoch=False), log_config=dict(interval=1, hooks=[]),
               evaluation=dict(interval=2, metric='bbox'))
    Config(cfg).dump(str(d / 'cfg.py'))
    bad = dict(cfg, data=dict(cfg['data'], train=dict(data, ann_file='data/bad_ann.json')))
    Config(bad).dump(str(d / 'bad_ann.py'))
    Config(dict(model=model)).dump(str(d / 'model_only.py'))
    (d / 'syntax.py').write_text("model = dict(type='RetinaNet',\n")
    det = build_detector(Config(cfg).model); det.init_weights()
    save_checkpoint(det, str(d / 'student.pth'), meta=dict(CLASSES=('a', 'b', 'c')))
    dist = build_detector(dict(type='DetectionDistiller', student=model, teacher=model)); dist.init_weights()
    save_checkpoint(dist, str(d / 'distiller.pth'))
    torch.save({'state_dict': {'neck.w': torch.ones(1)}}, d / 'plain.pth')
    (d / 'garbage.pth').write_bytes(b'not a checkpoint\n' * 8)
    whole = (d / 'student.pth').read_bytes()
    (d / 'truncated.pth').write_bytes(whole[:len(whole) // 2])  # a write interrupted half way
    (d / 'broken_run').mkdir()
    (d / 'broken_run' / 'manifest.json').write_text('{"experiment": {"mode": "progre')  # torn by a crash
    return d


def tree(root:Path) -> list:
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob('*'))


def run_case(case:str, inputs:Path, work:Path, env:dict|None=None, timeout:float=180) -> dict:
    "Run one case in a copy of `inputs`; what happened: status, stderr lines, traceback, files changed, message matched."
    d = work / case.replace(' ', '_')
    shutil.copytree(inputs, d)
    before = tree(d)
    args, expect = CASES[case]
    try:
        out = subprocess.run([sys.executable, '-m', 'mtpd.cli', *args], capture_output=True, text=True, cwd=d, env=env,
                             timeout=timeout)
    except subprocess.TimeoutExpired as e:  # still working after `timeout` s: the input was accepted
        out = subprocess.CompletedProcess(args, 0, (e.stdout or b'').decode(), (e.stderr or b'').decode() + '\n(timed out: accepted)')
    lines = out.stderr.splitlines()
    return dict(case=case, command=command_of(case), status=out.returncode, stdout=out.stdout, stderr=out.stderr,
                traceback='Traceback' in out.stderr, one_line=len(lines) == 1 and lines[0].startswith('mtpd: error: '),
                matched=len(lines) == 1 and expect in lines[0], unchanged=tree(d) == before)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--source', help="run the mtpd of this checkout (default: the installed one)")
    p.add_argument('--json', help="write every case's outcome here")
    a = p.parse_args()
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    if a.source: env['PYTHONPATH'] = str(Path(a.source).resolve())
    env.setdefault('MTPD_CACHE', tempfile.mkdtemp(prefix='mtpd-battery-cache-'))
    with tempfile.TemporaryDirectory() as t:
        inputs = make_inputs(Path(t) / 'inputs')
        results = [run_case(c, inputs, Path(t), env) for c in CASES]
    counts = Counter()
    for r in results:
        ok = r['status'] == 2 and r['one_line'] and not r['traceback'] and r['unchanged'] and not r['stdout']
        kind = 'ok' if ok else 'traceback' if r['traceback'] else 'accepted' if r['status'] == 0 else 'other'
        r['outcome'] = kind
        counts[r['command'], kind] += 1
        if kind != 'ok': print(f"{kind:9s} {r['case']}: status {r['status']}, {r['stderr'].strip().splitlines()[-1:]}")
    print(f"\n{'command':16s} {'cases':>5s} {'one line':>8s} {'traceback':>9s} {'accepted':>8s} {'other':>5s}")
    for cmd in ('-',) + COMMANDS:
        n = sum(v for (c, _), v in counts.items() if c == cmd)
        print(f"{cmd:16s} {n:5d} {counts[cmd, 'ok']:8d} {counts[cmd, 'traceback']:9d} {counts[cmd, 'accepted']:8d} {counts[cmd, 'other']:5d}")
    total = Counter(k for (_, k), v in counts.items() for _ in range(v))
    print(f"{'all':16s} {len(results):5d} {total['ok']:8d} {total['traceback']:9d} {total['accepted']:8d} {total['other']:5d}")
    if a.json: Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == '__main__':
    main()
