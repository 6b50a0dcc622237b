"""Nearest neighbours vs a linear model on the title for the demo kit's emotion (issue 21).

Cross-validation only (the test split is never scored): over the 213 train+val paintings of
assets/annotations/SPLITS.csv, 5 x 5-fold CV of the dominant emotion on the evaluation's basis
(top emotion over half the votes), from MiniLM embeddings (the shipped models/all-MiniLM-L6-v2)
of the titles: the majority class, a logistic regression on the argmax emotion (C grid) and a
k-nearest-neighbour vote of the neighbours' emotion shares weighted by cosine^p.
Needs: pip install sentence-transformers scikit-learn.  Usage: python3 tools/kit/title_knn_cv.py
"""
import csv, collections, os, numpy as np
from sklearn.model_selection import KFold
from sentence_transformers import SentenceTransformer
from sklearn.linear_model import LogisticRegression
R=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
split={r['painting']:r['split'] for r in csv.DictReader(open(f'{R}/assets/annotations/SPLITS.csv'))}
titles={r['aic_id']:r['title'] for r in csv.DictReader(open(f'{R}/assets/paintings/aic/paintings.csv'))}
rows=list(csv.DictReader(open(f'{R}/assets/annotations/artemo-aic.csv')))
E8=['amusement','awe','contentment','excitement','anger','disgust','fear','sadness','something else']
cnt=collections.defaultdict(lambda: np.zeros(9))
for r in rows: cnt[r['painting']][E8.index(r['emotion'].replace('_',' '))]+=1
pool=[p for p in sorted(cnt) if split.get(p) in ('train','val')]
m=SentenceTransformer(f'{R}/models/all-MiniLM-L6-v2',device='cpu')
X=m.encode([titles[p] for p in pool],normalize_embeddings=True)
S=np.array([cnt[p]/cnt[p].sum() for p in pool])
dom=S.argmax(1); keep=S.max(1)>0.5   # eval basis: top emotion > half the votes
hard=S.argmax(1)
def cv(pred_fn, reps=5):
    accs=[]
    for seed in range(reps):
        kf=KFold(5,shuffle=True,random_state=seed); ok=n=0
        for tr,te in kf.split(X):
            P=pred_fn(tr,te)
            sel=keep[te]; ok+=(P[sel]==dom[te][sel]).sum(); n+=sel.sum()
        accs.append(ok/n)
    return np.mean(accs)
def lr(C):
    def f(tr,te):
        clf=LogisticRegression(C=C,max_iter=3000).fit(X[tr],hard[tr]); return clf.classes_[clf.predict_proba(X[te]).argmax(1)]
    return f
def knn(k,p):
    def f(tr,te):
        sim=X[te]@X[tr].T; out=[]
        for row in sim:
            idx=np.argsort(-row)[:k]; w=np.maximum(row[idx],0)**p+1e-9
            out.append((w[:,None]*S[tr][idx]).sum(0).argmax())
        return np.array(out)
    return f
print('majority CV', cv(lambda tr,te: np.full(len(te), np.bincount(hard[tr]).argmax())))
for C in (0.3,1,3,10,30): print('LR C',C, round(cv(lr(C)),3))
for k in (5,10,20,40):
    for p in (0,1,4):
        print('kNN k',k,'p',p, round(cv(knn(k,p)),3))
