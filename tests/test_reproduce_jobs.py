"""`mtpd reproduce --jobs 2`: the teachers, then the experiments, two at a time on a core each; the notebook finds them done,
and everything is what `--jobs 1` (all of it inside the notebook) makes: same weights, same metrics."""
import json, subprocess

import nbformat
import pytest

from conftest import run_env

pytestmark = pytest.mark.slow  # trains a smoke row's teachers and students


def _reproduce(tmp_path, jobs, name):
    return subprocess.run(['mtpd', 'reproduce', '--scale', 'smoke', '--table', 'main_results', '--rows', 'retinanet_r101_x101',
                           '--jobs', str(jobs), '--work-root', tmp_path / name / 'runs', '--out-dir', tmp_path / name / 'figures',
                           '--data-root', tmp_path / 'data'], capture_output=True, text=True, env=run_env())


def test_jobs_run_the_work_and_the_notebook_finds_it_done(tmp_path):
    work, out = tmp_path / 'jobs2' / 'runs', tmp_path / 'jobs2' / 'figures'
    r = _reproduce(tmp_path, 2, 'jobs2')
    assert r.returncode == 0, r.stderr[-3000:]
    names = ['retinanet_r101_x101-teacher1', 'retinanet_r101_x101-teacher2', 'retinanet_r101_x101-progressive-mgd-seed0',
             'retinanet_r101_x101-baseline-mgd-seed0']
    assert sorted(p.stem for p in (work / 'jobs').glob('*.log')) == sorted(names)
    for n in names:  # every job started on its own core and ended well
        assert f'[mtpd] job {n}: started on cores ' in r.stdout and f'[mtpd] job {n}: done in ' in r.stdout, r.stdout[-3000:]
    assert '[mtpd] jobs: 4 done in' in r.stdout
    # the notebook trained nothing: each of its experiments was done, stage by stage
    nb = nbformat.read(work / 'notebooks' / 'main_results.ipynb', as_version=4)
    text = '\n'.join(o.get('text', '') for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', [])
                     if o.get('output_type') == 'stream')
    assert text.count('already done') == 3 and 'resuming' not in text, text[-3000:]
    rows = json.loads((out / 'main_results.json').read_text())['rows']
    assert [x['row'] for x in rows if x.get('row') == 'retinanet_r101_x101'], rows

    # the same table with --jobs 1: the notebook trains each experiment itself, in its kernel, and gets the same runs
    r1 = _reproduce(tmp_path, 1, 'jobs1')
    assert r1.returncode == 0, r1.stderr[-3000:]
    assert not (tmp_path / 'jobs1' / 'runs' / 'jobs').exists()  # no job ran
    keep = ('fingerprint', 'export_sha256', 'metrics', 'iterations')
    for exp in ('progressive-mgd-seed0', 'baseline-mgd-seed0'):
        stages = [[{k: st[k] for k in keep} for st in json.loads((tmp_path / d / 'runs' / 'retinanet_r101_x101' / exp /
                                                                  'manifest.json').read_text())['stages']]
                  for d in ('jobs2', 'jobs1')]
        assert stages[0] == stages[1] and stages[0], (exp, stages)
        print(exp, [s['metrics']['bbox_mAP'] for s in stages[0]], 'identical with --jobs 2 and --jobs 1')
