"""Distributed training and evaluation on real CPU processes (gloo): torchrun, SLURM's variables, errors.

Nothing is mocked: the main test launches `torchrun --standalone --nproc_per_node 2` on a worker
script that trains a small RetinaNet DetectionDistiller with `mtpd.train.train(distributed=True)`
(validation through MMDetection's DistEvalHook included), exports the student and evaluates it with
`mtpd.train.evaluate(distributed=True)`.
"""
import json, os, socket, subprocess, sys, textwrap, time
from pathlib import Path

import pytest
import torch

from conftest import run_env

TESTS = Path(__file__).resolve().parent
MAX_ITERS, INTERVAL = 4, 2

WORKER = textwrap.dedent('''
    import hashlib, json, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])  # the tests directory, for conftest.tiny_model
    from mmcv import Config
    from mmcv.runner import HOOKS, Hook, save_checkpoint
    import mtpd  # noqa: F401  (registrations)
    from mtpd.dist import init_distributed, barrier, get_rank, is_main
    from mtpd.data import CLASSES, ensure_shapes, shapes_data_config
    from mtpd.train import train, evaluate
    from mtpd.weights import export_student
    from conftest import RETINANET, tiny_model

    out = Path(sys.argv[1]); max_iters, interval = int(sys.argv[3]), int(sys.argv[4])
    rank, world = init_distributed()
    (out / f'world_{rank}.json').write_text(json.dumps([rank, world]))

    def state_sha(state):
        h = hashlib.sha256()
        for k in sorted(state):
            h.update(k.encode()); h.update(state[k].detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

    @HOOKS.register_module(force=True)
    class StateShaHook(Hook):
        "Each rank writes the sha256 of its own in-memory weights when training ends."
        def after_run(self, runner):
            (out / f'sha_{get_rank()}.txt').write_text(state_sha(runner.model.module.state_dict()))

    n = len(CLASSES)
    student, teacher = tiny_model(RETINANET, num_classes=n), tiny_model(RETINANET, depth=34, fpn_channels=24, num_classes=n)
    if is_main():  # one dataset and one teacher checkpoint, which every rank then reads
        ensure_shapes(out / 'data', 'smoke', progress=False)
        from mmdet.models import build_detector
        t = build_detector(teacher); t.init_weights(); save_checkpoint(t, str(out / 'teacher.pth'))
    barrier()
    data = shapes_data_config(ensure_shapes(out / 'data', 'smoke', progress=False), img_size=128, samples_per_gpu=2)
    cfg = Config(dict(
        model=dict(type='DetectionDistiller', student=student, teacher=teacher, teacher_ckpt=str(out / 'teacher.pth')),
        data=data, optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
        optimizer_config=dict(grad_clip=dict(max_norm=35, norm_type=2)),
        lr_config=dict(policy='fixed'), runner=dict(type='IterBasedRunner', max_iters=max_iters),
        checkpoint_config=dict(interval=interval, by_epoch=False),
        log_config=dict(interval=1, hooks=[dict(type='TextLoggerHook', by_epoch=False)]),
        # gpu_collect=True is what a GPU config says; on gloo the hook must fall back to files
        evaluation=dict(interval=max_iters, metric='bbox', gpu_collect=True),
        custom_hooks=[dict(type='StateShaHook')], find_unused_parameters=True, log_level='INFO'))
    ckpt = train(cfg, out / 'run', distributed=True, validate=True)
    (out / f'ckpt_{rank}.txt').write_text(str(ckpt))
    if is_main(): export_student(ckpt, out / 'student.pth')
    barrier()
    metrics = evaluate(Config(dict(model=student, data=data)), out / 'student.pth', distributed=True)
    (out / f'metrics_{rank}.json').write_text(json.dumps(metrics))
    (out / f'done_{rank}').write_text('ok')
''')


def torchrun(nproc, script, *args, cwd, timeout=300):
    env = run_env()
    env['OMP_NUM_THREADS'] = '1'
    env['TMPDIR'] = str(cwd / 'tmp'); (cwd / 'tmp').mkdir(exist_ok=True)
    for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'): env.pop(k, None)
    cmd = [str(Path(sys.executable).parent / 'torchrun'), '--standalone', '--nproc_per_node', str(nproc),
           str(script), *map(str, args)]
    t = time.time()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return out, time.time() - t


