"""Train variants of one small-scale zoo detector side by side and print their val APs (a tuning tool).

Each variant is `NAME=ROW:ROLE:SCHEDULE[:KEY=VALUE,...]` with keys
  lr, weight_decay (AdamW), drop_path (Swin's drop_path_rate), warmup (iterations), clip (grad max_norm),
  xsched (multiply the schedule's length, e.g. 3 = three times as many iterations, LR steps scaled too),
  seed (the training seed, default 0: another seed of the same config, to see a run's noise).
Every variant is the project's own config (mtpd.zoo.training_config of mtpd.zoo.model_config, with the model's
small-scale optimizer, mtpd.zoo.small_optimizer: what mtpd.experiments.trained_detector trains) with only those keys
changed, trained with mtpd.train.train and evaluated with mtpd.train.evaluate (pycocotools), one process per variant,
`--jobs` at a time (single-threaded each). Runs on CUDA when torch sees a GPU, else on the CPU.

  python tools/sweep.py --scale mini --jobs 4 base=retinanet_swin:teacher1:3x lr5e-4=retinanet_swin:teacher1:3x:lr=5e-4

Prints one `RESULT name bbox=.. segm=.. iters=.. wall=..s` line per variant (and writes --out JSON lines if given).
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

KEYS = ('lr', 'weight_decay', 'drop_path', 'warmup', 'clip', 'xsched', 'seed')

def parse(spec:str) -> dict:
    name, _, rest = spec.partition('=')
    parts = rest.split(':')
    if not name or len(parts) < 3: raise SystemExit(f"sweep: bad variant {spec!r}; use NAME=ROW:ROLE:SCHEDULE[:KEY=VALUE,...]")
    kv = dict(p.split('=', 1) for p in parts[3].split(',') if p) if len(parts) > 3 else {}
    bad = sorted(set(kv) - set(KEYS))
    if bad: raise SystemExit(f"sweep: unknown key(s) {', '.join(bad)} in {spec!r}; valid keys: {', '.join(KEYS)}")
    return dict(name=name, row=parts[0], role=parts[1], schedule=parts[2], **{k: float(v) for k, v in kv.items()})

def run_one(v:dict, scale:str, work:Path) -> dict:
    import torch
    torch.set_num_threads(1)
    import mtpd  # noqa: F401  (registers the project's components)
    from mtpd import zoo
    from mtpd.stages import scale_schedule
    from mtpd.train import train, evaluate
    name = zoo.model_name(v['row'], v['role'])  # the base is what mtpd.experiments.trained_detector trains
    seed = int(v.get('seed', 0))
    cfg = zoo.training_config(zoo.model_config(v['row'], v['role'], scale), scale, None, v['schedule'], seed=seed,
                              optimizer=zoo.small_optimizer(name))
    if 'xsched' in v: cfg = scale_schedule(cfg, int(v['xsched']))
    if 'lr' in v: cfg.optimizer.lr = v['lr']
    if 'weight_decay' in v: cfg.optimizer.weight_decay = v['weight_decay']
    if 'drop_path' in v: cfg.model.backbone.drop_path_rate = v['drop_path']
    if 'warmup' in v: cfg.lr_config.warmup_iters = int(v['warmup'])
    if 'clip' in v: cfg.optimizer_config.grad_clip = dict(max_norm=v['clip'], norm_type=2)
    t = time.time()
    ckpt = train(cfg, work / v['name'], seed=seed, run_name=v['name'])
    m = evaluate(cfg, ckpt)
    return dict(v, bbox=round(100 * m.get('bbox_mAP', 0), 2), segm=round(100 * m['segm_mAP'], 2) if 'segm_mAP' in m else None,
                bbox50=round(100 * m.get('bbox_mAP_50', 0), 2), iters=cfg.runner.max_iters, wall=round(time.time() - t, 1),
                device='cuda' if torch.cuda.is_available() else 'cpu')

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('variants', nargs='*')
    ap.add_argument('--scale', default='mini', choices=('smoke', 'mini'))
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--work', default=None, help='work directory (default: a temporary one)')
    ap.add_argument('--out', default=None, help='append one JSON line per variant here')
    ap.add_argument('--one', default=None, help=argparse.SUPPRESS)  # internal: run one variant (JSON) in this process
    a = ap.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix='sweep-')); work.mkdir(parents=True, exist_ok=True)
    if a.one:
        r = run_one(json.loads(a.one), a.scale, work)
        print('SWEEP_JSON ' + json.dumps(r), flush=True); return
    vs = [parse(s) for s in a.variants]
    if not vs: raise SystemExit("sweep: no variants given; see --help")
    from mtpd.data import ensure_shapes  # generate the data once, before the processes start
    from mtpd import zoo
    print(f"sweep: data {ensure_shapes(zoo.default_data_root(a.scale), a.scale, progress=False)}, "
          f"{len(vs)} variant(s), {a.jobs} at a time, work dir {work}", flush=True)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    pending, running = list(vs), []
    while pending or running:
        while pending and len(running) < a.jobs:
            v = pending.pop(0)
            log = open(work / f"{v['name']}.log", 'w')
            p = subprocess.Popen([sys.executable, __file__, '--scale', a.scale, '--work', str(work), '--one', json.dumps(v)],
                                 stdout=log, stderr=subprocess.STDOUT, env=env)
            running.append((v, p, log))
        time.sleep(2)
        for v, p, log in list(running):
            if p.poll() is None: continue
            running.remove((v, p, log)); log.close()
            lines = [l for l in open(log.name) if l.startswith('SWEEP_JSON ')]
            if p.returncode or not lines:
                tail = open(log.name).read().strip().splitlines()[-1:] or ['']
                print(f"RESULT {v['name']} FAILED rc={p.returncode}: {tail[0][:200]}", flush=True); continue
            r = json.loads(lines[-1][len('SWEEP_JSON '):])
            print(f"RESULT {r['name']} bbox={r['bbox']} bbox50={r['bbox50']} segm={r['segm']} iters={r['iters']} "
                  f"wall={r['wall']}s device={r['device']} {json.dumps({k: r[k] for k in KEYS if k in r})}", flush=True)
            if a.out:
                with open(a.out, 'a') as f: f.write(json.dumps(r) + '\n')

if __name__ == '__main__':
    main()
