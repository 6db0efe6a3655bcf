#!/usr/bin/env python3
"""Runs one extractor over every case of the pdf-peers corpus and reports seconds per page.

  pdf_cases.py ours  CASES.csv OUTDIR -- CMD...   # CMD gets: FILE --pages P --strategy M [--area x1,y1,x2,y2] --out OUTDIR
  pdf_cases.py camelot CASES.csv OUTDIR           # camelot-py in this interpreter
  pdf_cases.py summary CASES.csv SCORES.json      # F1 overall / lattice / stream / non-camelot

One run per (pdf, page, mode, area) group, with the case's mode and area hints (cases give the
area as top,left,bottom,right from the top-left corner; camelot gets the same box in its own
bottom-left frame, and the camelot-specific params the origin tests used).
Prints `pages=N seconds=S`.
"""
import csv, os, subprocess, sys, time

def groups(cases_csv):
    root = os.path.dirname(os.path.abspath(cases_csv))
    seen = {}
    for r in csv.DictReader(open(cases_csv, newline='', encoding='utf-8')):
        if r['page'] == 'all':
            continue
        key = (r['pdf'], r['page'], r['mode'], r['area'], r['params'])
        seen.setdefault(key, r)
    return root, list(seen)

def run_ours(cases_csv, out, cmd):
    root, gs = groups(cases_csv)
    t0 = time.perf_counter()
    for pdf, page, mode, area, params in gs:
        args = cmd + [os.path.join(root, pdf), '--pages', page, '--strategy', mode, '--out', out]
        if area:
            top, left, bottom, right = area.split(',')
            args += ['--area', f'{left},{top},{right},{bottom}']
        # the origin tests' hints that have an equivalent here (camelot gets them too)
        for kv in filter(None, params.split(';')):
            k, v = kv.split('=', 1)
            if k == 'columns':
                args += ['--columns', v]
            elif k == 'copy_text':
                args += ['--copy-spans']
        p = subprocess.run(args, capture_output=True, text=True)
        if p.returncode != 0:
            print(f'ours failed on {pdf} p{page}: {p.stderr.strip()}', file=sys.stderr)
    return len(gs), time.perf_counter() - t0

def run_camelot(cases_csv, out):
    import camelot, warnings
    warnings.filterwarnings('ignore')
    root, gs = groups(cases_csv)
    t0 = time.perf_counter()
    for pdf, page, mode, area, params in gs:
        path = os.path.join(root, pdf)
        kw = {}
        for kv in filter(None, params.split(';')):
            k, v = kv.split('=', 1)
            if k.startswith('tabula_'):
                continue
            if k == 'columns':
                kw['columns'] = [v.replace(' ', ',')] if ',' in v else [v]
            elif k in ('line_scale', 'row_tol'):
                kw[k] = int(v)
            elif k in ('process_background', 'flag_size'):
                kw[k] = v == 'true'
            elif k == 'copy_text':
                kw[k] = list(v)
            else:
                kw[k] = v
        if area:
            top, left, bottom, right = map(float, area.split(','))
            # camelot areas are x1,y1,x2,y2 in PDF space (origin bottom-left) of the displayed page
            import pypdfium2  # a camelot dependency; page size of the displayed (rotated) page
            h = pypdfium2.PdfDocument(path)[int(page) - 1].get_size()[1]
            kw['table_areas'] = [f'{left},{h - top},{right},{h - bottom}']
        stem = os.path.splitext(os.path.basename(pdf))[0]
        try:
            tables = camelot.read_pdf(path, pages=page, flavor=mode, **kw)
        except Exception as e:
            print(f'camelot failed on {pdf} p{page}: {e}', file=sys.stderr)
            continue
        for k, t in enumerate(tables, 1):
            t.df.to_csv(os.path.join(out, f'{stem}.p{page}.t{k}.csv'), index=False, header=False)
    return len(gs), time.perf_counter() - t0

def prf(tp, ne, nx):
    p = tp / nx if nx else 0.0
    r = tp / ne if ne else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0

def summary(cases_csv, scores_json):
    """Aligned F1 per subset from pdf_score.py --json output. Unmatched extracted tables count
    as false positives of the subset of the page they were found on."""
    import json
    mode = {}
    for r in csv.DictReader(open(cases_csv, newline='', encoding='utf-8')):
        mode[(r['pdf'], r['page'])] = r['mode']
        mode[r['case_id'], r['table'], r['pdf'], r['page']] = r['mode']
    res = json.load(open(scores_json))['tables']
    subsets = {'overall': lambda r: True,
               'lattice': lambda r: mode.get((r['pdf'], r['page'])) == 'lattice',
               'stream': lambda r: mode.get((r['pdf'], r['page'])) == 'stream',
               'non-camelot': lambda r: not r['pdf'].startswith('camelot/')}
    out = {}
    for name, keep in subsets.items():
        rs = [r for r in res if keep(r)]
        out[name] = prf(sum(r['tp'] for r in rs), sum(r['n_exp'] for r in rs), sum(r['n_ext'] for r in rs))
    return out

if __name__ == '__main__':
    which, cases, out = sys.argv[1:4]
    if which == 'summary':
        print(' '.join(f'{k}={v:.3f}' for k, v in summary(cases, out).items()))
        sys.exit(0)
    os.makedirs(out, exist_ok=True)
    if which == 'ours':
        n, s = run_ours(cases, out, sys.argv[sys.argv.index('--') + 1:])
    else:
        n, s = run_camelot(cases, out)
    print(f'pages={n} seconds={s:.3f}')
