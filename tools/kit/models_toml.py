"""Rewrites the demo kit's file lists in models/MODELS.toml from what is on disk.

After a retrained kit is copied into models/demo (`artemo train --preset demo --out
models/demo --overwrite-shipped`), every `demo-*` entry's files get their sha256 and size
again, and files added to or removed from a kit folder are listed or dropped. The score
maps (`*.npy`) stay unlisted, as before. Other entries are left as they are.
Usage: python3 tools/kit/models_toml.py [--check]
"""
import hashlib, os, re, sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'models')
TOML = os.path.join(ROOT, 'MODELS.toml')
# Which files each demo entry lists: a folder (every file below it) or single files.
OWN = {
    'demo-pacl': ['demo/pacl/'],
    'demo-sevlm': ['demo/sevlm/'],
    'demo-emosem': ['demo/emosem/'],
    'demo-card': ['demo/MODEL_CARD.md', 'demo/eval/summary.json', 'demo/train.log', 'demo/card/'],
    'demo-eval': ['demo/eval/'],
}


def files_of(name):
    out = []
    for spec in OWN[name]:
        full = os.path.join(ROOT, spec)
        if spec.endswith('/'):
            if not os.path.isdir(full):
                continue
            for d, _, fs in os.walk(full):
                for f in fs:
                    rel = os.path.relpath(os.path.join(d, f), ROOT).replace(os.sep, '/')
                    if rel.endswith('.npy'):
                        continue
                    if name == 'demo-eval' and rel == 'demo/eval/summary.json':
                        continue
                    out.append(rel)
        elif os.path.isfile(full):
            out.append(spec)
    return out if name == 'demo-card' else sorted(set(out))


def entry(path):
    data = open(os.path.join(ROOT, path), 'rb').read()
    return f'[[model.files]]\npath = "{path}"\nsha256 = "{hashlib.sha256(data).hexdigest()}"\nbytes = {len(data)}\n'


def main():
    text = open(TOML).read()
    blocks = re.split(r'(?=^\[\[model\]\]$)', text, flags=re.M)
    out = []
    for b in blocks:
        m = re.search(r'^name = "([^"]+)"', b, flags=re.M)
        if not m or m.group(1) not in OWN:
            out.append(b)
            continue
        head = b.split('[[model.files]]')[0].rstrip('\n') + '\n\n'
        out.append(head + '\n'.join(entry(p) for p in files_of(m.group(1))) + '\n')
    new = ''.join(out).rstrip('\n') + '\n'
    if '--check' in sys.argv:
        if new != text:
            sys.exit('models/MODELS.toml: the demo kit entries are stale; run python3 tools/kit/models_toml.py')
        return
    open(TOML, 'w').write(new)


if __name__ == '__main__':
    main()
