#!/usr/bin/env python3
"""Makes MF4 files of the block layouts a valid MDF 4.1x/4.2 file may have, from a real
CANedge log, for the header reader's tests:

    mf4_layouts.py SAMPLE.MF4 OUTDIR

writes into OUTDIR (each is then read by mf4_oracle.py, asammdf and mdf_iter):
  unsorted-tail.mf4        the CANedge file (unfinalized, one data group of many channel
                           groups) with its data first and every other block after a gap at the
                           tail: HD links forward to the tail, the DG back to the data
  unsorted-alternate.mf4   its blocks placed alternately at the head and at the tail, so that
                           every link of the chain jumps across the gap and back
  finalized-unsorted.mf4   the same file finalized (MDF, cycle counts), its DG at the tail
  unsorted-dl.mf4          its data as a DL of five DT blocks, the first 7 bytes (the first
                           record runs across three blocks), placed in reverse order
  sorted.mf4               asammdf's save: finalized and sorted, a data group per channel group
  sorted-tail.mf4          that file with its data groups at the tail, the data blocks at the head
  sorted-dz-deflate.mf4    asammdf's save with compression 1 (DZ, deflate)
  sorted-dz-transposed.mf4 asammdf's save with compression 2 (DZ, transposition + deflate)
  unsorted-hl-dz.mf4       the CANedge data as an HL over a DL of three DZ blocks (deflate,
                           transposed, deflate), blocks at the tail
Blocks are moved whole, every link rewritten; the bytes between blocks are unused.
"""
import os
import struct
import sys
import warnings
import zlib

warnings.filterwarnings("ignore")

# Far beyond the reader's first 128 KiB (MF4_LAYOUT_GAP=0 for the fuzzer's small seeds).
GAP = int(os.environ.get("MF4_LAYOUT_GAP", 600 * 1024))


class Block:
    def __init__(self, kind, links, data):
        self.kind, self.links, self.data = kind, list(links), bytes(data)


def parse(raw):
    """Every block reachable from HD, by offset. An open last DT (length 24) runs to the end."""
    blocks, stack = {}, [64]
    while stack:
        offset = stack.pop()
        if offset == 0 or offset in blocks:
            continue
        kind = raw[offset:offset + 4]
        length, count = struct.unpack_from("<QQ", raw, offset + 8)
        if kind == b"##DT" and length == 24:
            length = len(raw) - offset
        links = struct.unpack_from("<%dQ" % count, raw, offset + 24)
        data = raw[offset + 24 + 8 * count:offset + length]
        blocks[offset] = Block(kind, links, data)
        stack.extend(link for link in links if link)
    return blocks


def dfs_order(blocks):
    order, seen, stack = [], set(), [64]
    while stack:
        offset = stack.pop()
        if offset == 0 or offset in seen:
            continue
        seen.add(offset)
        order.append(offset)
        stack.extend(reversed([l for l in blocks[offset].links if l]))
    return order


def write(id_block, blocks, head, tail, gap=GAP):
    """HD at 64, then `head` blocks, a gap, then `tail` blocks; links rewritten."""
    placed, position = {}, 64
    for i, offset in enumerate([64] + head + [None] + tail):
        if offset is None:
            position += gap
            continue
        position = (position + 7) // 8 * 8
        placed[offset] = position
        block = blocks[offset]
        position += 24 + 8 * len(block.links) + len(block.data)
    out = bytearray(id_block) + bytearray(position - 64)
    for offset, at in placed.items():
        block = blocks[offset]
        links = [placed[l] if l else 0 for l in block.links]
        struct.pack_into("<4s4xQQ", out, at, block.kind, 24 + 8 * len(links) + len(block.data), len(links))
        struct.pack_into("<%dQ" % len(links), out, at + 24, *links)
        out[at + 24 + 8 * len(links):at + 24 + 8 * len(links) + len(block.data)] = block.data
    return bytes(out)


def id_block(raw, finalized=None, clear_flags=0):
    out = bytearray(raw[:64])
    flags, = struct.unpack_from("<H", out, 60)
    struct.pack_into("<H", out, 60, flags & ~clear_flags)
    if finalized:
        out[0:8] = b"MDF     "
        struct.pack_into("<HH", out, 60, 0, 0)
    return bytes(out)


def channel_groups(blocks, dg):
    out, cg = {}, blocks[dg].links[1]
    while cg:
        out[cg] = blocks[cg]
        cg = blocks[cg].links[0]
    return out


def finalize_counts(blocks, dg):
    """Sets each channel group's cycle count (and a VLSD group's data size) from the records."""
    group = blocks[dg]
    id_size = group.data[0]
    data = blocks[group.links[2]].data
    groups = channel_groups(blocks, dg)
    by_id = {struct.unpack_from("<Q", g.data, 0)[0]: (o, g) for o, g in groups.items()}
    counts, sizes, position = {o: 0 for o in groups}, {o: 0 for o in groups}, 0
    while position + id_size <= len(data):
        record_id = int.from_bytes(data[position:position + id_size], "little")
        offset, g = by_id[record_id]
        position += id_size
        flags, = struct.unpack_from("<H", g.data, 16)
        if flags & 1:
            length, = struct.unpack_from("<I", data, position)
            position += 4 + length
            sizes[offset] += 4 + length
        else:
            data_bytes, inval = struct.unpack_from("<II", g.data, 24)
            position += data_bytes + inval
        counts[offset] += 1
    for offset, g in groups.items():
        d = bytearray(g.data)
        struct.pack_into("<Q", d, 8, counts[offset])
        if struct.unpack_from("<H", d, 16)[0] & 1:
            struct.pack_into("<Q", d, 24, sizes[offset])
        g.data = bytes(d)


