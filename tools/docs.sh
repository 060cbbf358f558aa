#!/usr/bin/env bash
# The documentation site, built from the notebooks (nbs/index.ipynb is the home page):
#   tools/docs.sh           the site in _docs/ (one page per notebook, with the signature and docstring
#                           of every exported name) and README.md (from nbs/index.ipynb); prints the site
#   tools/docs.sh readme    README.md only, from nbs/index.ipynb (seconds: no other notebook is run)
#
# Both are nbdev 2's pipeline: nbdev processes the notebooks into _proc/ (front matter from the title
# cell, a show_doc after every exported name, hidden and export cells dropped, links to symbols), then
# one of two engines renders _proc/ into _docs/:
#   quarto  nbdev's own (`quarto render`, what nbdev_docs runs). Used when a `quarto` is on PATH, or in
#           $MTPD_CACHE/tools/quarto-<version>/ (pip's quarto-cli, installed there once, outside the
#           checkout and outside requirements/*.txt so the environment's cache key does not change).
#           quarto-cli on PyPI is an sdist that downloads the Quarto release from GitHub while it builds:
#           where only the package registries are reachable that install fails, the failure is remembered
#           (quarto-<version>.failed: delete it, or set MTPD_DOCS_ENGINE=quarto, to try again) and the
#           plain engine is used.
#   plain   nbconvert's Markdown and highlighting filters with a small page template, from the project's
#           environment alone: the same pages and sidebar, no search. MathJax comes from npm once
#           ($MTPD_CACHE/tools/mathjax-<version>/, copied into _docs/; without npm the pages load it from
#           its CDN). Links to the docs host (settings.ini doc_host) become relative, so the site also
#           works from file://.
# README.md is written the same way by both engines: the processed index.ipynb as Markdown, links to
# the docs host turned back into plain `code`.
#
# Two rules differ from stock nbdev (both in the Python part below):
# - To run a notebook's show_doc, nbdev executes its export cells and every cell with an import. A cell
#   that mixes imports with other code (a test, an example that trains) is not executed here; each
#   notebook with such cells is listed ("not executed for the docs") so they can be split: imports in a
#   cell of their own, as nbdev asks.
# - nbdev drops the whole title cell (`# Title` + `> summary`) into the page's front matter: text after
#   the summary would vanish and a summary wrapped over several `>` lines would keep its first line only.
#   Here the whole first quote is the summary and the rest of the cell stays on the page.
#
# MTPD_DOCS_ENGINE=auto|quarto|plain picks the engine (default auto: quarto when it can be had, else plain).
# MTPD_DOCS_WORKERS (default 2): processes that run the notebooks' cells for show_doc.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
what=${1:-site}
case $what in site|readme) ;; *) echo "usage: tools/docs.sh [readme]" >&2; exit 2;; esac
engine=${MTPD_DOCS_ENGINE:-auto}
workers=${MTPD_DOCS_WORKERS:-2}
cache=${MTPD_CACHE:-$HOME/.cache/mtpd}
quarto_version=${MTPD_QUARTO_VERSION:-1.10.19}
qdir=$cache/tools/quarto-$quarto_version
log() { echo "[docs] $*" >&2; }
start=$SECONDS

env=$(tools/setup_env.sh)
export PYTHONPATH=$here${PYTHONPATH:+:$PYTHONPATH} PATH=$env/bin:$PATH PYTHONWARNINGS=ignore

quarto_bin() {  # the folder of pip's quarto executable (the venv's bin/quarto is only a wrapper of it)
  "$qdir/venv/bin/python" -c 'import os, quarto_cli; print(os.path.join(os.path.dirname(quarto_cli.__file__), "bin"))'
}

