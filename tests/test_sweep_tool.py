"tools/sweep.py: variants of a zoo detector trained in subprocesses, each with only its named settings changed."
import json, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP = [sys.executable, str(ROOT / 'tools' / 'sweep.py')]

def test_bad_variant_is_one_line_error(tmp_path):
    for spec, msg in [('x=retinanet_r101_x101:student', 'bad variant'),
                      ('x=retinanet_r101_x101:student:1x:lr=1e-3,momentum=0.9', 'unknown key(s) momentum')]:
        p = subprocess.run(SWEEP + ['--scale', 'smoke', '--work', str(tmp_path), spec], capture_output=True, text=True)
        assert p.returncode != 0 and msg in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not list(tmp_path.iterdir())  # nothing started

def test_one_variant_trains_with_its_settings(tmp_path):
    out = tmp_path / 'sweep.jsonl'
    p = subprocess.run(SWEEP + ['--scale', 'smoke', '--jobs', '1', '--work', str(tmp_path / 'w'), '--out', str(out),
                                'fast=retinanet_r101_x101:student:1x:lr=1e-3,xsched=2'],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout + p.stderr
    line = next(l for l in p.stdout.splitlines() if l.startswith('RESULT fast '))
    r = json.loads(out.read_text().splitlines()[-1])
    assert r['iters'] == 2 * 12 * 4 and r['lr'] == 1e-3 and 0 <= r['bbox'] <= 100 and f"bbox={r['bbox']}" in line
    logged = [json.loads(l) for f in (tmp_path / 'w' / 'fast').glob('*.log.json') for l in f.read_text().splitlines()]
    lrs = [d['lr'] for d in logged if d.get('mode') == 'train']
    assert lrs and max(lrs) == 1e-3  # the override reached the optimizer (warm-up ramps up to it)
