"The package installs and imports without nbdev, and registers its components on import."
import configparser, json, subprocess, sys, zipfile

import pytest
import yaml

from conftest import run_env


@pytest.fixture(scope='module')
def installed_wheel(root, tmp_path_factory):
    "mtpd built as a wheel and installed (without dependencies) into a directory of its own: (wheel, site dir)."
    d = tmp_path_factory.mktemp('wheel')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q',
                    '-w', str(d / 'dist'), str(root)], check=True, env=run_env())
    whl, = (d / 'dist').glob('mtpd-*.whl')
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q', '--target', str(d / 'site'), str(whl)],
                   check=True, env=run_env())
    return whl, d / 'site'


def wheel_env(site):
    "The project's environment with the installed wheel first on the path (before the checkout's editable install)."
    env = run_env(); env['PYTHONPATH'] = str(site)
    return env


@pytest.mark.slow
def test_wheel_installs_and_imports_without_nbdev(installed_wheel, tmp_path):
    whl, target = installed_wheel
    names = zipfile.ZipFile(whl).namelist()
    assert {'mtpd/mgd.py', 'mtpd/distiller.py', 'mtpd/weights.py', 'mtpd/cli.py'} <= set(names)
    assert {f'mtpd/notebooks/{n}.ipynb' for n in ('main_results', 'direct_vs_progressive', 'teacher_order', 'released',
                                                  'report', 'benchmark')} <= set(names)
    meta = next(zipfile.ZipFile(whl).read(n).decode() for n in names if n.endswith('METADATA'))
    requires = [l for l in meta.splitlines() if l.startswith('Requires-Dist:') and 'extra ==' not in l]
    assert not any('nbdev' in r or 'fastcore' in r for r in requires), requires
    # nbdev and fastcore made unimportable: the installed package must not need them.
    code = ("import sys; sys.modules['nbdev'] = None; sys.modules['fastcore'] = None\n"
            "import mtpd, mmdet.models.builder as b\n"
            "assert mtpd.__file__.startswith(sys.argv[1]), mtpd.__file__\n"
            "assert b.LOSSES.get('MGDLoss') and b.DETECTORS.get('DetectionDistiller') and b.HEADS.get('DeviceSafeRepPointsHead')\n"
            "print('ok', mtpd.__version__)")
    out = subprocess.run([sys.executable, '-c', code, str(target)], cwd=tmp_path, env=wheel_env(target),
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == 'ok 0.1.0'
    assert 'CUDA_HOME' not in out.stderr and 'MMCV will release' not in out.stderr, out.stderr


@pytest.mark.slow
def test_wheel_reproduces_outside_a_checkout(root, installed_wheel, tmp_path):
    """The main job from a wheel: `mtpd reproduce` (one row of the main table at smoke scale, then the report) run from
    an empty directory, with the installed package first on the path: the notebooks come from the wheel, results and
    figures go under the current directory, the tables' provenance matches the checkout's code, and --check agrees."""
    _, site = installed_wheel
    env = wheel_env(site)
    where = subprocess.run([sys.executable, '-c', 'import mtpd.reproduce as r; print(r.notebooks_dir(), r.checkout_root())'],
                           cwd=tmp_path, env=env, capture_output=True, text=True)
    assert where.stdout.split() == [str(site / 'mtpd' / 'notebooks'), 'None'], where.stderr[-2000:]
    out = subprocess.run([sys.executable, '-m', 'mtpd.cli', 'reproduce', '--scale', 'smoke', '--table', 'main_results',
                          '--rows', 'retinanet_r101_x101'], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    figs = tmp_path / 'figures' / 'smoke'
    table = json.loads((figs / 'main_results.json').read_text())
    assert [r['row'] for r in table['rows']] == ['retinanet_r101_x101']
    assert (tmp_path / 'runs' / 'smoke' / 'retinanet_r101_x101' / 'progressive-mgd-seed0' / 'manifest.json').is_file()
    assert (figs / 'ap_across_stages.png').stat().st_size > 1000  # the report ran too
    from mtpd.manifest import code_fingerprint
    assert table['provenance']['git'] is None and table['provenance']['code'] == code_fingerprint()
    check = subprocess.run([sys.executable, '-m', 'mtpd.cli', 'reproduce', '--check'], cwd=tmp_path, env=env,
                           capture_output=True, text=True)
    assert check.returncode == 0, (check.stdout, check.stderr[-2000:])
    assert 'ok    main_results' in check.stdout and 'ok    teachers' in check.stdout


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


def test_one_opencv_build_headless_4():
    "Exactly one OpenCV distribution (two would write the same cv2/): headless 4.x, as base.txt pins (issue 17)."
    import importlib.metadata as md
    cv = sorted((d.metadata['Name'].lower(), d.version) for d in md.distributions()
                if (d.metadata['Name'] or '').lower().startswith('opencv'))
    assert [name for name, _ in cv] == ['opencv-python-headless'], cv
    assert cv[0][1].split('.')[0] == '4', cv