find_quarto() {  # puts a quarto on PATH; fails when there is none to be had
  command -v quarto >/dev/null 2>&1 && return 0
  mkdir -p "$cache/tools"
  (
    flock 9
    [ -f "$qdir/.complete" ] && exit 0
    if [ -f "$qdir.failed" ] && [ "$engine" != quarto ]; then exit 1; fi
    log "installing quarto-cli $quarto_version into $qdir (once)"
    rm -rf "$qdir"
    if "${MTPD_PYTHON:-python3}" -m venv "$qdir/venv" >&2 && "$qdir/venv/bin/python" -m pip install -q \
         --disable-pip-version-check "quarto-cli==$quarto_version" >"$qdir.log" 2>&1 \
       && [ -x "$(quarto_bin)/quarto" ]; then
      touch "$qdir/.complete"; rm -f "$qdir.failed" "$qdir.log"
    else
      rm -rf "$qdir"; mv "$qdir.log" "$qdir.failed" 2>/dev/null || touch "$qdir.failed"
      log "quarto-cli $quarto_version could not be installed (log: $qdir.failed)"
      exit 1
    fi
  ) 9>"$cache/tools/.quarto.lock" || return 1
  PATH=$(quarto_bin):$PATH
  command -v quarto >/dev/null 2>&1
}

if [ "$what" = readme ]; then engine=none
elif [ "$engine" != plain ]; then
  if find_quarto; then engine=quarto; log "quarto $(quarto --version) from $(command -v quarto)"
  elif [ "$engine" = quarto ]; then log "MTPD_DOCS_ENGINE=quarto, and no quarto"; exit 1
  else engine=plain; log "no quarto: the plain engine renders the site"
  fi
fi

