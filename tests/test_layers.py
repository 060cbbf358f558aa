"The package is layered as its notebooks are numbered: a module imports only modules of earlier notebooks (no cycles)."
import ast, re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def notebook_of(module:Path) -> str:
    m = re.search(r'File to edit: \.\./nbs/(\S+)\.ipynb', module.read_text())
    return m.group(1) if m else None

def mtpd_imports(module:Path) -> set:
    "Names of the mtpd modules `module` imports anywhere (top level or inside functions)."
    out = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1: out |= {node.module} if node.module else {a.name for a in node.names}
            elif node.module and node.module.startswith('mtpd.'): out.add(node.module.split('.')[1])
            elif node.module == 'mtpd': out |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name.split('.')[1] for a in node.names if a.name.startswith('mtpd.')}
    return out

def test_modules_import_only_earlier_notebooks():
    mods = {p.stem: p for p in (ROOT / 'mtpd').glob('*.py') if notebook_of(p)}
    nb = {name: notebook_of(p) for name, p in mods.items()}
    assert {'mgd', 'backbones', 'zoo', 'cli'} <= set(nb)
    bad = [f"{m} ({nb[m]}) imports {d} ({nb[d]})" for m in mods for d in mtpd_imports(mods[m]) & set(mods)
           if d != m and nb[d] >= nb[m]]
    assert not bad, 'imports against the notebook order: ' + '; '.join(bad)
