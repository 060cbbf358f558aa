"""`mtpd bench` end to end: papermill executes the benchmark notebook on the mini models and writes both tables."""
import json, subprocess

import pytest

from conftest import run_env

pytestmark = pytest.mark.slow  # builds and steps real distillers (about a minute on 2 cores)


def test_bench_writes_both_tables(tmp_path):
    out, work = tmp_path / 'figures', tmp_path / 'runs'
    r = subprocess.run(['mtpd', 'bench', '--models', 'mini', '--rows', 'retinanet_r101_x101', '--mechanisms', 'fgd',
                        '--warmup', '0', '--repeats', '1', '--device', 'cpu', '--out-dir', out, '--work-dir', work],
                       capture_output=True, text=True, env=run_env())
    assert r.returncode == 0, r.stderr[-3000:]
    assert (work / 'bench-cpu.ipynb').is_file() and 'executed notebook' in r.stdout
    steps = json.loads((out / 'bench_cpu.json').read_text())
    assert [(x['models'], x['mechanism']) for x in steps['rows']] == [('mini', 'fgd')]  # FGD: the mechanism with the most batch inputs
    for x in steps['rows']:
        assert all(x[f'{k}_s'] > 0 for k in ('student', 'teacher', 'losses', 'distill'))
        assert x['ratio'] == pytest.approx(x['distill_s'] / (x['student_s'] + x['teacher_s'] + x['losses_s']))
        assert x['size'] == '128x128' and x['images'] == 8 and isinstance(x['memory_ok'], bool)
        # the mini stages keep their teacher's features: the step on a batch the cache holds, in the same rounds
        assert x['distill_cached_s'] > 0 and x['cache_speedup'] == pytest.approx(x['distill_s'] / x['distill_cached_s'])
        assert all(x[f'{k}_mib'] >= 0 for k in ('student', 'teacher', 'distill'))  # RSS peaks above the start
    assert steps['meta']['device'] == 'cpu' and steps['provenance']['code']
    teacher = json.loads((out / 'bench_teacher_cpu.json').read_text())['rows']
    assert len(teacher) == 1 and teacher[0]['bf16_error'] < 0.05 and teacher[0]['fp16_error'] < 0.01 and teacher[0]['fp16_s'] is None
    md = (out / 'bench_cpu.md').read_text()
    assert md.startswith('# What a distillation step costs (cpu)') and 'ratio' in md
    assert sorted(p.name for p in out.iterdir()) == ['bench_cpu.json', 'bench_cpu.md', 'bench_teacher_cpu.json',
                                                     'bench_teacher_cpu.md']  # nothing half-written


def test_bench_refuses_bad_parameters_before_work(tmp_path):
    r = subprocess.run(['mtpd', 'bench', '--rows', 'nope', '--out-dir', tmp_path / 'o'], capture_output=True, text=True,
                       env=run_env())
    assert r.returncode == 2 and r.stdout == ''
    assert r.stderr.strip().splitlines() == ["mtpd: error: benchmark parameter rows=['nope'] must be None or a non-empty "
                                             "list of rows (retinanet_r101_x101, retinanet_swin, maskrcnn_cascade, "
                                             "maskrcnn_swin, reppoints_r101_x101dcn)"]
    assert not (tmp_path / 'o').exists()
