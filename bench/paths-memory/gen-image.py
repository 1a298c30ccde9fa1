# bench/paths-memory/gen-image.py N OUT: a docker-archive of N node_modules-like paths in 3 layers (bench/paths-memory/measure uses it).
# Generates a docker-archive with node_modules-like trees: N paths over 3 layers.
import tarfile, io, hashlib, json, sys, os
N = int(sys.argv[1]); out = sys.argv[2]
def layer_tar(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as t:
        for name, kind, data in entries:
            ti = tarfile.TarInfo(name); ti.mtime = 1700000000
            if kind == 'd': ti.type = tarfile.DIRTYPE; ti.mode = 0o755; t.addfile(ti)
            else: ti.size = len(data); ti.mode = 0o644; t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()
def tree(prefix, count, seed):
    # app/node_modules/pkgNNNN/{lib/,lib/fileK.js,package.json,README.md}
    e = [(prefix, 'd', b''), (prefix + '/node_modules', 'd', b'')]
    p = 0
    while len(e) < count:
        pkg = '%s/node_modules/@scope-%d/package-name-%05d' % (prefix, p % 50, p)
        if p < 50: e.append(('%s/node_modules/@scope-%d' % (prefix, p), 'd', b''))
        e.append((pkg, 'd', b'')); e.append((pkg + '/lib', 'd', b''))
        e.append((pkg + '/package.json', 'f', b'{"name":"x%d"}' % (p + seed)))
        e.append((pkg + '/README.md', 'f', b'readme'))
        for k in range(6): e.append((pkg + '/lib/module-file-%d.js' % k, 'f', b'x'))
        p += 1
    return e[:count]
layers = [tree('usr/lib/base', N * 4 // 10, 0), tree('app', N * 5 // 10, 1), tree('app2', N - N * 9 // 10, 2)]
with tarfile.open(out, 'w') as outer:
    diff = []; names = []
    for i, l in enumerate(layers):
        b = layer_tar(l); h = hashlib.sha256(b).hexdigest(); diff.append('sha256:' + h)
        ti = tarfile.TarInfo(h + '/layer.tar'); ti.size = len(b); outer.addfile(ti, io.BytesIO(b)); names.append(h + '/layer.tar')
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": diff},
        "history": [{"created_by": "l%d" % i} for i in range(3)]}).encode()
    ch = hashlib.sha256(cfg).hexdigest() + '.json'
    ti = tarfile.TarInfo(ch); ti.size = len(cfg); outer.addfile(ti, io.BytesIO(cfg))
    m = json.dumps([{"Config": ch, "RepoTags": ["memtest/paths:%d" % N], "Layers": names}]).encode()
    ti = tarfile.TarInfo('manifest.json'); ti.size = len(m); outer.addfile(ti, io.BytesIO(m))
