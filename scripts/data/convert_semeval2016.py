#!/usr/bin/env python3
"""SemEval-2016 Task 6 (Mohammad et al. 2016) -> public-data/semeval2016/  (EVALUATION ONLY)

Source: BinLiang-NLP/TPDG  data/  (NRC "stance-data-all-annotations" files:
  testdata-taskA-all-annotations.txt  (5 targets, gold), testdata-taskB-all-annotations.txt (Donald Trump, gold))
Writes test.tsv (target, tweet, stance), read only by benchmarks/semeval2016.py. The task's
training and trial annotations are reserved too and never copied.
Usage: convert_semeval2016.py TPDG_GITDIR [OUTDIR]
"""
import csv, os, subprocess, sys
from collections import Counter
git = sys.argv[1]
out = sys.argv[2] if len(sys.argv) > 2 else 'public-data/semeval2016'
os.makedirs(out, exist_ok=True)

def show(path):
    return subprocess.run(['git', '--git-dir', git, 'show', 'HEAD:' + path], check=True, capture_output=True).stdout

def decode(b):
    try: return b.decode('utf-8')
    except UnicodeDecodeError: return b.decode('latin-1')

def parse(text):
    lines = text.replace('\r\n', '\n').replace('\r', '\n').split('\n')
    hdr = lines[0].split('\t'); rows = []
    for ln in lines[1:]:
        if not ln.strip(): continue
        p = ln.split('\t')
        assert len(p) == len(hdr), (len(p), ln[:80])
        rows.append(dict(zip(hdr, p)))
    return rows


test = []
for f in ['testdata-taskA-all-annotations.txt', 'testdata-taskB-all-annotations.txt']:
    for r in parse(decode(show('data/' + f))):
        assert r['Stance'] in ('FAVOR', 'AGAINST', 'NONE'), r
        test.append((r['Target'].strip(), ' '.join(r['Tweet'].split()), r['Stance'], r['ID'], f.split('-')[1]))
with open(os.path.join(out, 'test.tsv'), 'w', newline='', encoding='utf-8') as fh:
    w = csv.writer(fh, delimiter='\t', quoting=csv.QUOTE_MINIMAL, lineterminator='\n')
    w.writerow(['target', 'tweet', 'stance', 'id', 'subtask'])
    for t in test: w.writerow(t)
print('test', len(test))
for tgt, n in sorted(Counter(t[0] for t in test).items()):
    print(' ', tgt, n, dict(Counter(t[2] for t in test if t[0] == tgt)))
