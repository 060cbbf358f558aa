"mtpd.sweep: variants of a zoo detector trained side by side in subprocesses, each with only its named settings changed."
import json, os, signal, subprocess, sys, time
from pathlib import Path

import pytest

from conftest import run_env

SWEEP = [sys.executable, '-m', 'mtpd.sweep']


@pytest.mark.parametrize('spec, msg', [
    ('x=retinanet_r101_x101:student', "bad variant 'x=retinanet_r101_x101:student'; use NAME=ROW:ROLE:SCHEDULE[:KEY=VALUE,...]"),
    ('x=retinanet:student:1x', "variant 'x': unknown row 'retinanet'; valid rows: retinanet_r101_x101, retinanet_swin,"),
    ('x=retinanet_swin:teacher3:1x', "variant 'x': unknown role 'teacher3'; valid roles: student, teacher1, teacher2"),
    ('x=retinanet_swin:student:5x', "variant 'x': unknown schedule '5x'; valid schedules: 1x, 2x, 3x, 6x"),
    ('x=retinanet_swin:student:1x:lr=1e-3,momentum=0.9',
     "variant 'x': unknown key 'momentum'; valid keys: lr, weight_decay, drop_path, warmup, clip, head_lr_mult, xsched, norm_eval, seed, pretrain_lr, pretrain_steps"),
    ('x=retinanet_swin:student:1x:lr=fast', "variant 'x': lr='fast' is not a number"),
    ('x=retinanet_swin:student:1x:warmup=2.5', "variant 'x': warmup='2.5' is not a whole number"),
])
def test_bad_variant_is_one_line_error(spec, msg):
    from mtpd.sweep import parse_variant
    with pytest.raises(ValueError) as e: parse_variant(spec)
    assert msg in str(e.value) and '\n' not in str(e.value), str(e.value)


def test_help_names_every_key():
    "`mtpd sweep --help` lists the keys without importing mtpd.sweep (and so mmcv): the list there is a copy, checked here."
    from mtpd.sweep import KEYS
    p = subprocess.run(['mtpd', 'sweep', '--help'], capture_output=True, text=True, env=run_env())
    assert p.returncode == 0, p.stderr
    assert f"with keys {', '.join(KEYS)} (see" in ' '.join(p.stdout.split()), p.stdout


def test_bad_variant_stops_the_sweep_before_anything_starts(tmp_path):
    "The last variant is wrong: one line on stderr, status 2, no data generated, no work directory, no worker."
    env = dict(run_env(), MTPD_CACHE=str(tmp_path / 'cache'))
    p = subprocess.run(SWEEP + ['--scale', 'smoke', '--work', str(tmp_path / 'w'), 'ok=retinanet_r101_x101:student:1x',
                                'dp=retinanet_r101_x101:student:1x:drop_path=0.1'], capture_output=True, text=True, env=env)
    assert p.returncode == 2, p.stdout + p.stderr
    assert p.stderr.strip() == ("sweep: error: variant 'dp': drop_path sets a Swin backbone's drop_path_rate; "
                                "retinanet_r50 has a ResNet backbone without one"), p.stderr
    assert 'RESULT' not in p.stdout
    assert not (tmp_path / 'w').exists() and not (tmp_path / 'cache').exists()


def test_a_name_holding_another_variant_is_refused(tmp_path):
    """Re-running a variant resumes it in WORK/NAME, so `mtpd sweep` refuses a name whose directory records another
    variant (it would resume that one's checkpoint): one line, status 2, nothing started."""
    work = tmp_path / 'w'
    (work / 'a').mkdir(parents=True)
    (work / 'a' / 'variant.json').write_text(json.dumps(dict(variant='a=retinanet_r101_x101:student:1x', scale='smoke',
                                                             data_root=None)))
    env = dict(run_env(), MTPD_CACHE=str(tmp_path / 'cache'))
    p = subprocess.run(['mtpd', 'sweep', '--scale', 'smoke', '--work', str(work), 'b=retinanet_r101_x101:student:1x',
                        'a=retinanet_r101_x101:student:1x:lr=1e-3'], capture_output=True, text=True, env=env)
    assert p.returncode == 2, p.stdout + p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert (f"{work / 'a'} holds variant a=retinanet_r101_x101:student:1x (smoke scale), not "
            "a=retinanet_r101_x101:student:1x:lr=0.001 (smoke); re-running a variant resumes it") in p.stderr, p.stderr
    assert 'RESULT' not in p.stdout and not (work / 'b').exists() and not (tmp_path / 'cache').exists()


