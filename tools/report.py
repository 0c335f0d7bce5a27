"""What `make bench` and `make load` print alike: the machine they ran on and
their tables (reStructuredText simple tables, pasted as is into the README)."""

import contextlib
import os


def machine():
    """CPUs, CPU model and memory, for the report."""
    model = "?"
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), "?")
    kib = 0
    with contextlib.suppress(OSError):
        with open("/proc/meminfo", encoding="utf-8") as f:
            kib = next((int(line.split()[1]) for line in f if line.startswith("MemTotal")), 0)
    return f"{os.cpu_count()} CPU ({model}), {kib / 1024 / 1024:.0f} GiB RAM"


def print_table(header, rows, text_columns=1):
    """A simple table: the first `text_columns` columns aligned left, the
    figures right."""
    widths = [max(len(str(row[col])) for row in [header, *rows]) for col in range(len(header))]
    rule = "  ".join("=" * width for width in widths)

    def line(row):
        return "  ".join(str(cell).ljust(width) if col < text_columns else str(cell).rjust(width)
                         for col, (cell, width) in enumerate(zip(row, widths))).rstrip()

    print(rule)
    print(line(header))
    print(rule)
    for row in rows:
        print(line(row))
    print(rule)
