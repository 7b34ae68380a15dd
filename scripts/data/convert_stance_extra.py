#!/usr/bin/env python3
"""IBM Debater stance datasets -> public-data/stance_extra/<name>.jsonl  {"topic","text","stance"}

Sources:
  unclevikram/anlp-final-project : dataset/IBM_Debater_(R)_arg_quality_rank_30k.zip  (IBM-ArgQ-Rank-30kArgs, CC-BY-SA 3.0)
                                   dataset/IBM_Debater_(R)_ArgKP-2021.zip           (ArgKP-2021, CDLA-Sharing-1.0)
  nicobari30/argumentativeRelationClaimPolarityDataset : claim_stance_dataset_v1.csv (IBM Claim Stance, CC-BY-SA 3.0;
                                   this copy was re-saved by a spreadsheet: each line is quoted and ends in ';;;;')
Topics touching the reserved SemEval-2016 targets (atheism, abortion, feminism, climate change,
Trump, Clinton) are dropped, conservatively including adjacent ones (see EXCLUDE below).
Usage: convert_stance_extra.py ANLP_GITDIR CLAIMPOL_GITDIR [OUTDIR]
"""
import csv, io, json, os, re, subprocess, sys, zipfile
from collections import Counter
anlp, claimpol = sys.argv[1], sys.argv[2]
out = sys.argv[3] if len(sys.argv) > 3 else 'public-data/stance_extra'
raw = os.path.join(out, 'raw'); os.makedirs(raw, exist_ok=True)

def show(git, path):
    return subprocess.run(['git', '--git-dir', git, 'show', 'HEAD:' + path], check=True, capture_output=True).stdout

EXCLUDE = [  # (regex on topic, reason)
    (r'atheis', 'SemEval target Atheism'),
    (r'abortion|contracepti|abstinence', 'SemEval target Legalization of Abortion (adjacent)'),
    (r'gender-neutral|women in combat|housewives', 'SemEval target Feminist Movement (adjacent)'),
    (r'climate|wind power|keystone|global warming', 'SemEval target Climate Change (adjacent)'),
    (r'trump|clinton|hillary', 'SemEval targets Trump/Clinton'),
]
def excluded(topic):
    return any(re.search(p, topic, re.I) for p, _ in EXCLUDE)

def norm(t): return ' '.join(t.split())

def write(name, rows):
    kept = [r for r in rows if not excluded(r['topic'])]
    dropped = sorted(set(r['topic'] for r in rows if excluded(r['topic'])))
    seen = set(); uniq = []
    for r in kept:
        k = (r['topic'], r['text'].lower())
        if k in seen or not r['text']: continue
        seen.add(k); uniq.append(r)
    with open(os.path.join(out, name + '.jsonl'), 'w', encoding='utf-8') as f:
        for r in uniq: f.write(json.dumps(r, ensure_ascii=False) + '\n')
    print(name, len(uniq), 'rows,', len(set(r['topic'] for r in uniq)), 'topics', dict(Counter(r['stance'] for r in uniq)))
    print('  dropped topics:', dropped)
    return uniq

# 1. IBM ArgQ-Rank-30k
z = show(anlp, 'dataset/IBM_Debater_(R)_arg_quality_rank_30k.zip')
open(os.path.join(raw, 'arg_quality_rank_30k.zip'), 'wb').write(z)
zf = zipfile.ZipFile(io.BytesIO(z)); zf.extractall(os.path.join(raw, 'aq30k'))
name = [n for n in zf.namelist() if n.endswith('arg_quality_rank_30k.csv')][0]
S = {'1': 'pro', '-1': 'con', '0': 'neutral'}
rows = [dict(topic=r['topic'], text=norm(r['argument']), stance=S[r['stance_WA']])
        for r in csv.DictReader(io.StringIO(zf.read(name).decode('utf-8')))]
aq = write('ibm_argq30k', rows)

# 2. IBM ArgKP-2021 (arguments only, deduplicated; arguments already in ArgQ-30k are removed)
z = show(anlp, 'dataset/IBM_Debater_(R)_ArgKP-2021.zip')
open(os.path.join(raw, 'ArgKP-2021.zip'), 'wb').write(z)
zf = zipfile.ZipFile(io.BytesIO(z)); zf.extractall(os.path.join(raw, 'argkp'))
name = [n for n in zf.namelist() if n.endswith('ArgKP-2021_dataset.csv')][0]
have = set(r['text'].lower() for r in aq)
rows = [dict(topic=r['topic'], text=norm(r['argument']), stance=S[r['stance']])
        for r in csv.DictReader(io.StringIO(zf.read(name).decode('utf-8')))
        if norm(r['argument']).lower() not in have]
write('ibm_argkp2021', rows)

# 3. IBM Claim Stance (mangled CSV: unwrap each record)
b = show(claimpol, 'claim_stance_dataset_v1.csv').decode('utf-8')
open(os.path.join(raw, 'claim_stance_dataset_v1.csv'), 'w', encoding='utf-8').write(b)
parsed = []
for ln in b.splitlines():  # one record per line: cells were split on ';' by the spreadsheet -> re-join them
    cells = next(csv.reader(io.StringIO(ln), delimiter=';'), [])
    while cells and cells[-1] == '': cells.pop()
    parsed.append(next(csv.reader(io.StringIO(';'.join(cells))), []))
hdr = parsed[0]; n = len(hdr)
bad = [p for p in parsed[1:] if len(p) != n]
if bad: print('  claim stance: skipped', len(bad), 'malformed line fragments (1 claim with embedded newlines)')
rows = []
for p in parsed[1:]:
    if len(p) != n: continue
    r = dict(zip(hdr, p))
    rows.append(dict(topic=r['topicText'], text=norm(r['claims.claimCorrectedText']),
                     stance={'PRO': 'pro', 'CON': 'con'}[r['claims.stance']]))
write('ibm_claim_stance', rows)