def first_dt(blocks):
    return next(o for o, b in blocks.items() if b.kind == b"##DT")


def data_list(blocks, data_blocks, sizes, at):
    """A DL at `at` (a new, unused offset) over `data_blocks`, with their stream offsets."""
    offsets, total = [], 0
    for size in sizes:
        offsets.append(total)
        total += size
    blocks[at] = Block(b"##DL", [0] + data_blocks, struct.pack("<B3xI", 0, len(data_blocks)) + struct.pack(
        "<%dQ" % len(offsets), *offsets))
    return at


def dz(data, transpose_columns=None):
    if transpose_columns:
        rows = len(data) // transpose_columns
        body = bytes(data[r * transpose_columns + c] for c in range(transpose_columns) for r in range(rows))
        body += data[rows * transpose_columns:]
        header = struct.pack("<2sBxIQQ", b"DT", 1, transpose_columns, len(data), 0)
    else:
        body = data
        header = struct.pack("<2sBxIQQ", b"DT", 0, 0, len(data), 0)
    packed = zlib.compress(body)
    return Block(b"##DZ", [], header[:16] + struct.pack("<Q", len(packed)) + packed)


def main(sample, out):
    raw = open(sample, "rb").read()
    unfinished = raw[:8] == b"UnFinMF "
    # The last DT's length is set: the file need no longer end with it.
    ident = id_block(raw, clear_flags=0b100)
    files = {}

    blocks = parse(raw)
    dt = first_dt(blocks)
    rest = [o for o in dfs_order(blocks) if o not in (64, dt)]
    files["unsorted-tail"] = write(ident, blocks, [dt], rest)
    order = [o for o in dfs_order(blocks) if o != 64]
    files["unsorted-alternate"] = write(ident, blocks, order[0::2], order[1::2])

    fin = parse(raw)
    dg = blocks[64].links[0]
    finalize_counts(fin, dg)
    files["finalized-unsorted"] = write(id_block(raw, finalized=True), fin, [first_dt(fin)], rest)

    dl_blocks = parse(raw)
    data = dl_blocks[dt].data
    cuts = [0, 7, 19, 4000, 40000, len(data)]
    parts = []
    for i in range(5):
        at = 10_000_000 + i
        dl_blocks[at] = Block(b"##DT", [], data[cuts[i]:cuts[i + 1]])
        parts.append(at)
    dl_blocks[dg].links[2] = data_list(dl_blocks, parts, [cuts[i + 1] - cuts[i] for i in range(5)], 10_000_100)
    others = [o for o in dfs_order(dl_blocks) if o != 64 and o not in parts]
    files["unsorted-dl"] = write(ident, dl_blocks, list(reversed(parts)), others)

    hl_blocks = parse(raw)
    record = 1 + 16  # record ID and the CAN frame record of the sample's first group
    pieces = [data[0:5000], data[5000:30000], data[30000:]]
    zipped = []
    for i, (piece, columns) in enumerate(zip(pieces, [None, record, None])):
        at = 20_000_000 + i
        hl_blocks[at] = dz(piece, columns)
        zipped.append(at)
    dl = data_list(hl_blocks, zipped, [len(p) for p in pieces], 20_000_100)
    hl_blocks[20_000_200] = Block(b"##HL", [dl], struct.pack("<HB5x", 1, 0))
    hl_blocks[dg].links[2] = 20_000_200
    files["unsorted-hl-dz"] = write(id_block(raw, clear_flags=0b100), hl_blocks, [],
                                    [o for o in dfs_order(hl_blocks) if o != 64])
    # MDF 4.2 for DZ blocks.
    files["unsorted-hl-dz"] = files["unsorted-hl-dz"][:8] + b"4.20    " + files["unsorted-hl-dz"][16:28] + \
        struct.pack("<H", 420) + files["unsorted-hl-dz"][30:]

    import asammdf
    mdf = asammdf.MDF(sample)
    for name, compression in [("sorted", 0), ("sorted-dz-deflate", 1), ("sorted-dz-transposed", 2)]:
        mdf.save(f"{out}/{name}.mf4", overwrite=True, compression=compression)
    saved = open(f"{out}/sorted.mf4", "rb").read()
    sb = parse(saved)
    data_blocks = [o for o in dfs_order(sb) if sb[o].kind in (b"##DT", b"##DL")]
    meta = [o for o in dfs_order(sb) if o != 64 and o not in data_blocks]
    files["sorted-tail"] = write(saved[:64], sb, data_blocks, meta)

    for name, content in files.items():
        open(f"{out}/{name}.mf4", "wb").write(content)
    assert unfinished, "the sample is a CANedge log as the device writes it"


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
