"""Title-only baseline for the demo kit's SEVLM emotion target (issue 21).

A logistic regression on MiniLM (sentence-transformers, the shipped models/all-MiniLM-L6-v2)
embeddings of the painting titles, trained on the train split of assets/annotations/SPLITS.csv,
scored on the test split on three bases: every painting (ties to the first emotion), paintings
without a tie, and the eval's basis (top emotion > half of the votes; 42 test paintings).
Needs: pip install sentence-transformers scikit-learn.  Usage: python3 tools/kit/title_baseline.py
"""
import csv, collections, os

import numpy as np
from sentence_transformers import SentenceTransformer
from sklearn.linear_model import LogisticRegression
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
root = os.path.join(ROOT, 'assets')
split={r['painting']:r['split'] for r in csv.DictReader(open(f'{root}/annotations/SPLITS.csv'))}
titles={r['aic_id']:r['title'] for r in csv.DictReader(open(f'{root}/paintings/aic/paintings.csv'))}
rows=list(csv.DictReader(open(f'{root}/annotations/artemo-aic.csv')))
cnt=collections.defaultdict(collections.Counter)
for r in rows: cnt[r['painting']][r['emotion']]+=1
emos=sorted({r['emotion'] for r in rows})
def dom(c, strict):
    (e,n),*rest=c.most_common()
    if strict and rest and rest[0][1]==n: return None
    return e
model=SentenceTransformer(os.path.join(ROOT, 'models', 'all-MiniLM-L6-v2'), device='cpu')
ps=sorted(cnt)
X=model.encode([titles[p] for p in ps], normalize_embeddings=True)
for strict in (False, True):
    ytr=[(x,dom(cnt[p],strict)) for x,p in zip(X,ps) if split[p]=='train' and dom(cnt[p],strict)]
    yte=[(x,dom(cnt[p],strict)) for x,p in zip(X,ps) if split[p]=='test' and dom(cnt[p],strict)]
    maj=collections.Counter(y for _,y in ytr).most_common(1)[0][0]
    print('strict',strict,'ntrain',len(ytr),'ntest',len(yte),'majority acc',np.mean([y==maj for _,y in yte]))
    for C in (0.1,0.3,1,3,10,100):
        clf=LogisticRegression(C=C,max_iter=5000).fit(np.array([x for x,_ in ytr]),[y for _,y in ytr])
        print(' C',C,'test acc',round(clf.score(np.array([x for x,_ in yte]),[y for _,y in yte]),3))
for thr in ('gt','ge'):
    def keep(c):
        (e,n),*rest=c.most_common(); t=sum(c.values())
        return (n*2>t) if thr=='gt' else (n*2>=t and not (rest and rest[0][1]==n))
    ytr=[(x,dom(cnt[p],True)) for x,p in zip(X,ps) if split[p]=='train' and keep(cnt[p])]
    yte=[(x,dom(cnt[p],True)) for x,p in zip(X,ps) if split[p]=='test' and keep(cnt[p])]
    allt=[(x,dom(cnt[p],False)) for x,p in zip(X,ps) if split[p]=='train']
    maj=collections.Counter(y for _,y in ytr).most_common(1)[0][0]
    print(thr,'ntrain',len(ytr),'ntest',len(yte),'majority',round(np.mean([y==maj for _,y in yte]),3))
    for C in (0.3,1,3,10):
        for tr,name in ((ytr,'subset'),(allt,'all-train')):
            clf=LogisticRegression(C=C,max_iter=5000).fit(np.array([x for x,_ in tr]),[y for _,y in tr])
            print(' C',C,name,'test acc',round(clf.score(np.array([x for x,_ in yte]),[y for _,y in yte]),3))
