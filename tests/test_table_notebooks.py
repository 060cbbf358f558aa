"""The table notebooks: papermill parameters, smoke executions, results taken from manifests, figures."""
import json
from pathlib import Path

import nbformat
import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs' / 'tables'
TABLES = ['main_results', 'direct_vs_progressive', 'teacher_order', 'released']


@pytest.mark.parametrize('name', TABLES + ['report'])
def test_exactly_one_parameters_cell(name):
    nb = nbformat.read(NBS / f'{name}.ipynb', as_version=4)
    tagged = [c for c in nb.cells if 'parameters' in c.get('metadata', {}).get('tags', [])]
    assert len(tagged) == 1 and 'scale' in tagged[0].source


BAD_PARAMETERS = [  # (notebook, papermill parameters, the one-line message its first code cell raises)
    ('main_results', dict(scale='huge'), "scale='huge' must be one of smoke, mini, full"),
    ('main_results', dict(seeds='[1]'), "seeds='[1]' must be a non-empty list of ints >= 0 (papermill's -p"),
    ('main_results', dict(gpus=0), "gpus=0 must be an int >= 1"),
    ('main_results', dict(scale='full', data_root='/nonexistent/coco'), "is not a directory"),
    ('main_results', dict(rows=['retinanet']), "rows=['retinanet'] must be None or a non-empty list of rows"),
    ('direct_vs_progressive', dict(mechanisms=['kd']), "mechanisms=['kd'] must be a non-empty list of mechanisms"),
    ('direct_vs_progressive', dict(rehearsal='False'), "rehearsal='False' must be True or False"),
    ('teacher_order', dict(cap=0), "cap=0 must be an int >= 1"),
    ('teacher_order', dict(probe_steps='10'), "probe_steps='10' must be None or an int >= 1"),
    ('released', dict(students='retinanet_r50.pth'), "students='retinanet_r50.pth' must be a dict row -> checkpoint"),
    ('report', dict(out_dir=3), "out_dir=3 must be a directory path (str) or None"),
    ('benchmark', dict(repeats='3'), "benchmark parameter repeats='3' must be an int >= 1"),
]


@pytest.mark.parametrize('name,params,message', BAD_PARAMETERS, ids=[f"{n}-{next(iter(p))}" for n, p, _ in BAD_PARAMETERS])
@pytest.mark.slow
def test_bad_parameters_fail_clearly(name, params, message, tmp_path):
    "The first code cell refuses the parameter in one line naming it and what it must be; nothing is written."
    # also proves papermill injects the parameters (the defaults would run fine)
    dirs = {k: str(tmp_path / k) for k in ('work_root', 'out_dir') if k not in params and k in _parameters(name)}
    with pytest.raises(pm.PapermillExecutionError) as e:
        pm.execute_notebook(str(NBS / f'{name}.ipynb'), str(tmp_path / 'out.ipynb'), parameters={**dirs, **params},
                            cwd=str(tmp_path), progress_bar=False, kernel_name='python3')
    assert message in str(e.value) and 'parameters(' in e.value.source, str(e.value)[:500]  # raised by a check cell, before any work
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out.ipynb']


def _parameters(name):
    nb = nbformat.read(NBS / f'{name}.ipynb', as_version=4)
    cell, = [c for c in nb.cells if 'parameters' in c.get('metadata', {}).get('tags', [])]
    return {l.split('=')[0].strip() for l in cell.source.splitlines() if '=' in l}


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
    "Every table at smoke scale on one row/family each (the full smoke set is `make smoke`), then the report."
    from mtpd.reproduce import reproduce
    d = tmp_path_factory.mktemp('repro')
    executed = reproduce(scale='smoke', work_root=d / 'runs', out_dir=d / 'figures', data_root=d / 'data',
                         rows=['retinanet_r101_x101'], progress=False)
    return d, executed


