# Prints the per-operation deltas of /proc/self/mountstats between the phases stage2.sh saved.
import re,sys
def parse(fn):
    secs={}; cur=None; inops=False
    for line in open(fn):
        m=re.match(r'device (\S+) mounted on (\S+) with fstype nfs4',line)
        if m: cur=m.group(2); secs[cur]={}; inops=False; continue
        if cur is None: continue
        if 'per-op statistics' in line: inops=True; continue
        if inops:
            m=re.match(r'\s+([A-Z_]+):\s+(\d+)',line)
            if m: secs[cur][m.group(1)]=int(m.group(2))
    return secs
phases=["0","1-create","2-stat","3-read","4-unlink","5-before-ls","6-ls","7-stat-listed"]
import os
os.chdir(sys.argv[1])
prev=parse("ms.0")
for p in phases[1:]:
    cur=parse("ms."+p)
    for mnt in cur:
        d={k:v-prev.get(mnt,{}).get(k,0) for k,v in cur[mnt].items() if v-prev.get(mnt,{}).get(k,0)>0}
        if d: print(p, mnt, " ".join(f"{k}={v}" for k,v in sorted(d.items())))
    prev=cur
