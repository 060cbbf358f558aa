"""Shared test helpers, markers and the hermetic cache.

Markers (registered in pyproject.toml, `--strict-markers`):
- `slow`: trains a model, runs papermill notebooks, torchrun or several processes, or builds a wheel (minutes);
  `make test-fast` leaves these out, `make test` (CI) runs them.
- `gpu`: needs CUDA; skipped where `torch.cuda.is_available()` is False (tools/build_mmcv_cuda.sh runs them).

Hermetic: the whole session (this process and every subprocess it starts: the `mtpd` command, torchrun,
papermill's kernels) uses a temporary MTPD_CACHE (shapes data, cached teachers), never the user's
~/.cache/mtpd. Set MTPD_TEST_CACHE=DIR to use (and keep) DIR instead, e.g. to reuse trained teachers
between runs. Under `pytest -n N` (pytest-xdist, as tools/run_tests.sh runs the slow tests) the workers share the
controller's cache: what one worker trains, another finds, or waits for (mtpd.io.entry_lock). The virtual environment is not looked up there: MTPD_ENV names the running one, so a
tools/setup_env.sh started under the tests finds it whatever MTPD_CACHE says.
"""
import os, shutil, sys, tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_CACHE = {}  # 'dir': the session's MTPD_CACHE, 'owned': whether this session made it (and removes it)


def pytest_configure(config):
    given = os.environ.get('MTPD_TEST_CACHE')
    if os.environ.get('PYTEST_XDIST_WORKER') and os.environ.get('MTPD_TEST_SESSION_CACHE'):
        # a worker of `pytest -n N`: the controller's cache, shared (entries are locked: mtpd.io.entry_lock), not ours to remove
        cache, owned = Path(os.environ['MTPD_TEST_SESSION_CACHE']), False
        os.environ.setdefault('OMP_NUM_THREADS', '1')  # N workers on N cores: one thread each, here and in subprocesses
    elif given:
        cache, owned = Path(given).expanduser().absolute(), False
        cache.mkdir(parents=True, exist_ok=True)
    else:
        cache, owned = Path(tempfile.mkdtemp(prefix='mtpd-test-cache-')), True
    _CACHE.update(dir=cache, owned=owned, before=os.environ.get('MTPD_CACHE'))
    os.environ['MTPD_TEST_SESSION_CACHE'] = str(cache)  # for pytest-xdist's workers, started after this
    os.environ['MTPD_CACHE'] = str(cache)  # inherited by every subprocess, run_env() or not
    if (Path(sys.prefix) / '.complete').is_file():  # running inside tools/setup_env.sh's environment
        os.environ.setdefault('MTPD_ENV', sys.prefix)


def pytest_unconfigure(config):
    if not _CACHE: return
    if _CACHE['before'] is None: os.environ.pop('MTPD_CACHE', None)
    else: os.environ['MTPD_CACHE'] = _CACHE['before']
    if _CACHE['owned']: shutil.rmtree(_CACHE['dir'], ignore_errors=True)
    _CACHE.clear()


def pytest_report_header(config):
    return f"mtpd: MTPD_CACHE={_CACHE.get('dir')} (temporary: {_CACHE.get('owned')})"


def pytest_collection_modifyitems(config, items):
    "`gpu` tests skip cleanly without CUDA (torch is imported only when such a test is collected)."
    gpu = [it for it in items if it.get_closest_marker('gpu')]
    if not gpu: return
    import torch
    if torch.cuda.is_available(): return
    skip = pytest.mark.skip(reason='needs CUDA (torch.cuda.is_available() is False)')
    for it in gpu: it.add_marker(skip)


@pytest.fixture(scope='session')
def root(): return ROOT


@pytest.fixture(scope='session')
def mtpd_cache():
    "The session's MTPD_CACHE directory (temporary unless MTPD_TEST_CACHE names one)."
    return _CACHE['dir']


def run_env():
    "Environment for subprocesses: the project's python first on PATH, quiet, 2 threads, the session's MTPD_CACHE."
    env = dict(os.environ)
    env['PATH'] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault('OMP_NUM_THREADS', '2')
    env['PYTHONWARNINGS'] = 'ignore'
    if _CACHE: env['MTPD_CACHE'] = str(_CACHE['dir'])
    return env


def tiny_model(name, depth=18, base=8, **kw):
    "A scaled-down copy of one of MMDetection's shipped configs (3 classes, 16-channel FPN)."
    from mtpd.configs import load_mmdet_config, scale_down
    from mtpd.heads import device_safe
    small = dict(fpn_channels=16, head_channels=16, fc_channels=32, num_classes=3)
    return device_safe(scale_down(load_mmdet_config(name).model, backbone=dict(depth=depth, base_channels=base),
                                  **{**small, **kw}))

RETINANET = 'retinanet/retinanet_r50_fpn_1x_coco.py'


def small_training_config(model, data_root, max_iters=6, with_mask=False, samples_per_gpu=4):
    "A complete MMDetection training config around `model`: shapes data, SGD, a short iteration schedule."
    from mmcv import Config
    from mtpd.data import shapes_data_config
    return Config(dict(
        model=model, data=shapes_data_config(data_root, img_size=128, samples_per_gpu=samples_per_gpu, with_mask=with_mask),
        optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
        optimizer_config=dict(grad_clip=dict(max_norm=35, norm_type=2)),
        lr_config=dict(policy='step', step=[max_iters * 2 // 3], by_epoch=False),
        runner=dict(type='IterBasedRunner', max_iters=max_iters),
        checkpoint_config=dict(interval=max(max_iters // 3, 1), by_epoch=False, max_keep_ckpts=2),
        log_config=dict(interval=1, hooks=[dict(type='TextLoggerHook', by_epoch=False)]),
        evaluation=dict(interval=max_iters, metric='bbox'), log_level='WARNING'))
