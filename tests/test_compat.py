"""Every patch of mtpd.compat, shown to be needed: the failure it prevents happens with the patch
switched off (MTPD_DISABLE_PATCHES) and not with it. When a dependency upgrade fixes a problem, the
'without' case of its patch starts passing and this test says which patch to retire."""
import subprocess, sys, textwrap

import pytest

from conftest import run_env

# name -> (script, marker printed on success, text of the failure without the patch)
SCENARIOS = {
    'quiet-imports': ("import mtpd; print('OK')", 'OK', None),  # checked on stderr below
    'mmcv-scatter-stream': (
        "import mtpd, torch, mmcv.parallel._functions as f\n"
        "assert not torch.cuda.is_available()\n"
        "print('OK', f._get_stream(0))", 'OK None', "'int' object has no attribute 'type'"),
    'mmdet-build-ddp': (
        "import mtpd, tempfile, torch.distributed as dist, mmdet.apis.train as mt\n"
        "from torch import nn\n"
        "dist.init_process_group('gloo', init_method='file://' + tempfile.mkdtemp() + '/pg', rank=0, world_size=1)\n"
        "m = mt.build_ddp(nn.Linear(2, 2), 'cpu', find_unused_parameters=True)\n"
        "print('OK', type(m).__name__)", 'OK CPUDistributedDataParallel', 'Only available for cuda'),
    'mmdet-dist-eval-hook': (
        "import mtpd, tempfile, torch, torch.distributed as dist, mmdet.apis.train as mt\n"
        "dist.init_process_group('gloo', init_method='file://' + tempfile.mkdtemp() + '/pg', rank=0, world_size=1)\n"
        "h = mt.DistEvalHook(torch.utils.data.DataLoader([0]), gpu_collect=True)\n"
        "assert not h.gpu_collect, 'gpu_collect stays on without NCCL: results would be gathered as CUDA tensors'\n"
        "print('OK')", 'OK', 'gpu_collect stays on without NCCL'),
}

SYNC_SEED = textwrap.dedent("""
    import mtpd, torch.distributed as dist
    from mtpd.dist import init_distributed
    init_distributed('pytorch')
    from mmdet.datasets.samplers.infinite_sampler import sync_random_seed
    seed = sync_random_seed(None)
    out = [None, None]; dist.all_gather_object(out, seed)
    assert out[0] == out[1], out
    print('OK same seed on both ranks')
    dist.destroy_process_group()
""")


def _run(code, disable=None, torchrun=0, tmp_path=None):
    env = run_env()
    env['MTPD_DISABLE_PATCHES'] = disable or ''
    if torchrun:
        script = tmp_path / 'script.py'; script.write_text(code)
        cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', str(torchrun), str(script)]
    else:
        cmd = [sys.executable, '-c', code]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize('name', [n for n in SCENARIOS if n != 'quiet-imports'])
def test_patch_prevents_its_failure(name):
    code, ok, failure = SCENARIOS[name]
    with_patch = _run(code)
    assert with_patch.returncode == 0 and ok in with_patch.stdout, with_patch.stderr[-2000:]
    without = _run(code, disable=name)
    assert without.returncode != 0 and failure in without.stderr, (without.stdout, without.stderr[-2000:])


def test_quiet_imports():
    code, ok, _ = SCENARIOS['quiet-imports']
    quiet, loud = _run(code), _run(code, disable='quiet-imports')
    assert quiet.returncode == loud.returncode == 0
    assert 'CUDA_HOME' not in quiet.stderr and 'CUDA_HOME' in loud.stderr


@pytest.mark.slow
def test_sync_random_seed_on_cpu_processes(tmp_path):
    "MMDetection's samplers agree on a seed through a CUDA tensor: two gloo processes fail without the patch."
    ok = _run(SYNC_SEED, torchrun=2, tmp_path=tmp_path)
    assert ok.returncode == 0 and ok.stdout.count('OK same seed') == 2, ok.stderr[-2000:]
    bad = _run(SYNC_SEED, disable='mmdet-sync-random-seed', torchrun=2, tmp_path=tmp_path)
    assert bad.returncode != 0 and ('NVIDIA' in bad.stderr or 'CUDA' in bad.stderr), bad.stderr[-2000:]


def test_every_patch_is_covered():
    import mtpd.compat as c
    assert set(c.PATCHES) == set(SCENARIOS) | {'mmdet-sync-random-seed'}
    assert all(p.reason and p.upstream and p.target for p in c.PATCHES.values())