# nbdev writes nbs/nbdev.yml and nbs/sidebar.yml (made from settings.ini and the notebooks' names) before
# processing: they are removed again unless someone chose to track them.
py=$(mktemp "${TMPDIR:-/tmp}/mtpd-docs.XXXXXX.py")
cleanup() {
  rm -f "$py"
  for f in nbs/nbdev.yml nbs/sidebar.yml; do
    git ls-files --error-unmatch "$f" >/dev/null 2>&1 || rm -f "$f"
  done
}
trap cleanup EXIT
# _proc/ is nbdev's cache of processed notebooks (a notebook is processed again when it is newer than
# its copy there): start it over when this script changed, drop those whose notebook is gone (renamed).
[ -d _proc ] && [ "$here/tools/docs.sh" -nt _proc ] && rm -rf _proc
if [ -d _proc ]; then
  for p in _proc/*.ipynb; do [ -e "$p" ] && [ ! -e "nbs/${p#_proc/}" ] && rm -f "$p"; done
  rm -rf _proc/_docs
fi

mathjax() {  # MathJax 3 for the plain engine's pages, once from npm (else the pages load it from its CDN)
  local dir=$cache/tools/mathjax-3.2.2 tmp
  if [ ! -f "$dir/.complete" ]; then
    command -v npm >/dev/null 2>&1 || return 0
    mkdir -p "$cache/tools"
    ( flock 9; [ -f "$dir/.complete" ] && exit 0
      rm -rf "$dir"; mkdir -p "$dir"; tmp=$(mktemp -d)
      if (cd "$tmp" && timeout 300 npm pack -q mathjax@3.2.2 >/dev/null 2>&1) && tar xzf "$tmp"/mathjax-3.2.2.tgz \
           -C "$dir" --strip-components=2 package/es5/tex-mml-chtml.js package/es5/output/chtml/fonts/woff-v2
      then touch "$dir/.complete"; else rm -rf "$dir"; log "MathJax not fetched (npm): pages use its CDN"; fi
      rm -rf "$tmp" ) 9>"$cache/tools/.mathjax.lock"
  fi
  [ -f "$dir/.complete" ] && echo "$dir" || true
}
mathjax_dir=
[ "$engine" = plain ] && mathjax_dir=$(mathjax)

# proc_nbs runs its workers with multiprocessing's spawn: they import the main script again, so it is a
# file (its top level, the _do_eval rule below, reaches the workers; main() does not run there).
cat >"$py" <<'PY'
import ast, html, json, re, shutil, subprocess, sys, textwrap, warnings
from pathlib import Path
import yaml
import nbdev.processors
from nbdev.config import get_config

_nbdev_do_eval = nbdev.processors._do_eval
def _do_eval(cell):
    "nbdev's rule, less the cells that mix imports with other code (tests, examples that train)"
    if not _nbdev_do_eval(cell): return False
    if cell.directives_.keys() & {'export', 'exports', 'exporti', 'exec_doc'}: return True
    trees = cell.parsed_()
    if nbdev.processors._show_docs(trees): return True
    if all(isinstance(t, (ast.Import, ast.ImportFrom)) for t in trees): return True
    _skipped.append(cell.source.strip().splitlines()[0][:40])
    return False
nbdev.processors._do_eval = _do_eval
_skipped, _esd = [], nbdev.processors.exec_show_docs
_nbdev_begin, _nbdev_end = _esd.begin, _esd.end
def _begin(self):
    _skipped.clear()
    return _nbdev_begin(self)
def _end(self):
    if _skipped:
        print(f'[docs] {Path(getattr(self.nb, "path_", "?")).name}: {len(_skipped)} cells not executed for the docs '
              f'(imports mixed with other code), first lines: ' + ' | '.join(_skipped), file=sys.stderr)
    return _nbdev_end(self)
_esd.begin, _esd.end = _begin, _end
warnings.filterwarnings('ignore', message='Found cells containing imports')

# nbdev turns a notebook's title cell into front matter and drops the whole cell: any text after the
# `> summary` would vanish from the page, and only the first line of a summary wrapped over several `>`
# lines would be kept. Here the summary is every line of the first quote, `- key: value` lines right
# after it are front matter as in nbdev, and the rest of the cell stays on the page.
import nbdev.frontmatter
_nbdev_fm_cell = nbdev.frontmatter.FrontmatterProc.cell
_re_title, _re_meta = re.compile(r'^#\s+(\S.*?)\s*$'), re.compile(r'^-\s+[\w-]+:\s*\S')
def _fm_cell(self, cell):
    src = cell.get('source') or ''
    if cell.cell_type != 'markdown' or 'title' in self.fm or not nbdev.frontmatter._md2dict(src):
        return _nbdev_fm_cell(self, cell)
    lines = src.split('\n')
    t = next(i for i, l in enumerate(lines) if _re_title.match(l))
    fm, i = {'title': _re_title.match(lines[t]).group(1)}, t + 1
    def blanks(i):
        while i < len(lines) and not lines[i].strip(): i += 1
        return i
    i, quote = blanks(i), []
    while i < len(lines) and lines[i].startswith('>'): quote.append(lines[i][1:].strip()); i += 1
    if quote: fm['description'] = ' '.join(q for q in quote if q)
    j, meta = blanks(i), []
    while j < len(lines) and _re_meta.match(lines[j]): meta.append(lines[j][1:].strip()); j += 1
    try: extra = yaml.safe_load('\n'.join(meta)) if meta else None
    except yaml.YAMLError: extra = None
    if isinstance(extra, dict): fm.update(extra); i = j
    self.fm.update(fm)
    cell.source = '\n'.join(lines[:t] + lines[i:]).strip('\n') or None
nbdev.frontmatter.FrontmatterProc.cell = _fm_cell

def main():
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
    from nbdev.serve import proc_nbs, _proc_file
    import nbdev.doclinks, nbdev.serve_drv

    what, engine, workers, mathjax = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    cfg = get_config()
    nbs, root, docs = cfg.nbs_path, cfg.config_path, cfg.doc_path
    proc = root/'_proc'
    host = (cfg.doc_host.rstrip('/') + '/' + cfg.doc_baseurl.strip('/')).rstrip('/') + '/'

    def read_proc(path):
        "front matter and cells (with source) of a processed notebook"
        nb = json.loads(Path(path).read_text())
        fm, cells = {}, []
        for c in nb['cells']:
            if 'source' not in c: continue
            src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
            if c['cell_type'] == 'raw' and not fm and src.startswith('---'):
                fm = yaml.safe_load(src.strip().strip('-')) or {}
                continue
            c['source'] = src
            cells.append(c)
        return fm, cells

    directive = re.compile(r'^#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')
    def split_directives(src):
        lines, dirs = src.split('\n'), {}
        while lines and directive.match(lines[0]):
            k, v = directive.match(lines[0]).groups(); dirs[k] = v.strip('"\''); lines.pop(0)
        return dirs, '\n'.join(lines).strip('\n')

    def text_of(o, key='text'):
        v = o.get(key, o.get('data', {}).get(key, ''))
        return ''.join(v) if isinstance(v, list) else v

    # ----------------------------------------------------------------------------------- README.md
    hostlink = re.compile(r'\[([^\]]*)\]\(' + re.escape(host) + r'[^)]*\)')
    def readme():
        job = _proc_file(nbs/cfg.readme_nb, proc, nbs)
        if job: nbdev.serve_drv.main(job)
        fm, cells = read_proc(proc/cfg.readme_nb)
        head, rest = [f"# {fm.get('title', cfg.lib_name)}"], []
        for c in cells:
            if c['cell_type'] == 'markdown':
                src = hostlink.sub(r'\1', c['source']).strip('\n')
                if src.startswith('<!-- WARNING'): head.append(src)
                else: rest.append(src)
            elif c['cell_type'] == 'code':
                dirs, src = split_directives(c['source'])
                if dirs.get('include') == 'false': continue
                if src and dirs.get('echo') != 'false': rest.append(f'```python\n{src}\n```')
                if dirs.get('output') == 'false': continue
                for o in c.get('outputs', []):
                    d = o.get('data', {})
                    if o.get('output_type') == 'stream': rest.append('```\n' + text_of(o).rstrip('\n') + '\n```')
                    elif 'text/markdown' in d: rest.append(hostlink.sub(r'\1', text_of(o, 'text/markdown')))
                    elif 'text/plain' in d: rest.append('```\n' + text_of(o, 'text/plain') + '\n```')
        if fm.get('description'): head.append('\n'.join('> ' + l for l in textwrap.wrap(str(fm['description']), 98)))
        (root/'README.md').write_text('\n\n'.join(head + rest) + '\n')
        print(f'[docs] README.md from {nbs.name}/{cfg.readme_nb}', file=sys.stderr)

    proc.mkdir(exist_ok=True)
    if what == 'readme':
        readme(); return

    # ------------------------------------------------------------------------- processing (_proc/)
    refresh_quarto_yml()                      # nbs/nbdev.yml (and nbs/_quarto.yml when missing)
    nbdev.doclinks._build_modidx()            # symbol -> page links (as nbdev_export writes it)
    nbdev_sidebar.__wrapped__(path=nbs)       # nbs/sidebar.yml, unless settings.ini custom_sidebar = True
    proc_nbs(nbs, n_workers=workers)          # _proc/: front matter, show_doc, hidden cells dropped
    readme()

    if engine == 'quarto':                    # what nbdev_docs does after its own proc_nbs
        subprocess.run(['quarto', 'render', '--no-cache'], cwd=proc, check=True)
        shutil.rmtree(docs, ignore_errors=True)
        shutil.move(str(proc/docs.name), str(root))
        return

    # ------------------------------------------------------------------------------- plain engine
    from pygments.formatters import HtmlFormatter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.markdown_mistune import markdown2html_mistune
    highlight = Highlight2HTML(pygments_lexer='ipython3')
    shutil.rmtree(docs, ignore_errors=True)   # as nbdev_docs does: _docs/ holds nothing but the site
    docs.mkdir()

    def flat(items, section=None):            # sidebar.yml's contents: names, and sections of names
        for it in items:
            if isinstance(it, str): yield section, it
            elif isinstance(it, dict):
                if 'href' in it: yield it.get('section'), it['href']
                yield from flat(it.get('contents', []), it.get('section'))
    sidebar = yaml.safe_load((nbs/'sidebar.yml').read_text()) if (nbs/'sidebar.yml').exists() else {}
    order = list(flat(sidebar.get('website', {}).get('sidebar', {}).get('contents', [])))
    if not order: order = [(None, p.name) for p in sorted(nbs.glob('*.ipynb'))]
    pages = []
    for sec, name in order:
        p = proc/name
        if p.suffix != '.ipynb' or not p.exists() or not (nbs/name).exists(): continue
        fm, cells = read_proc(p)
        pages.append(dict(src=name, section=sec, fm=fm, cells=cells,
                          out=fm.get('output-file', Path(name).stem + '.html'),
                          title=str(fm.get('title', Path(name).stem))))

    def relink(s): return s.replace('(' + host, '(').replace('"' + host, '"')

    def slug(text):                           # pandoc's (so Quarto's) heading ids: nbdev links to them
        t = re.sub(r'<[^>]+>', '', html.unescape(text)).strip().lower()
        t = re.sub(r'[^\w\s.-]', '', t)
        return re.sub(r'\s+', '-', t)

    srclink = re.compile(r'\[([^\]]+)\]\(([^)\s]+)\)\{([^}]*)\}')  # pandoc's [text](url){attrs}
    def md(src):
        src = '\n'.join(l for l in relink(src).split('\n') if not l.lstrip().startswith(':::'))
        src = srclink.sub(lambda m: f'<a href="{m.group(2)}" {html.unescape(m.group(3))}>{m.group(1)}</a>', src)
        out = markdown2html_mistune(src)
        def hid(m):                           # pandoc-style ids, nbdev's links point at them
            tag, attrs, inner = m.group(1), m.group(2), m.group(3)
            inner = re.sub(r'<a class="anchor-link"[^>]*>.*?</a>', '', inner, flags=re.S)
            attrs = re.sub(r'\s+id="[^"]*"', '', attrs)
            i = slug(inner)
            return f'<{tag}{attrs} id="{i}">{inner}<a class="anchor" href="#{i}">#</a></{tag}>'
        return re.sub(r'<(h[1-6])([^>]*)>(.*?)</\1>', hid, out, flags=re.S)

    def output_html(o):
        t = o.get('output_type')
        if t == 'stream':
            cls = 'cell-output-stderr' if o.get('name') == 'stderr' else 'cell-output-stdout'
            return f'<div class="cell-output {cls}"><pre>{html.escape(text_of(o))}</pre></div>'
        if t == 'error':
            tb = re.sub(r'\x1b\[[0-9;]*m', '', '\n'.join(o.get('traceback', [])))
            return f'<div class="cell-output cell-output-error"><pre>{html.escape(tb)}</pre></div>'
        d = o.get('data', {})
        if 'text/markdown' in d: return f'<div class="cell-output cell-output-markdown">{md(text_of(o, "text/markdown"))}</div>'
        if 'image/png' in d: return f'<div class="cell-output cell-output-display"><img src="data:image/png;base64,{text_of(o, "image/png").strip()}"></div>'
        if 'image/svg+xml' in d: return f'<div class="cell-output cell-output-display">{text_of(o, "image/svg+xml")}</div>'
        if 'text/html' in d: return f'<div class="cell-output cell-output-display">{text_of(o, "text/html")}</div>'
        if 'text/plain' in d: return f'<div class="cell-output"><pre>{html.escape(text_of(o, "text/plain"))}</pre></div>'
        return ''

    def cell_html(c):
        if c['cell_type'] == 'markdown': return md(c['source'])
        if c['cell_type'] != 'code': return ''
        dirs, src = split_directives(c['source'])
        if dirs.get('include') == 'false': return ''
        parts = []
        if src and dirs.get('echo') != 'false':
            code = f'<div class="sourceCode">{highlight(src)}</div>'
            if 'code-fold' in dirs:
                opn = ' open' if dirs['code-fold'] == 'show' else ''
                summary = html.escape(dirs.get('code-summary', 'Code'))
                code = f'<details class="code-fold"{opn}><summary>{summary}</summary>{code}</details>'
            parts.append(code)
        if dirs.get('output') != 'false': parts += [output_html(o) for o in c.get('outputs', [])]
        parts = [p for p in parts if p]
        return f'<div class="cell">{"".join(parts)}</div>' if parts else ''

    site_title = cfg.get('title', cfg.lib_name)
    def nav(current):
        items, sec = [], None
        for p in pages:
            if p['section'] and p['section'] != sec:
                items.append(f'<li class="section">{html.escape(p["section"])}</li>')
            sec = p['section']
            cls = ' class="active"' if p is current else ''
            items.append(f'<li{cls}><a href="{p["out"]}">{html.escape(p["title"])}</a></li>')
        return '\n'.join(items)

    page = '''<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><meta name="description" content="{desc_attr}">
<link rel="stylesheet" href="site.css"><link rel="stylesheet" href="styles.css">
<script>window.MathJax = {{tex: {{inlineMath: [['$', '$'], ['\\\\(', '\\\\)']]}}}};</script>
<script async src="{mathjax}"></script>
</head><body>
<header class="navbar"><a class="brand" href="index.html">{site}</a>
<span class="tagline">{site_desc}</span><a class="repo" href="{repo}">Source</a></header>
<div class="layout">
<nav class="sidebar"><ul>
{nav}
</ul></nav>
<main>
<header class="title-block"><h1 class="title">{h1}</h1>{desc}</header>
{body}
<footer class="pager">{prev}{next}</footer>
</main>
<aside class="toc">{toc}</aside>
</div></body></html>
'''
    mathjax_src = 'https://cdn.jsdelivr.net/npm/mathjax@3.2.2/es5/tex-mml-chtml.js'
    if mathjax:                               # a local copy: the site works offline (file://) too
        shutil.copytree(mathjax, docs/'mathjax', ignore=shutil.ignore_patterns('.complete'))
        mathjax_src = 'mathjax/tex-mml-chtml.js'
    for i, p in enumerate(pages):
        body = '\n'.join(filter(None, (cell_html(c) for c in p['cells'])))
        heads = re.findall(r'<h2[^>]*id="([^"]+)"[^>]*>(.*?)<a class="anchor"', body, flags=re.S)
        toc = ('<h2>On this page</h2><ul>' + ''.join(f'<li><a href="#{a}">{re.sub("<[^>]+>", "", t)}</a></li>'
                for a, t in heads) + '</ul>') if heads else ''
        desc = str(p['fm'].get('description', ''))
        prev = (f'<a class="prev" href="{pages[i-1]["out"]}">&larr; {html.escape(pages[i-1]["title"])}</a>'
                if i else '<span></span>')
        nxt = (f'<a class="next" href="{pages[i+1]["out"]}">{html.escape(pages[i+1]["title"])} &rarr;</a>'
               if i + 1 < len(pages) else '')
        title = site_title if p['out'] == 'index.html' else f'{p["title"]} – {site_title}'
        (docs/p['out']).write_text(page.format(
            title=html.escape(title), desc_attr=html.escape(desc, quote=True), site=html.escape(site_title),
            site_desc=html.escape(cfg.get('description', '')), repo=html.escape(cfg.get('git_url', '#')),
            mathjax=mathjax_src, nav=nav(p), h1=html.escape(p['title']), toc=toc, prev=prev, next=nxt, body=body,
            desc=f'<div class="description">{md(desc)}</div>' if desc else ''))

    css = (nbs/'styles.css').read_text() if (nbs/'styles.css').exists() else ''
    (docs/'styles.css').write_text(css)
    (docs/'site.css').write_text(SITE_CSS + HtmlFormatter(style='default').get_style_defs('.highlight'))
    print(f'[docs] {len(pages)} pages: ' + ' '.join(p['out'] for p in pages), file=sys.stderr)

SITE_CSS = '''
:root { --fg: #212529; --muted: #6c757d; --line: #dee2e6; --accent: #2780e3; --code: #f8f9fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.6 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
.navbar { display: flex; align-items: baseline; gap: 1rem; padding: .7rem 1.5rem; background: var(--accent); color: #fff; }
.navbar a { color: #fff; } .navbar .brand { font-size: 1.3rem; font-weight: 600; }
.navbar .tagline { opacity: .85; font-size: .9rem; flex: 1; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }
.layout { display: grid; grid-template-columns: 230px minmax(0, 1fr) 210px; gap: 2rem; max-width: 1400px; margin: 0 auto; padding: 1rem 1.5rem; }
.sidebar ul { list-style: none; padding: 0; margin: 0; position: sticky; top: 1rem; }
.sidebar li a { display: block; padding: .2rem .6rem; border-left: 2px solid transparent; color: var(--fg); font-size: .93rem; }
.sidebar li.active a { border-left-color: var(--accent); color: var(--accent); font-weight: 600; }
.sidebar li.section { margin-top: .8rem; font-weight: 600; color: var(--muted); text-transform: capitalize; }
.toc { font-size: .88rem; } .toc h2 { font-size: .95rem; margin-top: 0; }
.toc ul { list-style: none; padding-left: 0; position: sticky; top: 1rem; }
main { min-width: 0; } h1.title { margin-bottom: .3rem; }
.title-block { margin-bottom: 1.5rem; border-bottom: 1px solid var(--line); } .description p { margin-top: 0; }
h2 { margin-top: 2rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
a.anchor { visibility: hidden; margin-left: .4rem; font-size: .8em; color: var(--muted); }
h1:hover a.anchor, h2:hover a.anchor, h3:hover a.anchor, h4:hover a.anchor { visibility: visible; }
pre, code { font-family: SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: .87em; }
pre { background: var(--code); padding: .7rem .9rem; overflow-x: auto; border-radius: 4px; }
:not(pre) > code { background: var(--code); padding: .1em .3em; border-radius: 3px; color: #9753b8; }
.sourceCode .highlight pre { border-left: 3px solid var(--line); }
table { border-collapse: collapse; margin: 1rem 0; font-size: .93rem; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .6rem; text-align: left; vertical-align: top; }
blockquote { margin: 0 0 1rem; padding: .2rem 1rem; border-left: 3px solid var(--line); color: var(--muted); }
.cell-output-markdown h3, .cell-output-markdown h4 { margin-bottom: .3rem; }
.cell-output-markdown > hr:first-child { border: 0; border-top: 1px solid var(--line); margin: 1.8rem 0 .5rem; }
details.code-fold summary { cursor: pointer; color: var(--muted); font-size: .9rem; }
.pager { display: flex; justify-content: space-between; margin: 3rem 0 1rem; padding-top: 1rem; border-top: 1px solid var(--line); }
img { max-width: 100%; }
@media (max-width: 1000px) { .layout { grid-template-columns: 1fr; } .toc { display: none; } }
'''

if __name__ == '__main__':
    main()
PY
python "$py" "$what" "$engine" "$workers" "$mathjax_dir"
log "done in $((SECONDS - start)) s$([ "$engine" = none ] || echo " ($engine engine)")"
if [ "$what" = site ]; then echo "$here/_docs/index.html"; else echo "$here/README.md"; fi
