#!/usr/bin/env python3
"""Store size benchmark: zstd dictionaries and page reuse (prints figures;
not a test).

    tests/bench/bench_dict.py BUILD_DIR [CORPUS_DIR] [--users N]
        [--messages M] [--vellumctl PATH]

With temporary data dirs and a copy of the corpus (default
../shared/corpus/spamassassin-public next to the worktree, or
/work/shared/corpus/spamassassin-public), using `vellumctl mail import`:

  1. the first M messages (default 1,000) imported for u1, then the same
     for u2 ... uN (default 10): data.mdb pages (file, free: `mdb_stat
     -ef`) after 1, 2 and N users, and the N-user / 1-user ratio of the
     file size;
  2. the whole corpus imported for one user: `du -s --block-size=1` of the
     store against the raw bytes, the compressed segment and IMAP record
     bytes (`vellumctl --json store stats`), the page overhead (allocated
     bytes minus compressed bytes), the pages, entries, key and value
     bytes and fill of each table, and the size of a compacted copy
     (`vellumctl store backup`);
  3. for both: the same import into a store that had the final
     dictionaries from the start (a compacted copy of the first store,
     its user deleted and imported again), to compare sizes;
  4. the whole corpus imported for u2 ... uN too: du against one user
     (what each more user costs is its message rows).

Skips (exit 0, a message) when the corpus is absent.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, **kw).stdout


def mdb_pages(store):
    """(pages in the file, free pages) from mdb_stat -ef."""
    out = run(["mdb_stat", "-ef", store])
    used = int(re.search(r"Number of pages used: (\d+)", out).group(1))
    free = int(re.search(r"Free pages: (\d+)", out).group(1))
    return used, free


def table_pages(store):
    """{table: (pages, entries)} from mdb_stat -a (branch + leaf +
    overflow pages; a dupsort table's duplicate pages are not counted)."""
    out = run(["mdb_stat", "-a", store])
    tables = {}
    name = None
    pages = 0
    for line in out.splitlines():
        m = re.match(r"Status of (\S+)", line)
        if m:
            name, pages = m.group(1), 0
            continue
        m = re.match(r"\s+(Branch|Leaf|Overflow) pages: (\d+)", line)
        if m and name:
            pages += int(m.group(2))
            continue
        m = re.match(r"\s+Entries: (\d+)", line)
        if m and name:
            tables[name] = (pages, int(m.group(1)))
    return tables


def table_bytes(store, name):
    """(entries, key bytes, value bytes) of a table, from mdb_dump (a
    dupsort table: its key once per value)."""
    out = run(["mdb_dump", "-s", name, store])
    lines = [l[1:] for l in out.split("HEADER=END\n", 1)[1].splitlines()
             if l.startswith(" ")]
    keys, vals = lines[0::2], lines[1::2]
    return (len(keys), sum(len(k) // 2 for k in keys),
            sum(len(v) // 2 for v in vals))


def du(path):
    return int(run(["du", "-s", "--block-size=1", path]).split()[0])


class Store:
    def __init__(self, ctl, root, name):
        self.ctl = ctl
        self.dir = os.path.join(root, name)
        os.mkdir(self.dir)
        self.vc("domain", "add", "example.org")

    def vc(self, *args):
        return run([self.ctl, "-d", self.dir] + list(args),
                   stdin=subprocess.DEVNULL)

    def add_user(self, user):
        self.vc("user", "add", user + "@example.org")

    def import_(self, user, path):
        t0 = time.monotonic()
        self.vc("mail", "import", user + "@example.org", path)
        return time.monotonic() - t0

    def stats(self):
        return json.loads(self.vc("--json", "store", "stats"))

    def reference(self, root, name, user, path):
        """A store with this one's final dictionaries from the start:
        a compacted copy, the user deleted (its mail with it), then the
        same import again.  Returns the copy."""
        dest = os.path.join(root, name)
        self.vc("store", "backup", dest)
        ref = Store.__new__(Store)
        ref.ctl = self.ctl
        ref.dir = dest
        ref.vc("user", "del", user + "@example.org")
        ref.add_user(user)
        ref.import_(user, path)
        return ref

    @property
    def store(self):
        return os.path.join(self.dir, "store")


def copy_corpus(src, dst, limit=None):
    """Copies the corpus' message files (sorted paths) into one flat
    directory; returns (count, raw bytes)."""
    os.mkdir(dst)
    paths = []
    for top, dirs, files in os.walk(src):
        dirs.sort()
        for f in sorted(files):
            if f.endswith(".eml"):
                paths.append(os.path.join(top, f))
    if limit is not None:
        paths = paths[:limit]
    total = 0
    for i, p in enumerate(paths):
        q = os.path.join(dst, "%06d.eml" % i)
        shutil.copyfile(p, q)
        total += os.path.getsize(q)
    return len(paths), total


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("corpus", nargs="?")
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--vellumctl")
    a = ap.parse_args()
    corpus = a.corpus
    if corpus is None:
        for c in (os.path.join(here, "..", "..", "..", "shared", "corpus",
                               "spamassassin-public"),
                  "/work/shared/corpus/spamassassin-public"):
            if os.path.isdir(c):
                corpus = c
                break
    if corpus is None or not os.path.isdir(corpus):
        print("bench_dict: no corpus (give CORPUS_DIR); skipped")
        return 0
    ctl = a.vellumctl or os.path.join(a.build, "admin", "vellumctl")
    if not shutil.which("mdb_stat"):
        print("bench_dict: mdb_stat (lmdb-utils) missing; skipped")
        return 0
    root = tempfile.mkdtemp(prefix="bench-dict-")
    try:
        some = os.path.join(root, "some")
        n, raw = copy_corpus(corpus, some, a.messages)
        print("corpus %s: %d messages, %d bytes for each user"
              % (corpus, n, raw))
        s = Store(ctl, root, "users")
        first = None
        # Pages of the file, and what du says (free pages given back to
        # the file system by store trim are in the first, not the second).
        for i in range(1, a.users + 1):
            u = "u%d" % i
            s.add_user(u)
            secs = s.import_(u, some)
            used, free = mdb_pages(s.store)
            size = du(s.store)
            if i == 1:
                first, firstdu = used, size
            if i in (1, 2, a.users):
                st = s.stats()
                print("%2d user%s: data.mdb %5d pages, %5d free (%4.1f%%), "
                      "du %d, import %.2f s, dicts %d"
                      % (i, " " if i == 1 else "s", used, free,
                         100.0 * free / used, size, secs, st["dicts"]))
        print("%d users / 1 user: %.3f x (data.mdb pages), %.3f x (du)"
              % (a.users, used / first, size / firstdu))
        one = Store(ctl, root, "one")
        one.add_user("u1")
        one.import_("u1", some)
        used1, free1 = mdb_pages(one.store)
        du1 = du(one.store)
        ref = one.reference(root, "one-ref", "u1", some)
        usedr, freer = mdb_pages(ref.store)
        dur = du(ref.store)
        print("1 user, final dictionaries from the start: data.mdb %d "
              "pages, %d free, du %d; the store trained on the way is "
              "%.3f x that (pages), %.3f x (du)"
              % (usedr, freer, dur, used1 / usedr, du1 / dur))

        allc = os.path.join(root, "all")
        n, raw = copy_corpus(corpus, allc)
        whole_n = n
        w = Store(ctl, root, "whole")
        w.add_user("u1")
        secs = w.import_("u1", allc)
        st = w.stats()
        used, free = mdb_pages(w.store)
        size = du(w.store)
        comp = st["stored_bytes"] + st["imap_stored_bytes"]
        w.vc("store", "backup", os.path.join(root, "backup"))
        bsize = du(os.path.join(root, "backup", "store"))
        print("whole corpus, 1 user: %d messages, %d raw bytes, import "
              "%.2f s" % (n, raw, secs))
        print("  du -s --block-size=1 store: %d (%.1f%% of raw), data.mdb "
              "%d pages, %d free" % (size, 100.0 * size / raw, used, free))
        print("  segments stored %d (%.1f%% of raw), IMAP records %d, "
              "dicts %d" % (st["stored_bytes"],
                            100.0 * st["stored_bytes"] / raw,
                            st["imap_stored_bytes"], st["dicts"]))
        print("  page overhead: %d bytes = %.1f%% of the compressed "
              "segments (%.1f%% counting IMAP records as content)"
              % (size - st["stored_bytes"],
                 100.0 * (size - st["stored_bytes"]) / st["stored_bytes"],
                 100.0 * (size - comp) / comp))
        tp = table_pages(w.store)
        print("  pages by table (entries): " + ", ".join(
            "%s %d (%d)" % (t, p, e) for t, (p, e) in
            sorted(tp.items(), key=lambda x: -x[1][0]) if p > 1))
        # What LMDB adds to the records: a leaf node is 8 bytes of header
        # and 2 of page index besides its key and value; fill is those
        # bytes over the table's pages (a dupsort table's duplicate pages
        # are not in mdb_stat's count: messages gets no fill).
        kv_all = 0
        for t, (p, e) in sorted(tp.items(), key=lambda x: -x[1][0]):
            if p <= 1 and t != "messages":
                continue
            n, kb, vb = table_bytes(w.store, t)
            kv_all += kb + vb
            print("    %-9s %5d pages, %6d entries, keys %8d B, values "
                  "%8d B, %5.1f B/entry%s"
                  % (t, p, n, kb, vb, (kb + vb) / max(n, 1),
                     "" if t == "messages" else ", fill %.1f%%" %
                     (100.0 * (kb + vb + 10 * n) / (p * 4096))))
        print("  LMDB overhead: du %d - keys and values %d = %.1f%% of "
              "them" % (size, kv_all, 100.0 * (size - kv_all) / kv_all))
        print("  compacted copy (store backup): %d (%.1f%% of raw); the "
              "store is %.3f x its compacted copy"
              % (bsize, 100.0 * bsize / raw, size / bsize))
        ref = w.reference(root, "whole-ref", "u1", allc)
        rsize = du(ref.store)
        used, free = mdb_pages(ref.store)
        print("  final dictionaries from the start: %d (%.1f%% of raw), "
              "data.mdb %d pages, %d free; the store trained on the way "
              "is %.3f x that" % (rsize, 100.0 * rsize / raw, used, free,
                                 size / rsize))
        # The third size target, by du: N users each getting the
        # whole corpus against one user.  The bytes are stored once; what
        # each more user costs is its message rows.
        for i in range(2, a.users + 1):
            w.add_user("u%d" % i)
            w.import_("u%d" % i, allc)
        nsize = du(w.store)
        rows = (a.users - 1) * whole_n
        print("  whole corpus, %d users: du %d = %.3f x 1 user; %.1f bytes "
              "for each more user's message" % (
                  a.users, nsize, nsize / size, (nsize - size) / rows))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
