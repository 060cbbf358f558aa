"""Throughput of the shapes generator (images/s, PNG writing and annotation files included).

Usage: python tests/bench_data.py [smoke|mini ...]   (default: smoke mini; not collected by pytest)
"""
import json, sys, tempfile, time
from pathlib import Path

from mtpd.data import generate_shapes, shapes_settings


def bench(scale: str) -> float:
    s = shapes_settings(scale)
    n = s['n_train'] + s['n_val']
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        out = generate_shapes(Path(d) / 'shapes', scale, seed=0, progress=False)
        dt = time.perf_counter() - t0
        anns = sum(len(json.loads((out / 'annotations' / f'instances_{k}.json').read_text())['annotations'])
                   for k in ('train', 'val'))
        mb = sum(p.stat().st_size for p in out.rglob('*') if p.is_file()) / 2**20
    print(f'{scale}: {n} images ({anns} objects, {mb:.1f} MiB) in {dt:.2f} s = {n / dt:.0f} images/s')
    return n / dt


if __name__ == '__main__':
    for scale in sys.argv[1:] or ['smoke', 'mini']: bench(scale)