@pytest.mark.slow
def test_tables_written_from_manifests(smoke):
    from mtpd.manifest import final_ap, read_manifest
    d, executed = smoke
    assert set(executed) == {'main_results', 'direct_vs_progressive', 'teacher_order', 'report'}
    assert all(Path(p).is_file() for p in executed.values())
    main = json.loads((d / 'figures' / 'main_results.json').read_text())
    (row,) = main['rows']
    m = read_manifest(d / 'runs' / 'retinanet_r101_x101' / 'progressive-mgd-seed0')
    assert row['ours_bbox'] == pytest.approx(final_ap(m)) and row['paper_bbox'] == 41.7
    assert row['diff_bbox'] == pytest.approx(final_ap(m) - 41.7)
    assert '| retinanet_r101_x101 |' in (d / 'figures' / 'main_results.md').read_text()
    dvp = json.loads((d / 'figures' / 'direct_vs_progressive.json').read_text())
    cells = {(r['mechanism'], r['mode']): r for r in dvp['rows'] if r['family'] == 'retinanet' and r['metric'] == 'bbox'}
    assert set(cells) == {('-', 'baseline')} | {(m, mode) for m in ('mgd', 'cwd', 'fgd') for mode in ('direct', 'progressive')}
    base = read_manifest(d / 'runs' / 'retinanet_r101_x101' / 'baseline-mgd-seed0')
    assert cells['-', 'baseline']['ours'] == pytest.approx(final_ap(base)) and cells['-', 'baseline']['paper'] == 37.4
    for mech in ('mgd', 'cwd', 'fgd'):
        for mode in ('direct', 'progressive'):
            mm = read_manifest(d / 'runs' / 'retinanet_r101_x101' / f'{mode}-{mech}-seed0')
            assert mm['experiment']['mechanism'] == mech
            assert cells[mech, mode]['ours'] == pytest.approx(final_ap(mm))
    assert (cells['fgd', 'direct']['paper'], cells['fgd', 'progressive']['paper']) == (40.7, 41.5)
    # the teachers' ladder: teacher APs from their training, the student from the baseline manifest
    (lad,) = json.loads((d / 'figures' / 'teachers.json').read_text())['rows']
    assert lad['student_bbox'] == pytest.approx(final_ap(read_manifest(d / 'runs' / 'retinanet_r101_x101' / 'baseline-mgd-seed0')))
    assert (lad['teacher1_bbox'], lad['teacher2_bbox']) == (row['teacher1_bbox'], row['teacher2_bbox'])
    assert lad['ladder'] == ('yes' if lad['teacher2_bbox'] > lad['teacher1_bbox'] > lad['student_bbox'] else 'no')
    # direct/baseline: one stage with the combined budget; progressive: two stages
    assert len(read_manifest(d / 'runs' / 'retinanet_r101_x101' / 'direct-mgd-seed0')['stages']) == 1
    # the paired differences: per mechanism, progressive - direct and direct - baseline, from the same runs
    diffs = json.loads((d / 'figures' / 'direct_vs_progressive_differences.json').read_text())['rows']
    by = {(r['mechanism'], r['difference']): r for r in diffs if r['family'] == 'retinanet' and r['metric'] == 'bbox'}
    assert set(by) == {(m, k) for m in ('mgd', 'cwd', 'fgd') for k in ('progressive - direct', 'direct - baseline')}
    for mech in ('mgd', 'cwd', 'fgd'):
        pd_, db = by[mech, 'progressive - direct'], by[mech, 'direct - baseline']
        assert pd_['mean'] == pytest.approx(cells[mech, 'progressive']['ours'] - cells[mech, 'direct']['ours'])
        assert db['mean'] == pytest.approx(cells[mech, 'direct']['ours'] - cells['-', 'baseline']['ours'])
        assert (pd_['n'], pd_['low'], pd_['resolved']) == (1, None, None)  # one seed: no interval, nothing resolved
    # every backbone started from its checkpoint pretrained on the shapes, made once per backbone (mtpd.pretrain)
    made = sorted((d / 'data' / 'pretrained' / 'smoke-seed0').glob('*.pth'))
    assert made and all(json.loads(p.with_suffix('.json').read_text())['held_out'] > 0 for p in made)
    cfg = read_manifest(d / 'runs' / 'retinanet_r101_x101' / 'baseline-mgd-seed0')['stages'][0]['config']
    assert "type='Pretrained'" in cfg and str(d / 'data' / 'pretrained' / 'smoke-seed0') in cfg


@pytest.mark.slow
def test_report_writes_figures(smoke):
    d, _ = smoke
    for name in ('direct_vs_progressive_bbox', 'direct_vs_progressive_differences', 'ap_across_stages', 'teacher_order'):
        for ext in ('png', 'svg'):
            assert (d / 'figures' / f'{name}.{ext}').stat().st_size > 1000


@pytest.mark.slow
def test_teacher_order_table_from_costs_and_manifests(smoke):
    from mtpd.manifest import final_ap, read_manifest
    d, _ = smoke
    t = json.loads((d / 'figures' / 'teacher_order.json').read_text())
    costs = [r for r in t['rows'] if r['kind'] == 'cost']
    assert len(costs) == 4 and all(0 <= r['cost'] for r in costs)  # the pool: both teachers, Swin-T, the student's arch 3x
    assert [r['cost'] for r in costs] == sorted(r['cost'] for r in costs)
    order = t['meta']['order']
    assert len(order) == 2 and order[-1] == 'retinanet_x101_64x4d'  # cap 2, ends with the row's strongest teacher
    saved = json.loads((d / 'figures' / 'teacher_order_costs.json').read_text())
    assert {c['name']: c['cost'] for c in saved['costs']} == {r['teacher']: r['cost'] for r in costs}
    tag = '+'.join(order)
    run = d / 'runs' / 'retinanet_r101_x101'
    chosen = run / ('progressive-mgd-seed0' if order[0] == 'retinanet_r101' else f'progressive-{tag}-mgd-seed0')
    reverse = run / f"progressive-{'+'.join(order[::-1])}-mgd-seed0"
    assert t['meta']['ablation']['chosen order'] == [pytest.approx(final_ap(read_manifest(chosen)))]
    assert t['meta']['ablation']['reverse order'] == [pytest.approx(final_ap(read_manifest(reverse)))]
    assert [s['teacher']['name'] for s in read_manifest(reverse)['stages']] == order[::-1]
    assert (d / 'figures' / 'teacher_order.png').stat().st_size > 10_000
