"The package installs and imports without nbdev, and registers its components on import."
import configparser, subprocess, sys, zipfile

import pytest
import yaml

from conftest import run_env


@pytest.mark.slow
def test_wheel_installs_and_imports_without_nbdev(root, tmp_path):
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q',
                    '-w', str(tmp_path / 'dist'), str(root)], check=True, env=run_env())
    whl, = (tmp_path / 'dist').glob('mtpd-*.whl')
    names = zipfile.ZipFile(whl).namelist()
    assert {'mtpd/mgd.py', 'mtpd/distiller.py', 'mtpd/weights.py', 'mtpd/cli.py'} <= set(names)
    meta = next(zipfile.ZipFile(whl).read(n).decode() for n in names if n.endswith('METADATA'))
    requires = [l for l in meta.splitlines() if l.startswith('Requires-Dist:') and 'extra ==' not in l]
    assert not any('nbdev' in r or 'fastcore' in r for r in requires), requires
    target = tmp_path / 'site'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q', '--target', str(target), str(whl)],
                   check=True, env=run_env())
    # nbdev and fastcore made unimportable: the installed package must not need them.
    code = ("import sys; sys.modules['nbdev'] = None; sys.modules['fastcore'] = None\n"
            "import mtpd, mmdet.models.builder as b\n"
            "assert mtpd.__file__.startswith(sys.argv[1]), mtpd.__file__\n"
            "assert b.LOSSES.get('MGDLoss') and b.DETECTORS.get('DetectionDistiller') and b.HEADS.get('DeviceSafeRepPointsHead')\n"
            "print('ok', mtpd.__version__)")
    env = run_env(); env['PYTHONPATH'] = str(target)
    out = subprocess.run([sys.executable, '-c', code, str(target)], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == 'ok 0.1.0'
    assert 'CUDA_HOME' not in out.stderr and 'MMCV will release' not in out.stderr, out.stderr


def test_version_matches_settings(root):
    import mtpd
    cfg = configparser.ConfigParser(); cfg.read(root / 'settings.ini')
    assert mtpd.__version__ == cfg['DEFAULT']['version']


def test_environment_yml_pins_match_requirements(root):
    "conda users get the same stack as `make test`."
    reqs = set()
    for f in ('torch.txt', 'base.txt'):
        for line in (root / 'requirements' / f).read_text().splitlines():
            line = line.split('#')[0].strip()
            if line: reqs.add(line)
    env = yaml.safe_load((root / 'environment.yml').read_text())
    pip = next(d['pip'] for d in env['dependencies'] if isinstance(d, dict))
    assert set(pip) == reqs, set(pip) ^ reqs


def test_nbdev_clean_keeps_tags(root):
    cfg = configparser.ConfigParser(); cfg.read(root / 'settings.ini')
    assert cfg['DEFAULT']['allowed_cell_metadata_keys'].split() == ['tags']
