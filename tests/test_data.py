"""Tests of mtpd.data: the synthetic COCO-format shapes dataset (real files, real pycocotools and MMDetection)."""
import contextlib, hashlib, io, json, os, signal, subprocess, sys, threading, time
from pathlib import Path

import numpy as np
import pytest

from mtpd.data import (CLASSES, SHAPES_SCALES, ShapesDataset, dataset_digest, ensure_shapes, generate_shapes,
                       perfect_predictions, shapes_data_config)

SMALL = dict(n_train=12, n_val=6)  # the smoke scale with fewer images: fast


def sha(p): return hashlib.sha256(Path(p).read_bytes()).hexdigest()


@pytest.fixture(scope='module')
def ds(tmp_path_factory):
    return generate_shapes(tmp_path_factory.mktemp('data') / 'shapes', 'smoke', seed=0, progress=False, **SMALL)


def test_layout(ds):
    assert sorted(str(p.relative_to(ds)) for p in ds.rglob('*.json')) == [
        'annotations/instances_train.json', 'annotations/instances_val.json', 'shapes.json']
    assert len(list((ds / 'train').glob('*.png'))) == 12 and len(list((ds / 'val').glob('*.png'))) == 6


@pytest.mark.parametrize('iou_type', ['bbox', 'segm'])
def test_coco_perfect_prediction_ap_1(ds, iou_type):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    for split in ('train', 'val'):
        with contextlib.redirect_stdout(io.StringIO()):
            gt = COCO(str(ds / 'annotations' / f'instances_{split}.json'))
            ev = COCOeval(gt, gt.loadRes(perfect_predictions(gt, iou_type)), iou_type)
            ev.evaluate(); ev.accumulate(); ev.summarize()
        assert ev.stats[0] == pytest.approx(1.0) and ev.stats[1] == pytest.approx(1.0)


def test_annotation_contents(ds):
    coco = json.loads((ds / 'annotations' / 'instances_train.json').read_text())
    assert [(c['id'], c['name']) for c in coco['categories']] == list(enumerate(CLASSES, 1))
    assert [im['id'] for im in coco['images']] == list(range(1, 13))
    assert {a['image_id'] for a in coco['annotations']} == set(range(1, 13))  # no empty image
    assert [a['id'] for a in coco['annotations']] == list(range(1, len(coco['annotations']) + 1))
    for a in coco['annotations']:
        x, y, w, h = a['bbox']
        poly = np.reshape(a['segmentation'][0], (-1, 2))
        assert a['iscrowd'] == 0 and 1 <= a['category_id'] <= 6 and len(poly) >= 3
        assert 0 <= x and 0 <= y and x + w <= 128 and y + h <= 128 and w >= 1 and h >= 1
        assert np.allclose(poly.min(0), (x, y), atol=0.011) and np.allclose(poly.max(0), (x + w, y + h), atol=0.011)
        assert 0 < a['area'] <= w * h


def test_full_smoke_scale_covers_classes_and_sizes(tmp_path):
    root = ensure_shapes(tmp_path, 'smoke', seed=0, progress=False)
    assert root == tmp_path / 'shapes-smoke-seed0'
    coco = json.loads((root / 'annotations' / 'instances_train.json').read_text())
    assert len(coco['images']) == SHAPES_SCALES['smoke']['n_train']
    assert {a['category_id'] for a in coco['annotations']} == set(range(1, 7))
    areas = np.array([a['area'] for a in coco['annotations']])
    assert (areas < 32 ** 2).sum() >= 10 and ((areas >= 32 ** 2) & (areas < 96 ** 2)).sum() >= 10
    assert ensure_shapes(tmp_path, 'smoke', seed=0, progress=False) == root


def test_deterministic(ds, tmp_path):
    again = generate_shapes(tmp_path / 'again', 'smoke', seed=0, progress=False, **SMALL)
    other = generate_shapes(tmp_path / 'other', 'smoke', seed=1, progress=False, **SMALL)
    for split in ('train', 'val'):
        f = Path('annotations') / f'instances_{split}.json'
        assert sha(ds / f) == sha(again / f)
        assert sha(ds / f) != sha(other / f)
        for p in sorted((ds / split).glob('*.png')):
            assert p.read_bytes() == (again / split / p.name).read_bytes()
            assert p.read_bytes() != (other / split / p.name).read_bytes()
    assert dataset_digest(ds) == dataset_digest(again) != dataset_digest(other)


def test_prefix_stable_when_adding_images(ds, tmp_path):
    "Each image has its own random stream: more images keep the first ones unchanged."
    more = generate_shapes(tmp_path / 'more', 'smoke', seed=0, progress=False, n_train=14, n_val=6)
    for p in sorted((ds / 'train').glob('*.png')):
        assert p.read_bytes() == (more / 'train' / p.name).read_bytes()


def test_reuse_without_rewriting(ds):
    before = {p: p.stat().st_mtime_ns for p in ds.rglob('*') if p.is_file()}
    assert generate_shapes(ds, 'smoke', seed=0, progress=False, **SMALL) == ds
    assert before == {p: p.stat().st_mtime_ns for p in ds.rglob('*') if p.is_file()}


