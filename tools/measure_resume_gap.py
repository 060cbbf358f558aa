"""What kill -9 + resume changes today: an uninterrupted 6-iteration `mtpd progressive` stage (A) against one killed as
soon as iter_2.pth appears and re-run (B); prints the manifest fields that differ and the loss of every iteration.

    tools/env.sh python tools/measure_resume_gap.py WORK_DIR

A measurement for issue 17 (resume continues the data order), to become a test once the resumed run matches."""
import json, signal, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'tests'))
from conftest import run_env, small_training_config, tiny_model, RETINANET
from mtpd.data import CLASSES, ensure_shapes

d = Path(sys.argv[1]); d.mkdir(parents=True, exist_ok=True)
data = ensure_shapes(d / 'data', 'smoke', progress=False)
kw = dict(num_classes=len(CLASSES))
small_training_config(tiny_model(RETINANET, **kw), data, max_iters=6).dump(str(d / 'student.py'))
small_training_config(tiny_model(RETINANET, depth=34, fpn_channels=24, **kw), data, max_iters=4).dump(str(d / 'teacher.py'))
env = run_env()
if not (d / 'teacher' / 'latest.pth').exists():
    subprocess.run(['mtpd', 'train', str(d / 'teacher.py'), '--work-dir', str(d / 'teacher')], env=env, check=True, capture_output=True)
T = f"{d / 'teacher.py'}={d / 'teacher' / 'latest.pth'}"
def cmd(w): return ['mtpd', 'progressive', str(d / 'student.py'), '--teacher', T, '--work-dir', str(w)]
subprocess.run(cmd(d / 'A'), env=env, check=True, capture_output=True)
p = subprocess.Popen(cmd(d / 'B'), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while not (d / 'B' / 'stage1' / 'iter_2.pth').exists(): time.sleep(0.02)
p.send_signal(signal.SIGKILL); p.wait()
subprocess.run(cmd(d / 'B'), env=env, check=True, capture_output=True)
def losses(w):
    out = {}
    for f in sorted((w / 'stage1').glob('*.log.json')):
        for l in f.read_text().splitlines():
            r = json.loads(l)
            if r.get('mode') == 'train': out[r['iter']] = r['loss']
    return out
a, b = (json.loads((d / w / 'manifest.json').read_text()) for w in 'AB')
sa, sb = a['stages'][0], b['stages'][0]
diff = sorted(k for k in set(sa) | set(sb) if sa.get(k) != sb.get(k))
print('experiment equal:', a['experiment'] == b['experiment'])
print('stage fields that differ:', diff)
for k in diff:
    if k not in ('config', 'code'): print(f'  {k}: {sa.get(k)} | {sb.get(k)}')
print('loss per iteration A:', losses(d / 'A')); print('loss per iteration B:', losses(d / 'B'))
