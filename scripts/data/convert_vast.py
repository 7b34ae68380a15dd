#!/usr/bin/env python3
"""Convert VAST (Allaway & McKeown 2020) into normalized files under public-data/vast/.

Sources (fetch as bare git dirs, then pass them in):
  train: HITSZ-HLT/JointCL   datasets/VAST/vast_train.zip  (original full-column CSV)
  dev/test: PQH-hub/GLMCL_stance_detection  vast_dev.csv, vast_test.csv
            (reduced columns Tweet,Target 1,Stance 1,seen?; the original
             vast_dev.csv / vast_test.csv are >=4 MiB and absent from snapshots)
Label map (emilyallaway/zero-shot-stance data/README.md): 0=con, 1=pro, 2=neutral;
GLMCL uses AGAINST/FAVOR/NONE for the same (verified 932/932 agreement with
vast_test-sentswap.csv, which keeps the original numeric labels).
Usage: convert_vast.py JOINTCL_GITDIR GLMCL_GITDIR [OUTDIR]
"""
import csv, io, json, os, subprocess, sys, zipfile
csv.field_size_limit(10**9)
jointcl, glmcl = sys.argv[1], sys.argv[2]
out = sys.argv[3] if len(sys.argv) > 3 else 'public-data/vast'
raw = os.path.join(out, 'raw'); os.makedirs(raw, exist_ok=True)

def show(gitdir, path):
    return subprocess.run(['git', '--git-dir', gitdir, 'show', 'HEAD:' + path],
                          check=True, capture_output=True).stdout

NUM2STANCE = {'0': 'con', '1': 'pro', '2': 'neutral'}
WORD2STANCE = {'AGAINST': 'con', 'FAVOR': 'pro', 'NONE': 'neutral'}
STANCE2NUM = {'con': 0, 'pro': 1, 'neutral': 2}

z = show(jointcl, 'datasets/VAST/vast_train.zip')
open(os.path.join(raw, 'vast_train.zip'), 'wb').write(z)
with zipfile.ZipFile(io.BytesIO(z)) as zf:
    zf.extract('vast_train.csv', raw)
open(os.path.join(raw, 'vast_test-sentswap.csv'), 'wb').write(show(jointcl, 'datasets/VAST/vast_test-sentswap.csv'))
for s in ('dev', 'test'):
    open(os.path.join(raw, f'glmcl_vast_{s}.csv'), 'wb').write(show(glmcl, f'vast_{s}.csv'))

def rows(split):
    if split == 'train':
        for r in csv.DictReader(open(os.path.join(raw, 'vast_train.csv'), newline='', encoding='utf-8')):
            yield dict(text=r['post'], topic=r['topic_str'], new_topic=r['new_topic'],
                       stance=NUM2STANCE[r['label']], seen=r['seen?'], type_idx=r['type_idx'],
                       new_id=r['new_id'])
    else:
        for i, r in enumerate(csv.DictReader(open(os.path.join(raw, f'glmcl_vast_{split}.csv'), newline='', encoding='utf-8'))):
            yield dict(text=r['Tweet'], topic=r['Target 1'], new_topic='',
                       stance=WORD2STANCE[r['Stance 1']], seen=r['seen?'], type_idx='', new_id='')

for split in ('train', 'dev', 'test'):
    rs = list(rows(split))
    cols = ['text', 'topic', 'label', 'stance', 'seen', 'new_topic', 'type_idx', 'new_id']
    with open(os.path.join(out, f'{split}.csv'), 'w', newline='', encoding='utf-8') as f:
        w = csv.DictWriter(f, fieldnames=cols); w.writeheader()
        for r in rs:
            w.writerow({**r, 'label': STANCE2NUM[r['stance']]})
    with open(os.path.join(out, f'{split}.jsonl'), 'w', encoding='utf-8') as f:
        for r in rs:
            f.write(json.dumps({'topic': r['topic'], 'text': r['text'], 'stance': r['stance']}, ensure_ascii=False) + '\n')
    from collections import Counter
    print(split, len(rs), dict(Counter(r['stance'] for r in rs)))