def test_clear_errors(ds, tmp_path):
    with pytest.raises(ValueError, match=r"unknown shapes scale 'large'; valid scales: smoke, mini"):
        generate_shapes(tmp_path / 'x', 'large')
    with pytest.raises(ValueError, match='valid scales: smoke, mini'):
        ensure_shapes(tmp_path, 'tiny')
    with pytest.raises(ValueError, match='valid settings'):
        generate_shapes(tmp_path / 'x', 'smoke', n_images=3)
    with pytest.raises(FileExistsError, match=r"other parameters \{'seed': 0\}; delete it or choose another"):
        generate_shapes(ds, 'smoke', seed=1, progress=False, **SMALL)
    foreign = tmp_path / 'foreign'; foreign.mkdir(); (foreign / 'notes.txt').write_text('mine')
    with pytest.raises(FileExistsError) as e:
        generate_shapes(foreign, progress=False, **SMALL)
    msg = str(e.value)
    assert '\n' not in msg and str(foreign) in msg and 'delete it or choose another output directory' in msg
    assert (foreign / 'notes.txt').read_text() == 'mine'  # untouched
    assert not (tmp_path / 'x').exists()
    empty = tmp_path / 'empty'; empty.mkdir()  # an empty directory is fine to fill
    assert generate_shapes(empty, progress=False, **SMALL) == empty


def test_damaged_dataset_is_refused(ds, tmp_path):
    import shutil
    broken = tmp_path / 'broken'; shutil.copytree(ds, broken)
    (broken / 'val' / '000003.png').unlink()
    with pytest.raises(FileExistsError, match=r'incomplete shapes dataset \(val: 5 of 6 images\)'):
        generate_shapes(broken, progress=False, **SMALL)


def test_sigint_leaves_nothing(tmp_path):
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)); timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            generate_shapes(tmp_path / 'cut', 'mini', progress=False)
    finally:
        timer.cancel(); signal.signal(signal.SIGINT, old)
    assert list(tmp_path.iterdir()) == []


def test_killed_process_leaves_no_dataset(tmp_path):
    "kill -9 mid-generation: out_dir never appears; a rerun ignores the stale temporary directory."
    out = tmp_path / 'shapes'
    code = f"from mtpd.data import generate_shapes; generate_shapes({str(out)!r}, 'mini', progress=False)"
    p = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not list(tmp_path.glob('.shapes.tmp-*/train/000020.png')):
            assert p.poll() is None, 'the generator exited early'
            time.sleep(0.05)
        p.kill(); p.wait()
    finally:
        if p.poll() is None: p.kill()
    assert not out.exists() and len(list(tmp_path.glob('.shapes.tmp-*'))) == 1
    assert generate_shapes(out, progress=False, **SMALL) == out


def test_concurrent_generation(tmp_path):
    "Two generators of the same dataset at once (enough images that they overlap): both get it, no leftovers."
    out, res = tmp_path / 'shared', []
    ts = [threading.Thread(target=lambda: res.append(generate_shapes(out, progress=False, n_train=40, n_val=6)))
          for _ in range(2)]
    for t in ts: t.start()
    for t in ts: t.join()
    assert res == [out, out] and [p.name for p in tmp_path.iterdir()] == ['shared']


@pytest.mark.parametrize('with_mask', [False, True])
def test_mmdet_pipeline_and_dataloader(ds, with_mask):
    from mmdet.datasets import build_dataloader, build_dataset
    cfg = shapes_data_config(ds, 128, samples_per_gpu=4, with_mask=with_mask)
    train = build_dataset(cfg['train'])
    assert isinstance(train, ShapesDataset) and train.CLASSES == CLASSES and len(train) == 12
    x = train[0]
    assert tuple(x['img'].data.shape) == (3, 128, 128)
    n = x['gt_bboxes'].data.shape[0]
    assert n >= 1 and x['gt_labels'].data.shape == (n,) and int(x['gt_labels'].data.max()) < 6
    assert ('gt_masks' in x) == with_mask
    if with_mask: assert x['gt_masks'].data.masks.shape == (n, 128, 128)
    batch = next(iter(build_dataloader(train, 4, 0, dist=False, shuffle=True, seed=0)))
    assert tuple(batch['img'].data[0].shape) == (4, 3, 128, 128) and len(batch['gt_labels'].data[0]) == 4
    val = build_dataset(cfg['val'])
    assert len(val) == 6 and tuple(val[0]['img'][0].data.shape) == (3, 128, 128)
    assert cfg['test'] == cfg['val'] and cfg['val'] is not cfg['test']


def test_mmdet_evaluate_perfect(ds):
    from mmdet.datasets import build_dataset
    val = build_dataset(shapes_data_config(ds, 128, with_mask=True)['val'])
    results = []
    for i in range(len(val)):
        ann = val.get_ann_info(i)
        boxes = [np.concatenate([ann['bboxes'][ann['labels'] == c], np.ones(((ann['labels'] == c).sum(), 1), np.float32)], 1)
                 for c in range(len(CLASSES))]
        results.append(boxes)
    with contextlib.redirect_stdout(io.StringIO()):
        ev = val.evaluate(results, metric='bbox', classwise=True)
    assert ev['bbox_mAP'] == pytest.approx(1.0, abs=1e-3)