@pytest.mark.slow
def test_variants_train_side_by_side(tmp_path):
    """Three variants, two at a time, in `python -m mtpd.sweep --one` workers: the first two train 12 iterations (a
    quarter of smoke's 1x) side by side and are evaluated; the third starts when one of them ends and fails in its
    worker (its directory is a file): it is reported without stopping the others, and the sweep's status is 1."""
    work, out = tmp_path / 'w', tmp_path / 'sweep.jsonl'
    work.mkdir(); (work / 'broken').write_text('in the way')
    t0 = time.time()
    p = subprocess.run(SWEEP + ['--scale', 'smoke', '--jobs', '2', '--work', str(work), '--out', str(out),
                                'base=retinanet_r101_x101:student:1x:xsched=0.25',
                                'fast=retinanet_r101_x101:student:1x:xsched=0.25,lr=1e-3,seed=1',
                                'broken=retinanet_r101_x101:student:1x:xsched=0.25'],
                       capture_output=True, text=True, timeout=900, env=run_env())
    print(f"sweep of 3 variants: {time.time() - t0:.0f} s")
    assert p.returncode == 1, p.stdout + p.stderr
    lines = {l.split()[1]: l for l in p.stdout.splitlines() if l.startswith('RESULT ')}
    assert sorted(lines) == ['base', 'broken', 'fast'], p.stdout
    assert lines['broken'].startswith('RESULT broken FAILED rc=1: FileExistsError'), lines['broken']
    res = {r['name']: r for r in map(json.loads, out.read_text().splitlines())}
    assert res['broken']['rc'] == 1 and 'FileExistsError' in res['broken']['error']
    for name in ('base', 'fast'):
        r = res[name]
        assert 'error' not in r and r['iters'] == 12 and 0 <= r['bbox'] <= 100 and r['segm'] is None, r
        assert f"RESULT {name} bbox={r['bbox']} bbox50={r['bbox50']} segm=None iters=12 wall={r['wall']}s" in lines[name]
    assert (res['fast']['lr'], res['fast']['seed'], res['fast']['xsched']) == (1e-3, 1, 0.25)
    logged = [json.loads(l) for f in (work / 'fast').glob('*.log.json') for l in f.read_text().splitlines()]
    assert max(d['lr'] for d in logged if d.get('mode') == 'train') == 1e-3  # warm-up ramps up to the variant's rate
    assert logged[0]['seed'] == 1  # the variant's seed is the training seed
    # two at a time: base and fast trained at the same time (their training logs are named by their start times)
    start = lambda d: min(time.mktime(time.strptime(f.stem, '%Y%m%d_%H%M%S')) for f in d.glob('*.log'))
    span = {n: (start(work / n), (work / n / 'latest.pth').stat().st_mtime) for n in ('base', 'fast')}
    assert span['fast'][0] < span['base'][1] and span['base'][0] < span['fast'][1], span


def _pids_running(needle:str) -> list[int]:
    "Processes of this machine whose command line contains `needle`."
    found = []
    for d in Path('/proc').iterdir():
        if not d.name.isdigit(): continue
        try: cmd = (d / 'cmdline').read_bytes().replace(b'\0', b' ').decode(errors='replace')
        except OSError: continue
        if needle in cmd: found.append(int(d.name))
    return found


@pytest.mark.skipif(not os.path.isdir('/proc'), reason='reads the process table from /proc')
def test_sigterm_stops_the_workers(tmp_path):
    """`mtpd sweep` sent SIGTERM (kill, timeout, a scheduler's cancel) while its worker trains: it exits with 143 and
    its worker does not go on training unseen in the work directory."""
    work = tmp_path / 'w'
    env = dict(run_env(), MTPD_CACHE=str(tmp_path / 'cache'))
    p = subprocess.Popen(['mtpd', 'sweep', '--scale', 'smoke', '--jobs', '1', '--work', str(work),
                          'a=retinanet_r101_x101:student:1x'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 300
    while not (work / 'a' / 'variant.json').is_file():  # written by the worker just before it trains
        assert p.poll() is None and time.time() < deadline, p.communicate()[0].decode()
        time.sleep(0.2)
    workers = [pid for pid in _pids_running(str(work)) if pid != p.pid]  # the sweep's command line names the work dir too
    assert len(workers) == 1, workers
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=60) == 143, p.communicate()[0].decode()
    assert _pids_running(str(work)) == []
    assert 'RESULT' not in p.communicate()[0].decode()