def state_sha(state):
    import hashlib
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode()); h.update(state[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@pytest.fixture(scope='module')
def two_ranks(tmp_path_factory):
    d = tmp_path_factory.mktemp('dist')
    (d / 'worker.py').write_text(WORKER)
    out, secs = torchrun(2, d / 'worker.py', d, TESTS, MAX_ITERS, INTERVAL, cwd=d)
    print(f"2-process run: {secs:.1f} s")
    return d, out


@pytest.mark.slow
def test_torchrun_two_cpu_processes_train_and_evaluate(two_ranks):
    d, out = two_ranks
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    assert (d / 'done_0').exists() and (d / 'done_1').exists()  # both ranks ran to the end
    assert [json.loads((d / f'world_{r}.json').read_text()) for r in (0, 1)] == [[0, 2], [1, 2]]
    run = d / 'run'
    # one set of checkpoints, written by rank 0 only, nothing half-written; one log
    assert sorted(p.name for p in run.glob('*.pth')) == [f'iter_{i}.pth' for i in range(INTERVAL, MAX_ITERS + 1, INTERVAL)] + ['latest.pth']
    assert not list(run.glob('.tmp-*')) and not (run / '.eval_hook').exists()
    assert len(list(run.glob('*.log'))) == 1 and len(list(run.glob('*.log.json'))) == 1
    # every rank returns the final checkpoint
    assert {(d / f'ckpt_{r}.txt').read_text() for r in (0, 1)} == {str((run / f'iter_{MAX_ITERS}.pth').resolve())}


@pytest.mark.slow
def test_ranks_end_with_the_same_weights(two_ranks):
    d, out = two_ranks
    assert out.returncode == 0, out.stderr[-3000:]
    sha0, sha1 = ((d / f'sha_{r}.txt').read_text() for r in (0, 1))
    assert sha0 == sha1
    # ... and they are the weights in the checkpoint rank 0 wrote
    ck = torch.load(d / 'run' / f'iter_{MAX_ITERS}.pth', map_location='cpu', weights_only=False)
    assert state_sha(ck['state_dict']) == sha0


@pytest.mark.slow
def test_metrics_on_rank_0_only(two_ranks):
    d, out = two_ranks
    assert out.returncode == 0, out.stderr[-3000:]
    m0, m1 = (json.loads((d / f'metrics_{r}.json').read_text()) for r in (0, 1))
    assert m1 == {}
    assert 0 <= m0['bbox_mAP'] <= 1 and 'bbox_mAP_50' in m0
    # DistEvalHook ran once (interval = max_iters), 24 test batches per rank for the 48 images, and
    # rank 0 logged it (an untrained detector detects nothing: MMDetection then logs no mAP)
    recs = [json.loads(l) for l in next((d / 'run').glob('*.log.json')).read_text().splitlines()]
    assert [r['iter'] for r in recs if r.get('mode') == 'val'] == [24]
    # results were collected through files (gloo has no gpu_collect) and the files are gone
    assert not list((d / 'tmp').glob('mtpd-collect-*'))


# --- SLURM -----------------------------------------------------------------------------------

def slurm_env(**kw):
    env = run_env()
    for k in list(env):
        if k.startswith('SLURM_') or k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'): env.pop(k)
    env['OMP_NUM_THREADS'] = '1'
    env.update({k: str(v) for k, v in kw.items()})
    return env

def py(code, env, **kw):
    return subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, timeout=120, **kw)


def test_slurm_variables_are_derived_without_initialising():
    code = ("import json, torch.distributed as dist; from mtpd.dist import dist_env\n"
            "print(json.dumps(dist_env('slurm'))); assert not dist.is_initialized()")
    out = py(code, slurm_env(SLURM_PROCID=5, SLURM_NTASKS=8, SLURM_LOCALID=1, SLURM_NODELIST='gpu[07-08],cpu1'))
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == dict(
        RANK='5', WORLD_SIZE='8', LOCAL_RANK='1', MASTER_ADDR='gpu07', MASTER_PORT='29500')


@pytest.mark.slow
def test_two_processes_started_the_way_srun_starts_them():
    "Each process gets only SLURM's variables (as under `srun -n 2`) and builds a real gloo group from them."
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    code = ("import json, os; from mtpd.dist import init_distributed, broadcast_object, barrier\n"
            "rank, world = init_distributed('slurm')\n"
            "got = broadcast_object('from rank 0' if rank == 0 else None); barrier()\n"
            "print(json.dumps([rank, world, got] + [os.environ[k] for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR')]))")
    procs = [subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=slurm_env(SLURM_PROCID=r, SLURM_NTASKS=2, SLURM_LOCALID=r, SLURM_NODELIST='localhost',
                                            MASTER_PORT=port))
             for r in (0, 1)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (o, e) in zip(procs, outs): assert p.returncode == 0, e[-2000:]
    res = [json.loads(o.strip().splitlines()[-1]) for o, _ in outs]
    assert res == [[r, 2, 'from rank 0', str(r), '2', str(r), 'localhost'] for r in (0, 1)]


# --- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize('launcher,env,msg', [
    ('pytorch', {}, "init_distributed(launcher='pytorch'): environment variable RANK is not set; start the script with `torchrun"),
    ('slurm', dict(SLURM_PROCID=0, SLURM_NTASKS=2), "init_distributed(launcher='slurm'): environment variable SLURM_LOCALID is not set"),
    ('slurm', dict(SLURM_PROCID=0, SLURM_NTASKS=2, SLURM_LOCALID=0), "environment variable SLURM_NODELIST is not set"),
    ('slurm', dict(SLURM_PROCID='x', SLURM_NTASKS=2, SLURM_LOCALID=0, SLURM_NODELIST='n1'), "SLURM_PROCID='x' is not an integer"),
    ('mpi', {}, "init_distributed: unknown launcher 'mpi'; use one of 'pytorch', 'slurm'"),
])
def test_one_line_errors(launcher, env, msg, monkeypatch):
    "The environment is this process's, with the launchers' variables removed: the error comes before any start."
    from mtpd.dist import init_distributed, is_distributed
    for k in list(os.environ):
        if k.startswith('SLURM_') or k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
            monkeypatch.delenv(k)
    for k, v in env.items(): monkeypatch.setenv(k, str(v))
    with pytest.raises(ValueError) as e: init_distributed(launcher)
    assert msg in str(e.value) and '\n' not in str(e.value)
    assert not is_distributed()


def test_wrap_distributed_outside_a_group():
    from mtpd.dist import wrap_distributed
    with pytest.raises(RuntimeError, match="not initialised; call mtpd.dist.init_distributed"):
        wrap_distributed(torch.nn.Linear(1, 1))


# --- relaunching the CLI ---------------------------------------------------------------------

@pytest.mark.slow
def test_torchrun_command_runs_the_cli(tmp_path):
    from mtpd.dist import torchrun_command
    env = slurm_env(TMPDIR=tmp_path)
    out = subprocess.run(torchrun_command(1, 'mtpd.cli', ['--help']), env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'export-student' in out.stdout
