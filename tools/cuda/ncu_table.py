#!/usr/bin/env python3
"""Nsight Compute's details page (profile_on_device.sh's details_N.txt) as a table: one line a kernel in launch order
(duration, DRAM throughput, grid, registers, achieved occupancy, warp cycles per issued instruction), then the
kernels grouped by name and launch shape (count, mean and total duration), largest total first.

    tools/cuda/ncu_table.py details_1.txt [--by-name]

Read here, on the file the device call brought back (the GPU machine need not have Python)."""
import re
import sys

KERNEL = re.compile(r"^  (?:(?P<range>[^/\n]*)/)?(?:void )?(?:[\w:]*<unnamed>::)?(?:wst::engine::cuda::)?"
                    r"(?P<name>\w+)(?P<tmpl><.*?>)?\(.*\) \((?P<grid>[\d, ]+)\)x\((?P<block>[\d, ]+)\)")
METRICS = {
    "dram": re.compile(r"^\s+DRAM Throughput\s+%\s+([\d.,]+)"),
    "regs": re.compile(r"^\s+Registers Per Thread\s+register/thread\s+([\d.,]+)"),
    "occ": re.compile(r"^\s+Achieved Occupancy\s+%\s+([\d.,]+)"),
    "wcpi": re.compile(r"^\s+Warp Cycles Per Issued Instruction\s+cycle\s+([\d.,]+)"),
}
DURATION = re.compile(r"^\s+Duration\s+(\S+)\s+([\d.,]+)")
TO_US = {"ns": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3, "nsecond": 1e-3}


def parse(path):
    kernels = []
    try:
        f = open(path, encoding="utf-8", errors="replace")
    except OSError as e:
        sys.exit(f"{path}: {e.strerror}")
    with f:
        for line in f:
            m = KERNEL.match(line)
            if m:
                kernels.append({"name": m.group("name") + (m.group("tmpl") or ""), "grid": m.group("grid"),
                                "block": m.group("block")})
                continue
            if not kernels:
                continue
            k = kernels[-1]
            m = DURATION.match(line)
            if m and "dur" not in k and m.group(1) in TO_US:
                k["dur"] = float(m.group(2).replace(",", "")) * TO_US[m.group(1)]
            for key, rx in METRICS.items():
                m = rx.match(line)
                if m and key not in k:
                    k[key] = float(m.group(1).replace(",", ""))
    return kernels


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        sys.exit("usage: tools/cuda/ncu_table.py DETAILS_TXT [--by-name]")
    kernels = parse(args[0])
    if not kernels:
        sys.exit(f"{args[0]}: no kernels found (not Nsight Compute's details page?)")
    fmt = "{:>4} {:>8} {:>6} {:>6} {:>5} {:>6} {:>6}  {}"
    if "--by-name" not in sys.argv:
        print(fmt.format("#", "us", "dram%", "grid", "regs", "occ%", "wcpi", "kernel"))
        for i, k in enumerate(kernels):
            print(fmt.format(i, "%.2f" % k.get("dur", float("nan")), "%.1f" % k.get("dram", float("nan")),
                             k["grid"].replace(" ", ""), "%d" % k.get("regs", 0), "%.1f" % k.get("occ", float("nan")),
                             "%.1f" % k.get("wcpi", float("nan")), k["name"]))
    groups = {}
    for k in kernels:
        groups.setdefault((k["name"], k["grid"]), []).append(k.get("dur", 0.0))
    total = sum(sum(v) for v in groups.values())
    print(f"\n{len(kernels)} kernels, {total:.1f} us in all; by name and grid (count, mean us, total us, share):")
    for (name, grid), durs in sorted(groups.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {len(durs):4d} {sum(durs) / len(durs):8.2f} {sum(durs):9.1f} {100 * sum(durs) / total:5.1f}%  "
              f"{name} grid ({grid.replace(' ', '')})")


if __name__ == "__main__":
    main()
